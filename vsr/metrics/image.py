"""PSNR and SSIM of single RGB frames, following the conventions of VSR papers.

Both take (H, W, 3) RGB arrays on the [0, 255] scale (normally uint8) and compute in
float64. ``crop_border`` removes that many pixels from each side first (the SISR
convention; VSR benchmarks mostly use 0). ``y_channel`` evaluates on BT.601 luma
(:func:`vsr.metrics.color.rgb_to_y`); otherwise PSNR uses all three channels together and
SSIM is the mean of the per-channel SSIMs.

SSIM is Wang et al. (2004) as their MATLAB code and BasicSR compute it: an 11x11 Gaussian
window with sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, statistics taken only where
the window fits entirely inside the image ("valid" filtering, so 5 pixels are lost on each
side), and the mean of the SSIM map.
"""

from __future__ import annotations

import cv2
import numpy as np

from vsr.metrics.color import rgb_to_y

#: Peak value of 8-bit images.
MAX_VALUE = 255.0
#: Stabilising constants of Wang et al. (K1 = 0.01, K2 = 0.03, L = 255).
SSIM_C1 = (0.01 * MAX_VALUE) ** 2
SSIM_C2 = (0.03 * MAX_VALUE) ** 2
#: Gaussian window of Wang et al.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def _prepare(
    img1: np.ndarray, img2: np.ndarray, crop_border: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, crop borders, convert to Y if asked; returns float64 (H, W, C) arrays."""
    img1, img2 = np.asarray(img1), np.asarray(img2)
    if img1.shape != img2.shape:
        raise ValueError(f"images differ in shape: {img1.shape} vs {img2.shape}")
    if img1.ndim != 3 or img1.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB images, got shape {img1.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        if 2 * crop_border >= min(img1.shape[:2]):
            raise ValueError(
                f"crop_border={crop_border} leaves nothing of a "
                f"{img1.shape[0]}x{img1.shape[1]} image"
            )
        img1 = img1[crop_border:-crop_border, crop_border:-crop_border]
        img2 = img2[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        return rgb_to_y(img1)[..., None], rgb_to_y(img2)[..., None]
    return img1.astype(np.float64), img2.astype(np.float64)


def psnr(
    img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_channel: bool = False
) -> float:
    """Peak signal-to-noise ratio in dB.

    Args:
        img1, img2: (H, W, 3) RGB arrays on the [0, 255] scale.
        crop_border: pixels removed from each side before measuring.
        y_channel: measure on the Y channel instead of RGB.

    Returns:
        ``10 * log10(255^2 / MSE)``; ``inf`` for identical images.
    """
    a, b = _prepare(img1, img2, crop_border, y_channel)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(MAX_VALUE**2 / mse)


def _gaussian_window() -> np.ndarray:
    """(11, 11) float64 Gaussian window summing to 1."""
    g = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA).astype(np.float64)
    return g @ g.T


def _ssim_single(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W) float64 planes with 'valid' Gaussian filtering."""
    window = _gaussian_window()
    m = SSIM_WINDOW // 2

    def filt(x: np.ndarray) -> np.ndarray:
        # filter2D pads the borders; keeping only [m:-m] gives the 'valid' result.
        return cv2.filter2D(x, -1, window, borderType=cv2.BORDER_REFLECT)[m:-m, m:-m]

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return float(np.mean(num / den))


def ssim(
    img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, y_channel: bool = False
) -> float:
    """Structural similarity (Wang et al. 2004), in [-1, 1], 1 for identical images.

    Args:
        img1, img2: (H, W, 3) RGB arrays on the [0, 255] scale, at least 11x11 after cropping.
        crop_border: pixels removed from each side before measuring.
        y_channel: measure on the Y channel; otherwise the mean of the R, G, B SSIMs.
    """
    a, b = _prepare(img1, img2, crop_border, y_channel)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after cropping, "
            f"got {a.shape[0]}x{a.shape[1]}"
        )
    return float(np.mean([_ssim_single(a[..., c], b[..., c]) for c in range(a.shape[2])]))
