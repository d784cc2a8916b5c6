"""PSNR, SSIM and the Y conversion against hand-computed values and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from vsr.metrics import psnr, rgb_to_y, ssim
from vsr.metrics.image import SSIM_C1


def _noisy_pair(seed: int, shape=(37, 45, 3), amp: int = 25) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Smooth-ish content plus noise, so SSIM is neither ~0 nor ~1.
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    base = 128 + 80 * np.sin(xx[..., None] / 5.0 + np.arange(3)) * np.cos(yy[..., None] / 7.0)
    a = np.clip(base + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-amp, amp + 1, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize(
    ("rgb", "y"),
    [
        ((255, 255, 255), 235.0),
        ((0, 0, 0), 16.0),
        ((255, 0, 0), 16.0 + 65.481),
        ((0, 255, 0), 16.0 + 128.553),
        ((0, 0, 255), 16.0 + 24.966),
        ((128, 128, 128), 16.0 + 128 * 219 / 255),
    ],
)
def test_y_channel_matches_matlab_rgb2ycbcr(rgb: tuple[int, int, int], y: float) -> None:
    img = np.broadcast_to(np.asarray(rgb, dtype=np.uint8), (2, 3, 3))
    out = rgb_to_y(img)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, y, rtol=0, atol=1e-9)


def test_psnr_hand_computed() -> None:
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a + 10  # MSE = 100 everywhere
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-12)
    # Gray images: every channel differs by 10, so Y differs by 10 * 219 / 255.
    dy = 10 * 219 / 255
    assert psnr(a, b, y_channel=True) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-12)


def test_psnr_one_pixel_error() -> None:
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[1, 2, 0] = 60  # squared error 3600 spread over 4 * 5 * 3 = 60 values
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 60.0), abs=1e-12)


def test_psnr_identical_is_inf_and_crop_border_removes_edges() -> None:
    a, _ = _noisy_pair(0)
    assert psnr(a, a) == math.inf
    b = a.copy()
    b[:3] = 0
    b[:, -3:] = 255
    assert psnr(a, b) < 30
    assert psnr(a, b, crop_border=3) == math.inf
    assert psnr(a, b, crop_border=2) < math.inf


def test_ssim_of_flat_images_hand_computed() -> None:
    # Flat images: no variance, so SSIM reduces to the luminance term.
    a = np.full((20, 20, 3), 100, np.uint8)
    b = np.full((20, 20, 3), 110, np.uint8)
    expected = (2 * 100 * 110 + SSIM_C1) / (100**2 + 110**2 + SSIM_C1)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_rgb_matches_scikit_image(seed: int) -> None:
    a, b = _noisy_pair(seed)
    # scikit-image with these options is Wang et al.'s definition; it also averages the SSIM
    # map only over the region where the 11x11 window fits ('valid'), like our SSIM.
    ref = structural_similarity(
        a,
        b,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert 0.3 < ref < 0.99
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)


def test_ssim_y_and_crop_match_scikit_image() -> None:
    a, b = _noisy_pair(2, shape=(40, 52, 3))
    c = 4
    ya, yb = rgb_to_y(a[c:-c, c:-c]), rgb_to_y(b[c:-c, c:-c])
    ref = structural_similarity(
        ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert ssim(a, b, crop_border=c, y_channel=True) == pytest.approx(ref, abs=1e-10)
    assert ssim(a, b, y_channel=True) != pytest.approx(ssim(a, b), abs=1e-4)


def test_ssim_decreases_with_noise() -> None:
    a, b_small = _noisy_pair(3, amp=5)
    _, b_large = _noisy_pair(3, amp=40)
    assert 1.0 > ssim(a, b_small) > ssim(a, b_large)


def test_bad_inputs_are_named() -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:8])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        ssim(a[..., 0], a[..., 0])
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a[:10], a[:10])
    with pytest.raises(ValueError, match="crop_border"):
        psnr(a, a, crop_border=8)
