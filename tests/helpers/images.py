"""Datasets rendered with Pillow for the dataset check's tests: shapes, digits and text lines (no downloads)."""

from __future__ import annotations

import os

import numpy as np

FORMATS = ("png", "jpg", "bmp")


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def render_images(folder: str, count: int, size: tuple[int, int] = (64, 64), seed: int = 0,
                  text_lines: bool = False) -> list[str]:
    """``count`` images (height, width ``size``) under ``folder`` in three subfolders, PNG/JPEG/BMP in turn:
    random shapes and digits on random backgrounds, or text lines. Returns the relative paths, sorted."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    height, width = size
    names = []
    for i in range(count):
        background = tuple(int(v) for v in rng.integers(0, 256, 3))
        image = Image.new("RGB", (width, height), background)
        draw = ImageDraw.Draw(image)
        if text_lines:
            text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(3, 9))))
            draw.text((int(rng.integers(0, 20)), int(rng.integers(0, 8))), text,
                      fill=tuple(int(v) for v in rng.integers(0, 256, 3)), font=_font(20))
        else:
            for _ in range(int(rng.integers(1, 4))):
                color = tuple(int(v) for v in rng.integers(0, 256, 3))
                x0, y0 = (int(v) for v in rng.integers(0, width // 2, 2))
                x1, y1 = x0 + int(rng.integers(8, width // 2)), y0 + int(rng.integers(8, height // 2))
                kind = int(rng.integers(0, 4))
                if kind == 0:
                    draw.ellipse((x0, y0, x1, y1), fill=color)
                elif kind == 1:
                    draw.rectangle((x0, y0, x1, y1), fill=color)
                elif kind == 2:
                    draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=color)
                else:
                    font = _font(int(rng.integers(16, 40)))
                    draw.text((x0, y0), str(int(rng.integers(0, 10))), fill=color, font=font)
        name = f"set{i % 3}/img_{i:04d}.{FORMATS[i % len(FORMATS)]}"
        os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
        image.save(os.path.join(folder, name), **({"quality": 95} if name.endswith("jpg") else {}))
        names.append(name)
    return sorted(names)


def load_rgb(path: str) -> np.ndarray:
    """Pillow, uint8 [H, W, 3] RGB: the test's own decoding."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
