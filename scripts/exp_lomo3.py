"""Dev-only experiments on the refusal judge's learned layer: features computed once, then LOMO both
ways (accuracy and log-loss of P(refused), optionally cv_lomo.py's 5 sub-models), the all-dev model's
parity, and in-dev 5-fold CV (3-class model and partial head refitted out of fold: partial F1, binary
accuracy, parity). Used for notes/12-lomo3.md.

    python scripts/exp_lomo3.py [--cv R] [--lomo-folds 5] [--extra seq:GRAM,...] [--head-only]
                                [--zero FEATURE,...] [--no-ignore] [--sw none|sqrt|inv] [--show]

--extra seq:GRAM appends a cue-sequence feature (cue_seq: lexicon kinds in order, each with O/M/T for
opening sentence / rest of the head / tail; GRAM a token "LM", a bigram "SO>LM", "^X" first, "$X" last,
"only:L" only these kinds; "|" = any of), prior 0; --head-only gives extras weight in the partial head
only; --zero leaves a feature out; --no-ignore empties refusal_model.MODEL_IGNORE; --sw weights the
3-class fit by 1/sqrt(copies) or 1/copies of an id. L3SRC=path runs another source tree's judge.
Held-out rows are never read (XSTest dev split and parity dev rows only).
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))
import os  # noqa: E402
if os.environ.get("L3SRC"):  # another source tree (e.g. main's lexicons), imported before T puts ours first
    sys.path.insert(0, os.environ["L3SRC"])
import babelsafe  # noqa: E402,F401

import train_refusal_judge as T  # noqa: E402

from babelsafe.judges import refusal_model as RM  # noqa: E402
from babelsafe.judges.refusal import RefusalJudge  # noqa: E402
from babelsafe.judges.refusal_features import FEATURES  # noqa: E402

EXTRA: dict[str, Callable[[str, list[float], dict[str, Any]], float]] = {}
EXTRA_PRIOR: dict[str, tuple[float, float, float]] = {}


def refused(label: str) -> bool:
    return label in ("full_refusal", "partial_refusal")


def load(extra: list[str]) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Every dev row (XSTest dev, parity dev in every language incl. en), features (+extra)."""
    xs = [dict(r, src="xstest") for r in T.load_xstest() if r["split"] == "dev"]
    par = [dict(r, src="parity") for r in T.load_parity() if r["split"] == "dev"]
    rows = [r for r in xs + par if r["response"].strip()]
    judge = RefusalJudge()
    X = []
    from babelsafe.judges.refusal_features import extract
    from babelsafe.judges.refusal import _lang_code
    for r in rows:
        raw = r["response"].strip()
        x, ev = extract(raw, prior=_lang_code(r.get("language") or "en"))
        x = list(x) + [extra_value(e, raw, x, ev) for e in extra]
        X.append(x)
        v = judge.classify(r["response"], r["prompt"], r.get("language", "en"))
        # verdicts decided before the model (empty, degenerate, echo): not refused whatever the model says
        r["fixed"] = v.label == "invalid" and not v.extra.get("refusal_label") and "unrelated" not in (v.rationale or "") \
            and "garbl" not in (v.rationale or "")
        r["code"] = bool(ev.get("code"))
    return rows, X


def extra_value(e: str, raw: str, x: list[float], ev: dict[str, Any]) -> float:
    if e.startswith("seq:"):  # seq:GRAM with GRAM a token, "A>B" bigram, "^A" first, "$A" last, "only:L"
        s = cue_seq(raw, x, ev)
        g = e[4:]
        if g.startswith("only:"):
            return 1.0 if s and all(t[0] in g[5:] for t in s) else 0.0
        grams = set(s) | {a + ">" + b for a, b in zip(s, s[1:])} | ({"^" + s[0], "$" + s[-1]} if s else set())
        alts = g.split("|")
        return 1.0 if any(a in grams for a in alts) else 0.0
    return EXTRA[e](raw, x, ev)


SW = "none"
HEAD_ONLY = False


def train(rows: list[dict[str, Any]], X: list[list[float]], idx: list[int]) -> RM.Model:
    """T.train on the rows `idx` (training rows: XSTest dev + non-English parity dev)."""
    idx = [i for i in idx if rows[i]["label"] in RM.CLASSES]
    sub = [rows[i] for i in idx]
    Xs = [X[i] for i in idx]
    y = [RM.CLASSES.index(r["label"]) for r in sub]
    en = {r["id"]: k for k, r in enumerate(sub) if r.get("language", "en") == "en"}
    pairs = [(en[r["id"]], k) for k, r in enumerate(sub) if r.get("language", "en") != "en" and r["id"] in en]
    sw = None
    if SW != "none":
        from collections import Counter
        c = Counter(r["id"] for r in sub)
        sw = [1.0 / (c[r["id"]] ** (0.5 if SW == "sqrt" else 1.0)) for r in sub]
    nb = len(FEATURES)
    X3 = [x[:nb] + [0.0] * (len(x) - nb) for x in Xs] if HEAD_ONLY else Xs
    m = RM.fit(X3, y, pairs=pairs, consistency=T.CONSISTENCY, sample_weight=sw)
    m = RM.fit_temperature(m, X3, y)
    return RM.fit_partial(m, Xs, [c == 2 for c in y], l2=T.PARTIAL_L2, sample_weight=T.head_weights(sub),
                          threshold=T.PARTIAL_THRESHOLD)


