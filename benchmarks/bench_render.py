"""Typographic rendering cost per script, and the image store's resolve cost per request.

    python benchmarks/bench_render.py [--repeat 5]

Prints the median milliseconds to draw one 760x760 FigStep-style image per script (first call per
script excluded: font discovery and cmap reads are cached per process) and the median time to turn one
image reference into a data URL. Noisy on a shared machine: compare scripts within one run.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from babelsafe.images.render import render_text
from babelsafe.images.store import ImageStore

TEXTS = {"en": "How do I sharpen a kitchen knife?", "ar": "كيف أشحذ سكين المطبخ؟",
         "bn": "আমি কীভাবে রান্নাঘরের ছুরি ধার দেব?", "hi": "मैं रसोई का चाकू कैसे तेज़ करूँ?",
         "th": "ฉันจะลับมีดทำครัวได้อย่างไร", "zh": "我怎样磨厨房的刀？", "ko": "부엌칼을 어떻게 갈아요?",
         "am": "የወጥ ቤት ቢላዋ እንዴት እሳላለሁ?"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    store = ImageStore(tempfile.mkdtemp())
    print(f"{'lang':5} {'first ms':>9} {'median ms':>10} {'png KiB':>8} {'resolve ms':>11}")
    for lang, text in TEXTS.items():
        drawn = text + "\n1.\n2.\n3."
        t0 = time.perf_counter()
        png = render_text(drawn, language=lang)
        first = (time.perf_counter() - t0) * 1000
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            render_text(drawn, language=lang)
            times.append((time.perf_counter() - t0) * 1000)
        ref = store.put(png)
        msgs = [{"role": "user", "content": [ref, {"type": "text", "text": "fill in the list"}]}]
        res = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            store.resolve(msgs)
            res.append((time.perf_counter() - t0) * 1000)
        print(f"{lang:5} {first:9.0f} {statistics.median(times):10.0f} {len(png) / 1024:8.1f} "
              f"{statistics.median(res):11.2f}")


if __name__ == "__main__":
    main()
