"""Slice similarity kernels of ct-reduce: SSIM, normalised mutual information, cosine.

Wolf et al., "Less is More" (2024), §2 (reduction strategies): besides hashing, a slice is dropped
when its structural similarity (SSIM), its mutual information or the cosine similarity of its deep
embedding with the reference slice reaches a threshold. These kernels compare one reference with
many candidates at once and agree with scikit-image:

- :func:`ssim` = ``skimage.metrics.structural_similarity`` with its defaults (7×7 uniform window,
  K1 = 0.01, K2 = 0.03, sample covariance, mean over the window-valid interior);
- :func:`normalized_mutual_information` = ``skimage.metrics.normalized_mutual_information``
  (Studholme's (H(A) + H(B)) / H(A, B) on a 100-bin joint histogram; 1 = independent, 2 = identical).

No Spark here: numpy/scipy only, unit-tested against scikit-image.
"""
from __future__ import annotations

import numpy as np

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03
NMI_BINS = 100


def _uniform(arr: np.ndarray, size: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(arr, size=size)


class SsimReference:
    """Precomputed local statistics of a reference image, compared with many candidates."""

    def __init__(self, reference: np.ndarray, *, data_range: float = 255.0, win_size: int = SSIM_WINDOW):
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2:
            raise ValueError("SSIM needs 2-D greyscale images")
        if min(ref.shape) < win_size:
            raise ValueError(f"images must be at least {win_size}×{win_size} for SSIM")
        self.shape = ref.shape
        self.win_size = win_size
        self.c1 = (SSIM_K1 * data_range) ** 2
        self.c2 = (SSIM_K2 * data_range) ** 2
        n_pixels = win_size ** 2
        self.cov_norm = n_pixels / (n_pixels - 1)  # sample covariance, skimage's default
        self.ref = ref
        self.mu = _uniform(ref, win_size)
        self.var = self.cov_norm * (_uniform(ref * ref, win_size) - self.mu * self.mu)

    def similarity(self, image: np.ndarray) -> float:
        """Mean SSIM of ``image`` against the reference (same shape)."""
        img = np.asarray(image, dtype=np.float64)
        if img.shape != self.shape:
            raise ValueError(f"image shape {img.shape} differs from the reference {self.shape}")
        w = self.win_size
        mu = _uniform(img, w)
        var = self.cov_norm * (_uniform(img * img, w) - mu * mu)
        cov = self.cov_norm * (_uniform(img * self.ref, w) - mu * self.mu)
        numerator = (2 * mu * self.mu + self.c1) * (2 * cov + self.c2)
        denominator = (mu * mu + self.mu * self.mu + self.c1) * (var + self.var + self.c2)
        ssim_map = numerator / denominator
        pad = (w - 1) // 2
        return float(ssim_map[pad:-pad or None, pad:-pad or None].mean())


def ssim(image0: np.ndarray, image1: np.ndarray, *, data_range: float = 255.0) -> float:
    """Mean structural similarity of two greyscale images (skimage's defaults)."""
    return SsimReference(image0, data_range=data_range).similarity(image1)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    p = p / p.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_information(image0: np.ndarray, image1: np.ndarray, *, bins: int = NMI_BINS) -> float:
    """(H(A) + H(B)) / H(A, B) on a ``bins × bins`` joint histogram: 1 (independent) to 2 (identical)."""
    a = np.asarray(image0, dtype=np.float64).reshape(-1)
    b = np.asarray(image1, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError("images must have the same shape for mutual information")
    joint, _, _ = np.histogram2d(a, b, bins=bins)
    h_a = _entropy(joint.sum(axis=1))
    h_b = _entropy(joint.sum(axis=0))
    h_ab = _entropy(joint.reshape(-1))
    if h_ab == 0.0:  # both images constant: identical in information terms
        return 2.0
    return (h_a + h_b) / h_ab


def cosine_to_many(reference: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of one vector with each row of ``vectors`` (zero vectors give 0)."""
    ref = np.asarray(reference, dtype=np.float64)
    mat = np.asarray(vectors, dtype=np.float64).reshape(-1, ref.shape[0])
    norms = np.linalg.norm(mat, axis=1) * np.linalg.norm(ref)
    dots = mat @ ref
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def pixel_embedding(image: np.ndarray, size: int = 16) -> np.ndarray:
    """A deterministic, model-free featuriser: the image resized to ``size × size`` by block means,
    centred and L2-normalised. It stands in for an encoder in the embedding strategy when no
    encoder spec is given (and in tests); it is not the paper's DeepNet embedding."""
    from PIL import Image

    arr = np.asarray(image, dtype=np.float32)
    small = np.asarray(Image.fromarray(arr, mode="F").resize((size, size), Image.Resampling.BOX), dtype=np.float64)
    vec = small.reshape(-1) - small.mean()
    norm = np.linalg.norm(vec)
    return (vec / norm if norm > 0 else vec).astype(np.float32)