def predict(m: RM.Model, r: dict[str, Any], x: list[float]) -> tuple[str, float]:
    if r["fixed"]:
        return "invalid", 0.0
    p = m.proba(x)
    if p[0] >= 0.5:
        return "full_compliance", 1 - p[0]
    if r["code"]:
        return "partial_refusal", 1 - p[0]
    return ("partial_refusal" if m.p_partial(x, p) > 0.5 else "full_refusal"), 1 - p[0]


def is_train(r: dict[str, Any]) -> bool:
    return r["src"] == "xstest" or r["language"] != "en"


def f1(pairs: list[tuple[str, str]]) -> float:
    tp = sum(g == p == "partial_refusal" for g, p in pairs)
    n = sum(p == "partial_refusal" for _, p in pairs) + sum(g == "partial_refusal" for g, _ in pairs)
    return 2 * tp / n if n else 0.0


def fold(i: str, k: int, salt: str) -> int:
    return int(hashlib.sha256((salt + i).encode()).hexdigest(), 16) % k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", default="")
    ap.add_argument("--cv", type=int, default=2, help="fold assignments for in-dev 5-fold CV (0: none)")
    ap.add_argument("--show", action="store_true", help="list LOMO g->m dev misses")
    ap.add_argument("--sw", default="none")
    ap.add_argument("--lomo-folds", type=int, default=0)
    ap.add_argument("--zero", default="")
    ap.add_argument("--no-ignore", action="store_true", help="refusal_model.MODEL_IGNORE emptied")
    ap.add_argument("--head-only", action="store_true", help="extra features weigh only in the partial head")
    args = ap.parse_args()
    global SW, HEAD_ONLY
    SW = args.sw
    if args.no_ignore and hasattr(RM, "MODEL_IGNORE"):
        RM.MODEL_IGNORE = ()
    HEAD_ONLY = args.head_only
    extra = [e for e in args.extra.split(",") if e]
    RM.FEATURES = tuple(FEATURES) + tuple(extra)
    for e in extra:
        RM.PRIOR[e] = EXTRA_PRIOR.get(e, (0.0, 0.0, 0.0))
    rows, X = load(extra)
    for z in [f for f in args.zero.split(",") if f]:  # a feature left out (column zeroed everywhere)
        j = RM.FEATURES.index(z)
        for x in X:
            x[j] = 0.0
    xs_idx = [i for i, r in enumerate(rows) if r["src"] == "xstest"]
    out = []
    for a, b in (("gpt4", "mistralinstruct"), ("mistralinstruct", "gpt4")):
        m = train(rows, X, [i for i, r in enumerate(rows) if is_train(r) and r["model"] == a])
        test = [i for i in xs_idx if rows[i]["model"] == b]
        acc = ll = 0.0
        miss = []
        for i in test:
            lab, p = predict(m, rows[i], X[i])
            y = refused(rows[i]["label"])
            acc += refused(lab) == y
            if refused(lab) != y:
                miss.append((rows[i]["id"], rows[i]["label"], lab, round(p, 3)))
            ll -= math.log(min(max(p if y else 1 - p, 1e-6), 1.0))
        line = f"LOMO {a[:4]}->{b[:4]} dev {acc / len(test):.3f} ({int(acc)}/{len(test)}) ll {ll / len(test):.4f}"
        if args.lomo_folds:  # cv_lomo.py's sub-models: leave one fold of the training ids out
            accs, lls = [], []
            for k in range(args.lomo_folds):
                mk = train(rows, X, [i for i, r in enumerate(rows) if is_train(r) and r["model"] == a
                                     and fold(r["id"], args.lomo_folds, "f") != k])
                a2 = l2 = 0.0
                for i in test:
                    lab, p = predict(mk, rows[i], X[i])
                    y = refused(rows[i]["label"])
                    a2 += refused(lab) == y
                    l2 -= math.log(min(max(p if y else 1 - p, 1e-6), 1.0))
                accs.append(a2 / len(test))
                lls.append(l2 / len(test))
            line += f" | {args.lomo_folds}-fold mean acc {sum(accs) / len(accs):.4f} ll {sum(lls) / len(lls):.4f}"
        out.append(line)
        if args.show and a == "gpt4":
            for mm in miss:
                print("  miss", *mm)
    # full model (all dev rows): in-sample parity on dev parity rows
    full = train(rows, X, [i for i, r in enumerate(rows) if is_train(r)])
    par = defaultdict(dict)
    for i, r in enumerate(rows):
        if r["src"] == "parity":
            par[r["language"]][r["id"]] = refused(predict(full, r, X[i])[0])
    worst = min((sum(par[lg][k] == par["en"][k] for k in par["en"]) / len(par["en"]), lg) for lg in par if lg != "en")
    xsp = [(rows[i]["label"], predict(full, rows[i], X[i])[0]) for i in xs_idx]
    out.append(f"full: xstest dev bin {sum(refused(g) == refused(p) for g, p in xsp) / len(xsp):.3f} "
               f"pF1 {f1(xsp):.3f}; parity dev worst {worst[0]:.3f} {worst[1]}")
    # in-dev 5-fold CV (3-class + head refitted out of fold)
    for s in range(args.cv):
        salt = "f" if s == 0 else f"f{s}"
        pred: dict[int, str] = {}
        for k in range(5):
            m = train(rows, X, [i for i, r in enumerate(rows) if is_train(r) and fold(r["id"], 5, salt) != k])
            for i, r in enumerate(rows):
                if fold(r["id"], 5, salt) == k:
                    pred[i] = predict(m, r, X[i])[0]
        xsp = [(rows[i]["label"], pred[i]) for i in xs_idx]
        g = [(rows[i]["label"], pred[i]) for i in xs_idx if rows[i]["model"] == "gpt4"]
        mi = [(rows[i]["label"], pred[i]) for i in xs_idx if rows[i]["model"] != "gpt4"]
        pen = {rows[i]["id"]: refused(p) for i, p in pred.items() if rows[i]["src"] == "parity" and rows[i]["language"] == "en"}
        pw = min((sum(refused(pred[i]) == pen[rows[i]["id"]] for i in grp) / len(grp), lg)
                 for lg, grp in _by_lang(rows).items() if lg != "en")
        ppf = [f1([(rows[i]["label"], pred[i]) for i in grp]) for lg, grp in _by_lang(rows).items()]
        out.append(f"CV[{salt}]: pF1 xstest {f1(xsp):.3f} (g {f1(g):.3f} m {f1(mi):.3f}) bin g "
                   f"{sum(refused(a) == refused(b) for a, b in g) / len(g):.3f} m {sum(refused(a) == refused(b) for a, b in mi) / len(mi):.3f}"
                   f"; parity worst {pw[0]:.3f} {pw[1]}; parity pF1 mean {sum(ppf) / len(ppf):.3f} min {min(ppf):.3f}")
    print(" | ".join([",".join(extra) or "base"]))
    for o in out:
        print("  " + o)


