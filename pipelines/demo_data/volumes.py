"""Synthetic "CT volumes" for ct-reduce: stacks of slowly changing phantom slices with ground truth.

A volume is a sequence of *runs*. Each run is one random phantom (a body ellipse holding a few
organ-like ellipses of different intensities, on a gentle left-to-right shading ramp, as scanner
shading gives) and its slices drift slowly (the ellipses grow and move by a fraction of a pixel per
slice, with a little pixel noise): adjacent CT slices that are nearly identical. Different runs are
different anatomy. The generator checks its own design with the 64-bit dHash (udfs.dhash, equal to
``imagehash.dhash``): every slice of a run is within ``MAX_WITHIN_RUN`` bits of the run's first slice
and every pair of slices from different runs — in the same volume or not — is more than
``MIN_BETWEEN_RUNS`` bits apart, so under Hash-6 the right answer is known in advance: exactly one
kept slice per run, the run's first, within each volume and across the dataset.

Tables (``generate``):

- ``slices``: ``id`` (string, ``vNN-sKK``: lexicographic order is *not* slice order), ``volume_id``,
  ``slice_index`` (1-based int), ``image`` (PNG bytes). Volume ``v03`` holds one truncated PNG.
- ``truth``: ``id``, ``volume_id``, ``slice_index``, ``run`` (0-based within its volume; -1 for the
  truncated slice), ``distinct`` (the first slice of its run: what Hash-6 must keep).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.demo_data import DemoTable

MAX_WITHIN_RUN = 3       # bits: every slice of a run is this close to the run's first slice
MIN_BETWEEN_RUNS = 12    # bits: slices of different runs are further apart than this
IMAGE_SIZE = 96
SLICES_SCHEMA = "id string, volume_id string, slice_index int, image binary"
TRUTH_SCHEMA = "id string, volume_id string, slice_index int, run int, distinct boolean"


@dataclass(frozen=True)
class Ellipse:
    cx: float
    cy: float
    rx: float
    ry: float
    intensity: float


def _random_phantom(rng: np.random.Generator) -> list[Ellipse]:
    body = Ellipse(0.5 + rng.uniform(-0.05, 0.05), 0.5 + rng.uniform(-0.05, 0.05),
                   rng.uniform(0.36, 0.46), rng.uniform(0.30, 0.42), rng.uniform(70, 110))
    organs = [Ellipse(rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.05, 0.2),
                      rng.uniform(0.05, 0.2), rng.uniform(-70, 120)) for _ in range(rng.integers(5, 10))]
    return [body, *organs]


def render_slice(ellipses: list[Ellipse], *, size: int = IMAGE_SIZE, growth: float = 0.0, shift: float = 0.0,
                 noise: np.ndarray | None = None) -> np.ndarray:
    """One uint8 slice: the ellipses scaled by ``1 + growth`` and moved right by ``shift`` (fraction
    of the width), on a shading ramp, plus optional pixel ``noise``."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 20.0 + 16.0 * xx  # shading ramp: keeps background dHash bits stable under noise
    for e in ellipses:
        inside = ((xx - e.cx - shift) / (e.rx * (1 + growth))) ** 2 + ((yy - e.cy) / (e.ry * (1 + growth))) ** 2 <= 1
        img = img + inside * e.intensity
    if noise is not None:
        img = img + noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _hash(pixels: np.ndarray) -> int:
    from PIL import Image

    from udfs.dhash import dhash_image

    return dhash_image(Image.fromarray(pixels, mode="L"))


def _run_slices(rng: np.random.Generator, count: int, size: int, noise_sigma: float):
    """A run whose slices all stay within MAX_WITHIN_RUN bits of its first slice (drift is halved
    until they do)."""
    from udfs.dhash import hamming_to_many

    phantom = _random_phantom(rng)
    drift = 0.004
    noises = [rng.normal(0.0, noise_sigma, (size, size)) for _ in range(count)]
    while True:
        pixels = [render_slice(phantom, size=size, growth=drift * j, shift=drift * j / 2, noise=noises[j])
                  for j in range(count)]
        hashes = np.array([_hash(p) for p in pixels], dtype=np.int64)
        if hamming_to_many(int(hashes[0]), hashes).max() <= MAX_WITHIN_RUN or drift < 1e-5:
            return pixels, hashes
        drift /= 2


def volume_runs(seed: int, run_lengths: list[int], *, size: int = IMAGE_SIZE, noise_sigma: float = 1.5,
                avoid_hashes: np.ndarray | None = None) -> tuple[list[np.ndarray], list[int], np.ndarray]:
    """Slices (uint8 arrays) of one volume made of ``len(run_lengths)`` runs, their run numbers and
    dHashes. Every slice is more than MIN_BETWEEN_RUNS bits from every slice of another run and
    from every hash in ``avoid_hashes`` (other volumes)."""
    from udfs.dhash import hamming_matrix

    rng = np.random.default_rng(seed)
    pixels: list[np.ndarray] = []
    runs: list[int] = []
    hashes = np.zeros(0, dtype=np.int64)
    avoid = np.zeros(0, dtype=np.int64) if avoid_hashes is None else np.asarray(avoid_hashes, dtype=np.int64)
    for run, length in enumerate(run_lengths):
        for _attempt in range(200):
            run_pixels, run_hashes = _run_slices(rng, length, size, noise_sigma)
            others = np.concatenate([hashes, avoid])
            if others.size == 0 or hamming_matrix(run_hashes, others).min() > MIN_BETWEEN_RUNS:
                break
        else:  # pragma: no cover - 200 random phantoms all too close: a generator bug
            raise RuntimeError("could not draw a distinct run")
        pixels += run_pixels
        runs += [run] * length
        hashes = np.concatenate([hashes, run_hashes])
    return pixels, runs, hashes


def generate(seed: int = 0, *, volumes: int = 8, size: int = IMAGE_SIZE) -> list[DemoTable]:
    """The demo dataset ``volumes`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    slice_rows, truth_rows = [], []
    all_hashes = np.zeros(0, dtype=np.int64)
    for v in range(volumes):
        volume_id = f"v{v:02d}"
        run_lengths = [int(n) for n in rng.integers(3, 11, size=int(rng.integers(2, 6)))]
        pixels, runs, hashes = volume_runs(int(rng.integers(0, 2**31)), run_lengths, size=size, avoid_hashes=all_hashes)
        all_hashes = np.concatenate([all_hashes, hashes])
        previous_run = -1
        for position, (pix, run) in enumerate(zip(pixels, runs)):
            index = position + 1
            sid = f"{volume_id}-s{index}"
            slice_rows.append((sid, volume_id, index, encode_png(pix)))
            truth_rows.append((sid, volume_id, index, run, run != previous_run))
            previous_run = run
        if volume_id == "v03":  # one truncated PNG: must land in `rejected`
            index = len(pixels) + 1
            sid = f"{volume_id}-s{index}"
            slice_rows.append((sid, volume_id, index, encode_png(pixels[-1])[:40]))
            truth_rows.append((sid, volume_id, index, -1, False))
    slices = pd.DataFrame(slice_rows, columns=["id", "volume_id", "slice_index", "image"])
    truth = pd.DataFrame(truth_rows, columns=["id", "volume_id", "slice_index", "run", "distinct"])
    return [DemoTable("slices", slices, schema=SLICES_SCHEMA), DemoTable("truth", truth, schema=TRUTH_SCHEMA)]
