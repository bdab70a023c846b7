"""Demo images: scikit-learn's handwritten digits as PNGs, with injected near-copies and captions.

``images``: id (long), image (PNG bytes, 32x32 greyscale), caption ("a handwritten digit seven"),
label (the digit). The 1,797 originals of ``sklearn.datasets.load_digits`` (shipped with
scikit-learn, no download) are upscaled 8x8 -> 32x32; then ``NUM_COPIES`` originals chosen by the
seed get one near-copy each (a one-pixel shift, Gaussian noise, a brightness change), with
ids from ``COPY_ID_START``. ``copies`` is the ground truth: id, copy_of, augmentation.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.demo_data import DemoTable
from udfs.images import encode_png

SIZE = 32
NUM_COPIES = 180
COPY_ID_START = 10_000
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def upscale(digit_8x8: np.ndarray, size: int = SIZE) -> np.ndarray:
    """An 8x8 digit (values 0..16) as a ``size``x``size`` uint8 image (ink white on black)."""
    from PIL import Image

    pixels = np.clip(np.asarray(digit_8x8, dtype=np.float64) * (255.0 / 16.0), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def augment(pixels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A near-copy: shift by one pixel along one axis, Gaussian noise (sigma 3), brightness x0.95-1.05."""
    axis = int(rng.integers(2))
    step = int(rng.choice([-1, 1]))
    dy, dx = (step, 0) if axis == 0 else (0, step)
    shifted = np.roll(np.roll(pixels.astype(np.float64), dy, axis=0), dx, axis=1)
    brightness = float(rng.uniform(0.95, 1.05))
    noisy = shifted * brightness + rng.normal(0.0, 3.0, size=pixels.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), f"shift({dy},{dx}) noise(3) brightness({brightness:.2f})"


def caption(label: int) -> str:
    return f"a handwritten digit {DIGIT_WORDS[int(label)]}"


def generate(seed: int = 0) -> list[DemoTable]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    rows = []
    images = [upscale(d) for d in digits.images]
    for i, (img, label) in enumerate(zip(images, digits.target)):
        rows.append((i, encode_png(img), caption(label), int(label)))
    sources = np.sort(rng.choice(len(images), size=NUM_COPIES, replace=False))
    copies = []
    for j, src in enumerate(sources):
        pixels, how = augment(images[src], rng)
        copy_id = COPY_ID_START + j
        label = int(digits.target[src])
        rows.append((copy_id, encode_png(pixels), caption(label), label))
        copies.append((copy_id, int(src), how))
    images_df = pd.DataFrame(rows, columns=["id", "image", "caption", "label"])
    copies_df = pd.DataFrame(copies, columns=["id", "copy_of", "augmentation"])
    return [
        DemoTable("images", images_df, schema="id long, image binary, caption string, label int"),
        DemoTable("copies", copies_df, schema="id long, copy_of long, augmentation string"),
    ]
