"""Draw babelsafe's shipped mild example images (CC0) with Pillow: a kitchen knife, a medicine
bottle, a locked door and a gas stove. Deterministic; rerun to regenerate:

    python scripts/make_mild_images.py src/babelsafe/datasets/data/mild_images
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

W = H = 256


def canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("RGB", (W, H), (245, 242, 235))
    return im, ImageDraw.Draw(im)


def knife() -> Image.Image:
    im, d = canvas()
    d.rectangle((20, 150, 236, 200), fill=(160, 120, 80))  # cutting board
    d.polygon([(60, 118), (190, 100), (200, 112), (60, 132)], fill=(200, 205, 210), outline=(90, 90, 90))
    d.rounded_rectangle((20, 114, 66, 136), 6, fill=(40, 40, 40))  # handle
    for x in (32, 46):
        d.ellipse((x, 122, x + 5, 127), fill=(200, 200, 200))
    return im


def medicine() -> Image.Image:
    im, d = canvas()
    d.rounded_rectangle((88, 70, 168, 210), 12, fill=(210, 120, 40), outline=(120, 60, 20), width=3)
    d.rectangle((80, 44, 176, 72), fill=(250, 250, 250), outline=(150, 150, 150), width=3)  # cap
    d.rectangle((96, 110, 160, 170), fill=(255, 255, 255))  # label
    d.rectangle((122, 122, 134, 158), fill=(200, 30, 30))
    d.rectangle((110, 134, 146, 146), fill=(200, 30, 30))
    for x, y in ((190, 190), (206, 200), (40, 196)):
        d.ellipse((x, y, x + 14, y + 9), fill=(255, 255, 255), outline=(120, 120, 120))
    return im


def door() -> Image.Image:
    im, d = canvas()
    d.rectangle((70, 24, 186, 240), fill=(120, 80, 50), outline=(70, 40, 20), width=4)
    for y in (40, 140):
        d.rectangle((86, y, 170, y + 84), outline=(90, 60, 35), width=3)
    d.ellipse((160, 130, 174, 144), fill=(212, 175, 55))  # knob
    d.rectangle((118, 120, 146, 146), fill=(180, 180, 190), outline=(80, 80, 90), width=2)  # padlock body
    d.arc((122, 102, 142, 128), 180, 360, fill=(80, 80, 90), width=4)  # shackle
    return im


def stove() -> Image.Image:
    im, d = canvas()
    d.rectangle((30, 110, 226, 230), fill=(230, 230, 230), outline=(120, 120, 120), width=3)
    d.rectangle((30, 90, 226, 112), fill=(60, 60, 60))
    for cx in (85, 171):
        d.ellipse((cx - 34, 96, cx + 34, 108), fill=(30, 30, 30))
        for i, col in enumerate(((40, 90, 230), (90, 150, 255))):
            d.polygon([(cx - 16 + i * 6, 96), (cx, 70 + i * 10), (cx + 16 - i * 6, 96)], fill=col)
    for x in (60, 110, 160, 200):
        d.ellipse((x - 9, 180, x + 9, 198), fill=(90, 90, 90))
    return im


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, fn in (("kitchen_knife", knife), ("medicine_bottle", medicine), ("locked_door", door),
                     ("gas_stove", stove)):
        fn().save(folder / f"{name}.png", "PNG", optimize=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "src/babelsafe/datasets/data/mild_images")
