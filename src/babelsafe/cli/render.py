"""What the CLI shows: terminal renderings of the data the API returns (tables fit the console's width)."""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .layout import cell, fit_records, fit_tables


# -- run --------------------------------------------------------------------------------------------
def _pct(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("rate") is None else f"{100 * r['rate']:.1f}"


def _ci(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("rate") is None else f"{100 * r['lo']:.1f}-{100 * r['hi']:.1f}"


def _pct_ci(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("rate") is None else f"{_pct(r)} ({_ci(r)})"


def summary(console: Console, data: dict[str, Any]) -> RenderableType:
    """The per-language results of a run's summary (one unsafe-rate column per target when the run has
    several); columns that are all zero/empty are left out; split and stacked when wider than the console."""
    judge = data.get("primary_judge")
    counts = data.get("counts", {})
    by_lang = data.get("by_language", {})
    per_target = data.get("by_target_language") or {}
    tiers = data.get("tiers", {})
    short = {"reference": "ref", "medium": "med", "unknown": "?"}
    hl = data.get("headline") or {"short": "unsafe", "long": "unsafe"}
    head = hl.get("short", "unsafe")

    def has(key: str, rate: bool = True) -> bool:
        return any(((v.get("rates", {}).get(key) or {}).get("rate") is not None) if rate else v.get(key)
                   for v in by_lang.values())

    cols: list[tuple[str, Callable[[str, dict[str, Any]], str]]] = [
        ("lang", lambda c, v: c),
        ("tier", lambda c, v: short.get(v.get("tier") or tiers.get(c, ""), v.get("tier") or "")),
        ("n", lambda c, v: str(v.get("n", 0))),
    ]
    if len(per_target) > 1:
        for t, tl in per_target.items():
            cols.append((f"{t[:18]} {head}",
                         lambda c, v, tl=tl: _pct_ci((tl.get(c) or {}).get("rates", {}).get("unsafe"))))
    else:
        cols += [(head, lambda c, v: _pct(v["rates"].get("unsafe"))),
                 ("95% CI", lambda c, v: _ci(v["rates"].get("unsafe")))]
    if has("refusal"):
        cols.append(("refuse", lambda c, v: _pct(v["rates"].get("refusal"))))
    cols.append(("invalid", lambda c, v: _pct(v["rates"].get("invalid"))))
    if has("over_refusal"):
        cols.append(("overref", lambda c, v: _pct(v["rates"].get("over_refusal"))))
    for key, name in (("errors", "err"), ("judge_errors", "jerr"), ("content_filter", "filt")):
        if has(key, rate=False):
            cols.append((name, lambda c, v, key=key: str(v.get(key, 0))))
    rows = [[f(code, v) for _, f in cols] for code, v in by_lang.items()]
    caption = (f"{counts.get('total', 0)} generations: {counts.get('completed', 0)} answered, "
               f"{counts.get('errors', 0)} errors, {counts.get('judge_errors', 0)} judge errors, "
               f"{counts.get('content_filter', 0)} content-filtered; errors are outside every rate. "
               + (f"'{head}' = harmful prompts answered, not refused (judge '{judge}' is a refusal judge: "
                  "attack success by the refusal criterion, not a judgement of harm)." if head != "unsafe" else
                  f"Unsafe = harmful prompts judged 'unsafe' by the safety judge '{judge}'."
                  if hl.get("vocabulary", "safety") == "safety" else
                  f"Judge '{judge}' does not judge safety (its own table follows): these rates do not apply."))
    return fit_tables(console, f"babelsafe results · judge {judge or 'none'} · rates in %",
                      [name for name, _ in cols], rows, keys=2, right=set(range(2, len(cols))), caption=caption)


def language_findings(data: dict[str, Any]) -> list[str]:
    """Lines (rich markup) under a run's table: prompts answered in another language (a finding of its own;
    those answers are judged on their content and counted in the rates) and a warning per prompt language
    the judge has no lexicon for."""
    panel = data.get("answer_languages") or {}
    lines = [f"answered in another language: {f}" for f in panel.get("findings") or []]
    unsupported = panel.get("unsupported") or {}
    if unsupported:
        from ..judges.refusal_verdict import cascade_spec

        langs = ", ".join(f"{code} ({n} answers)" for code, n in unsupported.items())
        # the run's benchmark's own rubric when one declares it (MultiJail: harm), else refusal (xstest)
        rubric = next((e["rubric"] for e in data.get("scoring") or [] if e.get("rubric")), None)
        lines.append(f"[bold red]warning:[/] judge '{panel.get('judge')}' has no lexicon for {langs}: those "
                     "answers were judged with English and same-script lexicons only, so their rates may be "
                     f"wrong. Check them with an llm judge: --judge '{cascade_spec(rubric)}' "
                     "(MODEL: the judge model; it escalates every such answer).")
    return lines


def mcq(console: Console, data: dict[str, Any]) -> RenderableType:
    """Multiple-choice accuracy per target and language (Wilson 95% CI), with the contamination delta
    (swapped options - original) when the run has both variants."""
    cont = data.get("contamination") or {}
    rows = []
    for target, t in (data.get("mcq") or {}).items():
        for lang, r in [("all", t["overall"]), *t["by_language"].items()]:
            d = (cont.get(target) or {}).get(lang)
            rows.append([target[:18], lang, str(r["n"]),
                         "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}",
                         f"{100 * r['lo']:.1f}-{100 * r['hi']:.1f}",
                         "-" if r["no_answer_rate"] is None else f"{100 * r['no_answer_rate']:.1f}",
                         "-" if not d or d["delta"] is None else f"{100 * d['delta']:+.1f}"])
    cols = ["target", "lang", "n", "accuracy", "95% CI", "no answer", "swap delta"]
    if not cont:
        cols, rows = cols[:-1], [r[:-1] for r in rows]
    return fit_tables(console, "multiple choice · accuracy in %", cols, rows, keys=2,
                      right=set(range(2, len(cols))),
                      caption="No answer = named no single option (counted as not correct). Swap delta: "
                              "accuracy with wrong options replaced by other answers minus the original; "
                              "near zero or negative suggests memorised items.")


def _pct(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("rate") is None else f"{100 * r['rate']:.1f}"


def _pct_ci(r: dict[str, Any] | None) -> str:
    return "-" if not r or r.get("lo") is None else f"{100 * r['lo']:.0f}-{100 * r['hi']:.0f}"


def helpfulness(console: Console, data: dict[str, Any], tradeoff: dict[str, Any] | None = None
                ) -> RenderableType:
    """Per target and language: helpfulness 1-5 (t 95% CI), exact-match accuracy (Wilson), over-refusal
    and the unsafe rate side by side (the trade-off). `tradeoff`: rows filled from other runs."""
    panel_value = data.get("helpfulness") or {}
    rows, unsafe_names, jerr = [], set(), 0
    many = len(panel_value) > 1
    for target, t in panel_value.items():
        trade = (tradeoff or {}).get(target) or t.get("tradeoff") or {}
        rating = (t.get("rating") or {}).get("by_language") or {}
        for lang, r in trade.items():
            h = r.get("helpfulness") or {}
            jerr += int((rating.get(lang) or {}).get("judge_errors") or 0)
            if r.get("unsafe_name"):
                unsafe_names.add(r["unsafe_name"])
            row = [lang, str(h.get("n") or (r.get("accuracy") or {}).get("n") or 0),
                   "-" if h.get("mean") is None else f"{h['mean']:.2f}",
                   "-" if h.get("lo") is None else f"{h['lo']:.1f}-{h['hi']:.1f}",
                   _pct(r.get("accuracy")), _pct_ci(r.get("accuracy")),
                   _pct(r.get("over_refusal")), _pct(r.get("unsafe"))]
            rows.append(([target[:12]] if many else []) + row)
    unsafe_col = "answered" if unsafe_names == {"answered, not refused"} else "unsafe"
    cols = (["target"] if many else []) + ["lang", "n", "help", "95% CI", "exact", "95% CI", "over-ref",
                                           unsafe_col]
    title = "helpfulness beside safety · help 1-5, rates in %"
    if not many and panel_value:
        title += f" · {next(iter(panel_value))[:24]}"
    caption = ("help: helpfulness rubric mean (1-5, t interval); exact: answer-match accuracy on keyed "
               "questions (Wilson); over-ref: benign prompts refused; "
               + ("answered: harmful prompts answered, not refused (refusal judge)" if unsafe_col == "answered"
                  else "unsafe: harmful prompts judged unsafe")
               + f". '-': the run has no such prompts or judge. Judge errors (excluded): {jerr}.")
    return fit_tables(console, title, cols, rows, keys=2 if many else 1, caption=caption)
def xling(console: Console, data: dict[str, Any]) -> RenderableType:
    """Cross-lingual answer consistency per target and language (Wilson 95% CI), mean chrF and the
    verifiability rate."""
    rows = []
    for target, t in (data.get("xling") or {}).items():
        for lang, r in [("all", t["overall"]), *t["by_language"].items()]:
            c, v = r["consistent"], r["verifiable"]["own"]
            rows.append([target[:18], lang + ("*" if lang == t["pivot"] else ""), str(r["answers"]),
                         "ref" if lang == t["pivot"] else "-" if c["rate"] is None else f"{100 * c['rate']:.1f}",
                         "-" if c["rate"] is None else f"{100 * c['lo']:.0f}-{100 * c['hi']:.0f}",
                         "-" if r["chrf"]["mean"] is None else f"{r['chrf']['mean']:.1f}",
                         "-" if v["rate"] is None else f"{100 * v['rate']:.1f}",
                         f"{r['errors']}/{r['judge_errors']}"])
    cols = ["target", "lang", "n", "consistent", "95% CI", "chrF", "verifiable", "err/jerr"]
    return fit_tables(console, "cross-lingual answer consistency in %", cols, rows, keys=2,
                      right=set(range(2, len(cols))),
                      caption="* pivot language (the reference answers). err: generation errors incl. "
                              "missing language versions; jerr: judge errors (neither is in a rate).")


def plan_line(p: dict[str, Any]) -> str:
    return (f"{p['samples']} samples x {len(p['chains'])} chains x {len(p['targets'])} targets = "
            f"{p['requests']} requests; ~{p['est_prompt_tokens']} prompt tokens, "
            f"<= {p['max_completion_tokens']} completion tokens")


# -- compare ----------------------------------------------------------------------------------------
def comparison(console: Console, result: dict[str, Any]) -> RenderableType:
    """Per-language paired comparison: A and B headline rates ('answered, not refused' with a refusal judge,
    'unsafe' with a safety judge), B-A with its interval, McNemar p; a warning first when the two runs'
    judge measured different things."""
    headers = ["lang", "pairs", "A", "B", "B-A", "95% CI", "A only", "B only", "McNemar p"]
    rows = []
    for lang, r in list(result["by_language"].items()) + [("all", result["overall"])]:
        d = r["diff"]
        pa, pb = r["rate_a"]["rate"], r["rate_b"]["rate"]
        rows.append([lang, str(r["pairs"]), "-" if pa is None else f"{100 * pa:.1f}",
                     "-" if pb is None else f"{100 * pb:.1f}",
                     "-" if d["diff"] is None else f"{100 * d['diff']:+.1f}",
                     "-" if d["diff"] is None else f"{100 * d['lo']:+.1f}..{100 * d['hi']:+.1f}",
                     str(r["a_only"]), str(r["b_only"]), f"{r['mcnemar_p']:.3g}"])
    judge = result["judge"]
    m = result.get("measure") or {"name": "unsafe", "vocabulary": "safety"}  # a comparison saved before 'measure'
    if m.get("mixed"):
        what = f"A: {m['a']}, B: {m['b']} (different measures: see the warning)"
    elif m["vocabulary"] == "refusal":
        what = (f"'{m['name']}' = harmful prompts answered, not refused (judge '{judge}' is a refusal judge: "
                f"attack success by the refusal criterion, not a judgement of harm)")
    else:
        what = f"'unsafe' = harmful prompts judged unsafe by the safety judge '{judge}'"
    caption = (f"Rates in %: {what}; B-A in points with Newcombe's paired 95% interval; exact McNemar p. "
               f"Pairs on {','.join(result.get('pair_on') or ['sample', 'language', 'transform'])}, targets: "
               f"{result['pairing']}; unpaired A {result['unpaired_a']}, B {result['unpaired_b']}; "
               f"pairs with an error or judge error left out: {result['excluded_pairs']}.")
    title = (f"{'mixed measures' if m.get('mixed') else m['name']} · A = {result['run_a']}  vs  "
             f"B = {result['run_b']}  (judge {judge})")
    table = fit_tables(console, title, headers, rows, caption=caption, rules={len(rows) - 2})
    if m.get("warning"):
        return Group(Text.from_markup(f"[bold red]warning:[/] {escape(m['warning'])}"), table)
    return table


# -- calibrate --------------------------------------------------------------------------------------
def _fmt(x: Any) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:.2f}"


def _fmt_ci(m: dict[str, Any], key: str) -> str:
    ci = m.get(f"{key}_ci")
    base = _fmt(m.get(key))
    return f"{base} [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else base


_SHORT = {"full_compliance": "comply", "full_refusal": "refuse", "partial_refusal": "partial"}


def calibration(console: Console, result: dict[str, Any]) -> RenderableType:
    """One row per group (--by; language by default) plus overall: n, accuracy and kappa with 95% CIs,
    F1 per class, errors."""
    labels = result.get("labels") or []
    by = result.get("by", "language")
    title = f"Judge '{result.get('judge')}' vs {result.get('labels_file') or 'labels'} ({result.get('vocabulary')})"
    has_ece = "ece" in result["overall"]
    headers = ["lang" if by == "language" else by, "n", "acc [95% CI]", "bin acc", *(["ECE"] if has_ece else []),
               "kappa [95% CI]", *(f"F1 {_SHORT.get(lab, lab)}" for lab in labels), "errors"]
    rows = []

    def row(name: str, m: dict[str, Any]) -> list[str]:
        f1s = [(_fmt(m["per_class"][lab]["f1"]) if m["per_class"].get(lab, {}).get("support") else "-")
               for lab in labels]
        ece = [_fmt3(m.get("ece"))] if has_ece else []
        return [name, str(m["n"]), _fmt_ci(m, "accuracy"), _fmt(m["binary_accuracy"]), *ece, _fmt_ci(m, "kappa"),
                *f1s, str(m.get("n_judge_error", 0))]

    groups = result.get("groups") or result.get("by_language", {})
    for key, m in groups.items():
        rows.append(row(key, m))
    rows.append(row("overall", result["overall"]))
    notes = []
    if has_ece:
        cal = result.get("confidence_calibration") or {}
        notes.append(f"ECE: expected calibration error of the verdicts' confidence (10 equal-width bins; right = "
                     f"the label matches); all rows: mean confidence {_fmt3(cal.get('confidence'))} for accuracy "
                     f"{_fmt3(cal.get('accuracy'))}, Brier {_fmt3(cal.get('brier'))}.")
    if any(m.get("kappa") is None and m.get("n_judged") for m in [*groups.values(), result["overall"]]):
        notes.append("kappa '-': the group's gold labels are all one class (kappa says nothing there).")
    caption = "\n".join(notes) or None
    return fit_tables(console, title, headers, rows, caption=caption, rules={len(rows) - 2})


def _fmt_threshold(t: float) -> str:
    """0.8 -> '0.80', 0.9312 -> '0.9312' (data-driven thresholds keep their digits)."""
    text = f"{t:.4f}".rstrip("0")
    return text + "0" * max(0, 4 - len(text))


ESCALATE_ON = ("label", "refused")
_CURVE = {"label": "escalation", "refused": "escalation_refused"}


def escalation(console: Console, result: dict[str, Any], on: str = "label") -> RenderableType:
    """Accuracy against the share of answers a cascade would escalate, per confidence threshold; for a
    cascade's own run, also the cascade's accuracy measured at each threshold up to its `below`.
    `on`: the thresholds are on the label's confidence ('label') or on refused-vs-not's ('refused')."""
    points = result.get(_CURVE[on]) or []
    cascade = result.get("cascade")
    headers = ["below", "escalated", "acc of kept", "label acc", "acc if escalations right"]
    if cascade:
        headers.insert(4, "cascade acc")
    rows = []
    for p in points:
        r = [_fmt_threshold(p["threshold"]), f"{100 * p['escalated']:.1f}%", _fmt3(p["kept_accuracy"]),
             _fmt3(p.get("kept_label_accuracy")), _fmt3(p["accuracy_if_escalations_right"])]
        if cascade:
            r.insert(4, _fmt3(p.get("cascade_accuracy")))
        rows.append(r)
    if on == "label":
        title = ("cascade: answers below the confidence threshold go to the expensive judge (binary accuracy; "
                 "'label acc': of the kept verdicts' exact labels, what the confidence is calibrated for)")
    else:
        title = ("cascade on=refused: answers whose confidence in refused-or-not is below the threshold go to "
                 "the expensive judge (binary accuracy, what that confidence is calibrated for; 'label acc': "
                 "of the kept verdicts' exact labels)")
    table = fit_tables(console, title, headers, rows, right=set(range(len(headers))))
    if not cascade:
        return table
    if cascade.get("on", "label") != on:
        note = Text(f"'cascade acc' '-': this cascade escalated on={cascade.get('on', 'label')}, so these "
                    "thresholds are not the escalations it made (--escalate-on "
                    f"{cascade.get('on', 'label')} shows its own).")
    else:
        note = Text(f"'cascade acc' is measured up to the cascade's below={cascade['below']}; '-' above it (those "
                    "answers were not escalated: calibrate once with below=1.0 to measure every threshold).")
    return Group(table, note)


def escalation_ways(console: Console, result: dict[str, Any]) -> RenderableType | None:
    """Both ways to threshold (a cascade's on=label / on=refused) at the same shares escalated: which keeps
    the more accurate verdicts for the same cost. None when the verdicts carry no binary confidence."""
    points = result.get("escalation_compare") or []
    if not points:
        return None
    headers = ["share", "on", "below", "escalated", "acc of kept", "label acc"]
    rows = [[f"{100 * p['share']:.0f}%", p["on"], _fmt_threshold(p["threshold"]), f"{100 * p['escalated']:.1f}%",
             _fmt3(p["kept_accuracy"]), _fmt3(p.get("kept_label_accuracy"))] for p in points]
    title = ("the same share escalated, two ways: on=label (the label's confidence) or on=refused (refused "
             "or not; a confident refusal unsure if full or partial stays); binary accuracy of the kept")
    return fit_tables(console, title, headers, rows, right={0, 2, 3, 4, 5},
                      rules={i for i in range(1, len(rows) - 1, 2)})


def escalation_curve(result: dict[str, Any], width: int = 48, height: int = 8, on: str = "label") -> list[str]:
    """The escalation table as a text curve: binary accuracy (y) against the share escalated (x); '*' the
    bound if escalations are right (or the measured cascade accuracy, 'o', where there is one)."""
    pts = []
    for p in result.get(_CURVE[on]) or []:
        y = p.get("cascade_accuracy")
        mark = "o"
        if y is None:
            y, mark = p.get("accuracy_if_escalations_right"), "*"
        if y is not None:
            pts.append((p["escalated"], y, mark))
    if len(pts) < 2:
        return []
    lo = min(y for _, y, _ in pts)
    hi = max(y for _, y, _ in pts)
    if hi - lo < 0.01:
        lo = max(0.0, hi - 0.01)
    grid = [[" "] * (width + 1) for _ in range(height + 1)]
    for x, y, mark in pts:
        col = round(x * width)
        row = height - round((y - lo) / (hi - lo) * height)
        if grid[row][col] != "o":
            grid[row][col] = mark
    lines = ["bin acc against share escalated" + (" (o measured, * if escalations right)"
                                                  if any(m == "o" for *_, m in pts) else " (if escalations right)")
             + ("" if on == "label" else ", on=refused")]
    for i, cells in enumerate(grid):
        label = f"{hi - (hi - lo) * i / height:.3f}" if i in (0, height // 2, height) else ""
        lines.append(f"{label:>6} |" + "".join(cells).rstrip())
    lines.append("       +" + "-" * (width + 1))
    axis = [" "] * (width + 8)
    for frac, text in ((0.0, "0%"), (0.5, "50%"), (1.0, "100%")):
        at = 8 + round(frac * width) - (len(text) // 2 if frac else 0)
        at = min(at, len(axis) - len(text))
        axis[at:at + len(text)] = list(text)
    lines.append("".join(axis).rstrip() + "  escalated")
    return lines


def cascade_line(result: dict[str, Any]) -> str | None:
    """'cascade: 185 of 900 answers (20.6%) escalated ...' for a cascade's calibration."""
    c = result.get("cascade")
    if not c:
        return None
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(c.get("reasons", {}).items()))
    decided = ", ".join(f"{k} {v}" for k, v in sorted(c.get("decided_by", {}).items()))
    calls = result.get("model_calls") or {}
    sent = f"; {calls['sent']} model calls sent" if "sent" in calls else ""
    cached = f" (cache {calls['cache']})" if calls.get("cache") else ""
    on = f" (on={c['on']})" if c.get("on", "label") != "label" else ""
    return (f"cascade{on}: {c['escalated']} of {c['n']} answers ({100 * (c['share_escalated'] or 0):.1f}%) escalated"
            f"{' (' + reasons + ')' if reasons else ''}; decided by {decided}; {c['escalation_errors']} "
            f"escalation errors{sent}{cached}.")


def answer_languages(result: dict[str, Any]) -> list[str]:
    """'zh prompts answered in en: 40%' lines, for prompts often answered in another language."""
    lines = []
    for lang, share in (result.get("answer_languages") or {}).items():
        other = {a: s for a, s in share.items() if a not in (lang, "und", "unknown") and s >= 0.05}
        if other:
            lines.append(f"{lang} prompts answered in " + ", ".join(f"{a}: {100 * s:.0f}%" for a, s in other.items()))
    return lines


def mistakes(console: Console, result: dict[str, Any], n: int) -> RenderableType:
    """The n worst mistakes (the most confident wrong verdicts first), one record each."""
    by = result.get("by", "language")
    records = []
    for m in result.get("mistakes", [])[:n]:
        text = " ".join(str(m["response"]).split())
        shown = text[:160] + ("..." if len(text) > 160 else "") + (f" (id {m['id']})" if m.get("id") else "")
        # model output is text, not markup: '[PID]' or '[/INST]' must print as written
        rec = {"gold>judge": f"{_SHORT.get(m['gold'], m['gold'])}>{_SHORT.get(m['pred'], m['pred'])}",
               "conf": _fmt(m.get("confidence")), by: escape(str(m.get(by) or m["language"])),
               "response": escape(shown)}
        if m.get("decided_by"):  # a cascade: which judge's verdict it is
            rec["conf"] += f" {m['decided_by']}"
        records.append(rec)
    return fit_records(console, f"{n} worst mistakes (most confident first)", records, ["conf", by, "response"],
                       key="gold>judge", right={"conf"})


def _fmt3(x: Any) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


def confusion(console: Console, result: dict[str, Any]) -> RenderableType:
    """The overall confusion matrix (rows: gold labels, columns: the judge's)."""
    conf = result["overall"]["confusion"]
    cols = list(result.get("labels") or [])
    for r in conf.values():
        cols.extend(p for p in r if p not in cols)
    rows = [[g, *(str(conf[g].get(c, 0)) for c in cols)] for g in cols if g in conf]
    return fit_tables(console, "confusion (rows: gold, columns: judge)", ["gold \\ judge", *cols], rows)


# -- defend -----------------------------------------------------------------------------------------
def scan(console: Console, res: Any) -> RenderableType:
    """Flagged examples by language, plus the assistant refusal share."""
    headers = ["language", "examples", "flagged", "flagged %", "assistant refusal %"]
    rows = []
    for lang, n in sorted(res.languages.items()):
        f = res.flagged_languages[lang]
        a = res.assistant_turns[lang]
        rows.append([lang, str(n), str(f), f"{100 * f / n:.1f}", f"{100 * res.refusals[lang] / a:.1f}" if a else "-"])
    rows.append(["all", str(res.examples), str(len(res.flagged)), f"{100 * res.flagged_share:.1f}",
                 f"{100 * sum(res.refusals.values()) / max(1, sum(res.assistant_turns.values())):.1f}"])
    caption = None
    if res.kinds:
        caption = ("flags: " + ", ".join(f"{k} {v}" for k, v in res.kinds.most_common())
                   + "; categories: " + ", ".join(f"{k} {v}" for k, v in res.categories.most_common(8)))
    title = f"defend scan: {res.path.name} ({res.examples} examples, judge {res.judge})"
    return fit_tables(console, title, headers, rows, caption=caption, rules={len(rows) - 2})


def balance(console: Console, examples: list[Any], title: str = "training examples by language and category"
            ) -> RenderableType:
    """One row per (language, category): refusal and helpful examples and their share."""
    from ..defense.export import HELPFUL, REFUSAL

    counts: Counter = Counter((e.candidate.language, e.candidate.category or "-", e.candidate.kind)
                              for e in examples)
    total = max(1, len(examples))
    rows = []
    for lang, cat in sorted({(lang, cat) for lang, cat, _ in counts}):
        r, h = counts[(lang, cat, REFUSAL)], counts[(lang, cat, HELPFUL)]
        rows.append([lang, cat, str(r), str(h), str(r + h), f"{100 * (r + h) / total:.1f}%"])
    n_r = sum(v for k, v in counts.items() if k[2] == REFUSAL)
    rows.append(["all", "", str(n_r), str(len(examples) - n_r), str(len(examples)), "100%" if examples else "-"])
    return fit_tables(console, title, ["language", "category", "refusals", "helpful", "total", "share"], rows,
                      keys=2, rules={len(rows) - 2})


# -- list / show ------------------------------------------------------------------------------------
COMPACT = {"language": ["name", "script", "family", "tier"],
           None: ["languages", "size", "license"]}
VERBOSE = {"language": ["name", "iso3", "script", "family", "tier"],
           None: ["languages", "size", "license", "description", "labels", "source", "citation"]}


def _languages(value: Any, verbose: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return cell(value, None if verbose else 8)


def components(console: Console, kind: str, rows: list[dict[str, Any]], verbose: bool = False) -> RenderableType:
    """A listing of components: compact (name, languages, size, license) or, verbose, with description,
    labels, source and citation. Wide listings are stacked one component below another."""
    fields = (VERBOSE if verbose else COMPACT).get(kind) or (VERBOSE if verbose else COMPACT)[None]
    fields = [f for f in fields if any(r.get(f) for r in rows)]
    key = "code" if kind == "language" else "name"
    records = []
    for r in rows:
        rec = {key: str(r.get(key, ""))}
        for f in fields:
            v = r.get(f)
            rec[f] = _languages(v, verbose) if f == "languages" else cell(v, None if verbose else 10)
        records.append(rec)
    title = f"{kind}s ({len(rows)})" + ("" if verbose else "  · more: --verbose, or babelsafe show "
                                                           f"{kind} NAME")
    return fit_records(console, title, records, fields, key=key, right={"size"})


def component(console: Console, kind: str, info: dict[str, Any]) -> RenderableType:
    """Everything about one component, stacked: metadata, description, options with defaults."""
    parts: list[RenderableType] = [Text(f"{kind} {info.get('code') or info.get('name')}", style="bold")]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="cyan")
    grid.add_column(overflow="fold")
    for key in ("name" if kind == "language" else "", "languages", "size", "license", "source", "citation",
                "labels", "categories", "tags", "iso3", "script", "family", "tier", "implementation",
                "accelerator"):
        v = info.get(key) if key else None
        if v:
            grid.add_row(key, cell(v))
    parts.append(grid)
    if info.get("description"):
        parts += [Text(""), Text(info["description"])]
    opts = info.get("options")
    if opts is not None:
        parts.append(Text(""))
        if not opts:
            parts.append(Text("options: (none)"))
        else:
            t = Table.grid(padding=(0, 2))
            t.add_column(no_wrap=True, style="cyan")
            t.add_column(overflow="fold")
            t.add_column(overflow="fold")
            t.add_row("option", "default", "type", style="bold")
            for o in opts:
                t.add_row(o["name"], repr(o["default"]) if "default" in o else "(required)", o.get("type", ""))
            parts.append(t)
    return Group(*parts)


# -- generate ---------------------------------------------------------------------------------------
def coverage(console: Console, cov: dict[str, Any]) -> RenderableType:
    """Cells filled per category (x style x technique) and language, with totals."""
    langs = list(cov.get("by_language", {}))
    rows = []
    for cat, per in cov.get("by_category_language", {}).items():
        tot = cov["by_category"][cat]
        rows.append([cat] + [f"{per[l]['filled']}/{per[l]['total']}" for l in langs]
                    + [f"{tot['filled']}/{tot['total']}"])
    rows.append(["all"] + [f"{cov['by_language'][l]['filled']}/{cov['by_language'][l]['total']}" for l in langs]
                + [f"{cov['filled']}/{cov['total']}"])
    n = cov.get("cells_per_category_language", 0)
    title = (f"coverage: {cov['filled']}/{cov['total']} cells filled, {cov['tests']} tests "
             f"({n} style x technique cells per category and language)")
    # the title on its own line: as a table title it would wrap to the (narrow) table's width
    return Group(Text(title), fit_tables(console, None, ["category"] + langs + ["all"], rows, keys=1,
                                         rules={len(rows) - 2}))