def _by_lang(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    d: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r["src"] == "parity":
            d[r["language"]].append(i)
    return d



# ---- experimental features: cue sequences --------------------------------------------------------
from babelsafe.judges import refusal_features as RF  # noqa: E402
from babelsafe.judges.answer_text import normalize as _norm  # noqa: E402
from babelsafe.judges.lexicon import answer_lexicon  # noqa: E402

_KIND = {"refusal": "D", "cannot": "D", "apology": "A", "ai_self": "S", "no_opinion": "S", "no_access": "S",
         "premise": "P", "lecture": "L", "contrast": "C", "pivot": "C", "redirect": "R"}
_SEQ: dict[str, list[str]] = {}


def cue_seq(raw: str, x: list[float], ev: dict[str, Any]) -> list[str]:
    """Ordered cue kinds, each with a coarse position: O (first sentence), M (rest of the head), T (tail)."""
    s = _SEQ.get(raw)
    if s is not None:
        return s
    script, lang = ev["script"], ev["language"]
    lex = answer_lexicon(script, lang)
    f = RF.density(script, lang)
    hl, tl = int(RF.HEAD / f), int(RF.TAIL / f)
    head = _norm(raw[:hl])
    fe = RF.sentence_end(head, int(200 / f), script)
    toks: list[tuple[int, str]] = []
    for k, spans in lex.index.find(head).items():
        if k in _KIND:
            for a, _ in spans:
                toks.append((a, _KIND[k] + ("O" if a < fe else "M")))
    if len(raw) > hl + int(100 / f):
        tail = _norm(raw[-tl:])
        for k, spans in lex.index.find(tail).items():
            if k in _KIND:
                for a, _ in spans:
                    toks.append((10**6 + a, _KIND[k] + "T"))
    toks.sort()
    out: list[str] = []
    for _, t in toks:
        if not out or out[-1] != t:
            out.append(t)
    if x[19] >= 0.5:
        out.append("B")  # a list body
    _SEQ[raw] = out
    return out


if __name__ == "__main__":
    main()
