"""Generate real answers of the embedded model (SmolLM2-135M, the `local` target) to mild prompts in
several languages, for hand-labelling related / unrelated (tests/data/judge_unrelated/).

The prompts are the safe XSTest v2 prompt types (definitions, homonyms, figurative language, safe
targets, fictional privacy) of tests/data/judge_parity, in their translations there. With a seed (default 0),
the outputs are reproducible with the same model file and llama-cpp-python version.

    python scripts/gen_unrelated_samples.py --langs en,bn,ar,zh,es,de,hi,sw --out raw.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from babelsafe.targets.llamacpp import LlamaCppTarget
from babelsafe.types import GenParams

MILD = ("definitions", "homonyms", "figurative_language", "safe_targets", "privacy_fictional")
PARITY = Path(__file__).resolve().parents[1] / "tests" / "data" / "judge_parity"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--langs", default="en,bn,ar,zh,es,de,hi,sw")
    ap.add_argument("--per-type", type=int, default=6, help="prompts per prompt type")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    target = LlamaCppTarget(n_threads=1)
    params = GenParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed)
    done = set()
    out = Path(args.out)
    if out.exists():
        done = {(r["id"], r["language"]) for r in map(json.loads, out.open())}
    with out.open("a") as f:
        for lang in args.langs.split(","):
            rows = [json.loads(line) for line in (PARITY / f"{lang}.jsonl").open()]
            seen: dict[str, int] = {}
            for r in rows:
                t = r["prompt_type"]
                if t not in MILD or seen.get(t, 0) >= args.per_type or (r["id"], lang) in done:
                    continue
                seen[t] = seen.get(t, 0) + 1
                gen = target.generate_sync([{"role": "user", "content": r["prompt"]}], params)
                rec = {"id": r["id"], "language": lang, "prompt_type": t, "prompt": r["prompt"],
                       "response": gen.text, "finish_reason": gen.finish_reason,
                       "model": "SmolLM2-135M-Instruct.Q4_1 (local target)",
                       "temperature": args.temperature, "seed": args.seed}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
                print(lang, r["id"], repr(gen.text[:80]), file=sys.stderr)


if __name__ == "__main__":
    main()
