"""ct-reduce kernels against their references: dHash vs imagehash, SSIM and NMI vs scikit-image."""
from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import normalized_mutual_information as sk_nmi
from skimage.metrics import structural_similarity as sk_ssim

from udfs.dhash import (
    dhash_bits,
    dhash_bytes,
    dhash_image,
    hamming,
    hamming_matrix,
    hamming_to_many,
    hash_to_bytes,
    to_signed,
    to_unsigned,
)
from udfs.slice_decode import SliceDecodeError, image_from_bytes, image_from_pixels, window_to_uint8
from udfs.slice_similarity import SsimReference, cosine_to_many, normalized_mutual_information, pixel_embedding, ssim


def _images():
    """PIL images of every mode a slice may come in, incl. 16-bit greyscale (CT PNGs) and odd sizes."""
    rng = np.random.default_rng(7)
    out = []
    for _i in range(12):
        h, w = int(rng.integers(9, 130)), int(rng.integers(10, 140))
        smooth = np.cumsum(rng.normal(0, 4, (h, w)), axis=1)
        grey = np.clip(smooth - smooth.min(), 0, 255).astype(np.uint8)
        out.append(Image.fromarray(grey, mode="L"))
        out.append(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), mode="RGB"))
        out.append(Image.fromarray(rng.integers(0, 4096, (h, w), dtype=np.uint16)))  # I;16
        out.append(Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), mode="RGBA"))
        out.append(Image.fromarray((rng.random((h, w)) * 500).astype(np.float32), mode="F"))
        out.append(Image.fromarray(grey, mode="L").convert("P"))
    return out


@pytest.mark.parametrize("image", _images(), ids=lambda im: f"{im.mode}-{im.size[0]}x{im.size[1]}")
def test_dhash_equals_imagehash_bit_for_bit(image):
    reference = imagehash.dhash(image, hash_size=8)
    assert np.array_equal(dhash_bits(image), reference.hash)
    assert to_unsigned(dhash_image(image)) == int(str(reference), 16)


def test_dhash_of_png_bytes_equals_imagehash_of_the_decoded_png():
    rng = np.random.default_rng(3)
    for _ in range(10):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64, 80), dtype=np.uint8)).save(buf, format="PNG")
        expected = imagehash.dhash(Image.open(io.BytesIO(buf.getvalue())), hash_size=8)
        assert to_unsigned(dhash_bytes(buf.getvalue())) == int(str(expected), 16)


def test_hamming_equals_imagehash_difference():
    images = _images()[:20]
    ours = np.array([dhash_image(im) for im in images], dtype=np.int64)
    theirs = [imagehash.dhash(im, hash_size=8) for im in images]
    matrix = hamming_matrix(ours, ours)
    for i in range(len(images)):
        assert list(hamming_to_many(int(ours[i]), ours)) == [theirs[i] - t for t in theirs]
        for j in range(len(images)):
            assert matrix[i, j] == hamming(int(ours[i]), int(ours[j])) == theirs[i] - theirs[j]


def test_signed_unsigned_round_trip_and_byte_layout():
    for value in (0, 1, 2**63 - 1, 2**63, 2**64 - 1, 0xF0F0F0F0F0F0F0F0):
        assert to_unsigned(to_signed(value)) == value
    rows = hash_to_bytes([to_signed(0xFF00000000000001)])
    assert rows.shape == (1, 8) and rows[0, 0] == 0xFF and rows[0, 7] == 0x01
    assert hamming(to_signed(0xFF), 0) == 8 and hamming(-1, 0) == 64


def _pair(seed: int, shape=(48, 56)):
    rng = np.random.default_rng(seed)
    base = np.clip(np.cumsum(rng.normal(0, 6, shape), axis=0), 0, 255)
    other = np.clip(base + rng.normal(0, 12, shape), 0, 255)
    return base.astype(np.uint8), other.astype(np.uint8)


@pytest.mark.parametrize("seed", range(5))
def test_ssim_agrees_with_scikit_image(seed):
    a, b = _pair(seed)
    expected = sk_ssim(a, b, data_range=255)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)
    # one reference against many candidates gives the same numbers
    ref = SsimReference(a)
    assert ref.similarity(b) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_nmi_agrees_with_scikit_image(seed):
    a, b = _pair(seed)
    assert normalized_mutual_information(a, b) == pytest.approx(sk_nmi(a, b), abs=1e-9)
    assert normalized_mutual_information(a, a) == pytest.approx(sk_nmi(a, a), abs=1e-9)
    assert normalized_mutual_information(a, b, bins=20) == pytest.approx(sk_nmi(a, b, bins=20), abs=1e-9)
    # independent noise is close to 1, identical images are 2
    noise = np.random.default_rng(seed).integers(0, 256, a.shape)
    assert normalized_mutual_information(a, noise) < 1.2 < 1.99 < normalized_mutual_information(a, a)


def test_cosine_and_pixel_embedding():
    ref = np.array([1.0, 0.0])
    assert list(cosine_to_many(ref, np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0], [-1.0, 0.0]]))) == [1.0, 0.0, 0.0, -1.0]
    a, b = _pair(1, shape=(64, 64))
    ea, eb = pixel_embedding(a), pixel_embedding(b)
    assert ea.shape == (256,) and np.linalg.norm(ea) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(ea, pixel_embedding(a.copy()))  # deterministic
    assert cosine_to_many(ea, eb[None, :])[0] > 0.9  # same structure, noise averaged out


def test_decoders_give_reasons():
    with pytest.raises(SliceDecodeError, match="null image"):
        image_from_bytes(None)
    with pytest.raises(SliceDecodeError, match="undecodable image"):
        image_from_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(SliceDecodeError, match="2-D"):
        image_from_pixels([[1.0, 2.0], [3.0]], 0, 255)
    with pytest.raises(SliceDecodeError, match="NaN"):
        image_from_pixels([[1.0, float("nan")]], 0, 255)
    assert list(window_to_uint8(np.array([-1000.0, -300.0, 400.0, 1000.0]), -1000, 400)) == [0, 128, 255, 255]
    img = image_from_pixels([[-1000.0, 400.0], [400.0, -1000.0]], -1000, 400)
    assert img.mode == "L" and np.asarray(img).tolist() == [[0, 255], [255, 0]]
