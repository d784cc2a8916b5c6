"""Training and validation datasets over clips from any layout.

Both return the agreed sample dict (the default collate stacks it into the batch format):

- ``lr``: ``(T, 3, h, w)`` float32 in [0, 1]
- ``hr``: ``(3, s*h, s*w)`` float32 in [0, 1], the centre frame's ground truth
- ``scale``: int64 scalar; ``degradation``: int64 id; ``strength``: float32 in [0, 1]
- ``key``: ``"<clip>/<frame>"`` of the centre frame
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vsr.conditions import degradation_id
from vsr.data.clips import ClipSource, window_indices
from vsr.data.degradations import modcrop, normalise_strength
from vsr.data.sampling import DegradationSampler, sample_seed
from vsr.video.clips import Clip


def clip_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(..., H, W, 3)`` uint8 -> ``(..., 3, H, W)`` float32 in [0, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames))
    return tensor.movedim(-1, -3).float().div_(255.0)


def _augment(
    clips: list[np.ndarray | None], hflip: bool, vflip: bool, rot: bool, reverse: bool
) -> list[np.ndarray | None]:
    """Apply the same flips / 90-degree transpose / time reversal to ``(T, H, W, C)`` arrays."""
    out: list[np.ndarray | None] = []
    for c in clips:
        if c is not None:
            if hflip:
                c = c[:, :, ::-1]
            if vflip:
                c = c[:, ::-1]
            if rot:
                c = c.transpose(0, 2, 1, 3)  # with the flips this covers all 8 rotations/flips
            if reverse:
                c = c[::-1]
            c = np.ascontiguousarray(c)
        out.append(c)
    return out


def patch_texture(image: np.ndarray) -> float:
    """Mean absolute difference between neighbouring luminance pixels, in 0-1 units.

    ``image`` is ``(H, W, 3)`` uint8 RGB. Near 0 for flat regions (bicubic is already exact
    there), ~0.01 for soft detail, 0.03 and more for sharp texture.
    """
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    dy = np.abs(np.diff(luma, axis=0)).mean() if luma.shape[0] > 1 else 0.0
    dx = np.abs(np.diff(luma, axis=1)).mean() if luma.shape[1] > 1 else 0.0
    return float(dy + dx) / 2.0


def _sample(
    lr: np.ndarray, hr_centre: np.ndarray, scale: int, kind: str, strength: float, key: str
) -> dict[str, Any]:
    return {
        "lr": clip_to_tensor(lr),
        "hr": clip_to_tensor(hr_centre),
        "scale": torch.tensor(scale, dtype=torch.long),
        "degradation": torch.tensor(degradation_id(kind), dtype=torch.long),
        "strength": torch.tensor(strength, dtype=torch.float32),
        "key": key,
    }


class _ClipDataset(Dataset):
    def __init__(
        self,
        source: ClipSource,
        degradation: DegradationSampler,
        num_frames: int,
        training: bool,
        use_precomputed: bool,
    ) -> None:
        if num_frames < 1 or num_frames % 2 == 0:
            raise ValueError(f"num_frames must be odd (a centre frame), got {num_frames}")
        self.source = source
        self.degradation = degradation
        self.num_frames = num_frames
        self.use_precomputed = use_precomputed
        self.clips: list[Clip] = source.clips()
        self.windows: list[tuple[int, int]] = [
            (ci, centre)
            for ci, clip in enumerate(self.clips)
            for centre in source.centres(clip, num_frames, training)
        ]
        if not self.windows:
            longest = max(c.num_frames for c in self.clips)
            raise ValueError(
                f"{source!r} has no {num_frames}-frame windows (longest clip: {longest} frames)"
            )

    def _precomputed(
        self, clip: Clip, indices: list[int], scale: int, kind: str
    ) -> tuple[np.ndarray | None, float]:
        """Precomputed LR frames and their normalised strength, when usable."""
        if not (self.use_precomputed and clip.has_lr(scale, kind)):
            return None, 0.0
        meta = clip.lr_meta(scale, kind)
        if not self.degradation.precomputed_matches(kind, meta):
            return None, 0.0
        strength = 0.0
        if kind == "blur" and meta is not None:
            strength = normalise_strength("blur", float(meta["params"]["blur_sigma"]))
        return clip.read_lr(indices, scale, kind), strength

    @staticmethod
    def _check_lr(lr: np.ndarray, hr: np.ndarray, scale: int, clip: Clip) -> None:
        expected = (hr.shape[1] // scale, hr.shape[2] // scale)
        if lr.shape[1:3] != expected:
            raise ValueError(
                f"precomputed x{scale} LR of clip {clip.name!r} is {lr.shape[2]}x{lr.shape[1]}, "
                f"expected {expected[1]}x{expected[0]} for HR {hr.shape[2]}x{hr.shape[1]}"
            )


class TrainDataset(_ClipDataset):
    """Random aligned crops of HR windows, augmented, degraded on the fly.

    Index with ``(index, scale)`` pairs (from :class:`~vsr.data.sampling.ScaleBatchSampler`)
    or a plain index (then the first configured scale is used).

    Args:
        source: the layout to read.
        degradation: kinds (drawn per sample), strength ranges and scales.
        num_frames: frames per window (odd).
        patch_size: HR crop size; rounded down to a multiple of the batch's scale so LR and HR
            stay aligned (e.g. 256 gives 255 at x3).
        flip: random horizontal and vertical flips.
        rot90: random transpose (with the flips: all 8 rotations/reflections).
        reverse: random temporal reversal.
        use_precomputed: read matching precomputed LR (official BI folders) when present.
        min_texture: crops whose HR centre frame is flatter than this are drawn again (up to
            ``crop_tries`` draws; the most textured one is kept). Texture is the mean
            absolute difference between neighbouring luminance pixels, 0-1 intensity units.
            Real footage is often half sky, walls and out-of-focus background, where bicubic
            is already exact and the network learns nothing; ~0.01 rejects those. 0: off.
        crop_tries: the most crops drawn per sample when ``min_texture`` is set.
        compression_context: compressed samples are encoded with up to this many frames of
            the clip before and after the window, ...
        compression_margin: ... and this many LR pixels of the picture around the crop, then
            cut to the window and the crop. A user's frame sits mid-GOP in a whole picture;
            a 5-frame crop encoded alone starts on an IDR frame with every macroblock at the
            picture edge, and comes out about 1 dB worse at the same CRF than the same
            pixels of a whole stream (x4, CRF 28). 0 and 0: encode the crop alone.
    """

    def __init__(
        self,
        source: ClipSource,
        degradation: DegradationSampler,
        num_frames: int = 5,
        patch_size: int = 256,
        flip: bool = True,
        rot90: bool = True,
        reverse: bool = True,
        use_precomputed: bool = True,
        min_texture: float = 0.0,
        crop_tries: int = 8,
        compression_context: int = 8,
        compression_margin: int = 8,
    ) -> None:
        super().__init__(source, degradation, num_frames, True, use_precomputed)
        if min_texture < 0 or crop_tries < 1:
            raise ValueError(
                f"min_texture must be >= 0 and crop_tries >= 1, got {min_texture} and {crop_tries}"
            )
        if compression_context < 0 or compression_margin < 0:
            raise ValueError(
                "compression_context (frames) and compression_margin (LR pixels) must be >= 0, "
                f"got {compression_context} and {compression_margin}"
            )
        self.compression_context = int(compression_context)
        self.compression_margin = int(compression_margin)
        self.patch_size = patch_size
        self.flip, self.rot90, self.reverse = flip, rot90, reverse
        self.min_texture = float(min_texture)
        self.crop_tries = int(crop_tries)

    def _pick_crop(
        self, hr_centre: np.ndarray, patch: int, scale: int, rng: np.random.Generator
    ) -> tuple[int, int]:
        """Top-left corner of the HR crop, on the LR grid, preferring textured crops."""
        h, w = hr_centre.shape[:2]
        best, best_texture = (0, 0), -1.0
        for _ in range(self.crop_tries if self.min_texture > 0 else 1):
            # Corners on the LR grid so precomputed LR crops line up with the HR crop.
            y = int(rng.integers(0, (h - patch) // scale + 1)) * scale
            x = int(rng.integers(0, (w - patch) // scale + 1)) * scale
            if self.min_texture <= 0:
                return y, x
            texture = patch_texture(hr_centre[y : y + patch, x : x + patch])
            if texture >= self.min_texture:
                return y, x
            if texture > best_texture:
                best, best_texture = (y, x), texture
        return best

    def _compress_in_context(
        self,
        clip: Clip,
        indices: list[int],
        window: np.ndarray,
        corner: tuple[int, int],
        patch: int,
        scale: int,
        seed: int,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Compress the crop of ``window`` at ``corner`` as part of a longer, larger stream.

        ``window`` holds the whole (modcropped) HR frames of ``indices``. Returns the LR crop
        of the window's frames and :func:`~vsr.data.degradations.degrade`'s info.
        """
        first, last = indices[0], indices[-1]
        # Training windows are consecutive frames inside the clip; anything else (a source
        # with gaps) keeps to its own frames.
        consecutive = indices == list(range(first, last + 1))
        extra = self.compression_context if consecutive else 0
        before = list(range(max(0, first - extra), first))
        after = list(range(last + 1, min(clip.num_frames, last + 1 + extra)))
        # The margin is whole LR pixels, so the block's corner stays on the LR grid.
        y, x = corner
        margin = self.compression_margin * scale
        height, width = window.shape[1:3]
        y0, x0 = max(0, y - margin), max(0, x - margin)
        rows = slice(y0, min(height, y + patch + margin))
        cols = slice(x0, min(width, x + patch + margin))
        # Cut each part to the block before joining them: whole frames are never copied.
        parts = [window[:, rows, cols]]
        if before:
            parts.insert(0, modcrop(clip.read(before), scale)[:, rows, cols])
        if after:
            parts.append(modcrop(clip.read(after), scale)[:, rows, cols])
        block = np.concatenate(parts)  # a new contiguous array, as the encoder needs
        lr, info = self.degradation.apply(block, scale, "compression", seed)
        t0, ly, lx, size = len(before), (y - y0) // scale, (x - x0) // scale, patch // scale
        return lr[t0 : t0 + len(indices), ly : ly + size, lx : lx + size], info

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, scale = (
            item if isinstance(item, (tuple, list)) else (item, self.degradation.scales[0])
        )
        scale = int(scale)
        seed = sample_seed()
        rng = np.random.default_rng(seed)
        ci, centre = self.windows[index]
        clip = self.clips[ci]
        indices = window_indices(centre, self.num_frames, clip.num_frames)
        kind = self.degradation.sample_kind(rng)
        hr = modcrop(clip.read(indices), scale)
        lr, strength = self._precomputed(clip, indices, scale, kind)
        patch = self.patch_size - self.patch_size % scale
        h, w = hr.shape[1:3]
        if patch < scale or h < patch or w < patch:
            raise ValueError(
                f"clip {clip.name!r} frames are {w}x{h}, smaller than the training patch "
                f"{patch}x{patch} at x{scale}: lower data.train.patch_size"
            )
        y, x = self._pick_crop(hr[self.num_frames // 2], patch, scale, rng)
        if lr is not None:
            self._check_lr(lr, hr, scale, clip)
            lr = lr[:, y // scale : (y + patch) // scale, x // scale : (x + patch) // scale]
        elif kind == "compression" and (self.compression_context or self.compression_margin):
            # Compressed before the flips: the codec sees the picture as it was shot, and
            # the LR crop is then augmented with its HR crop like precomputed LR.
            lr, info = self._compress_in_context(clip, indices, hr, (y, x), patch, scale, seed)
            strength = float(info["strength"])
        hr = hr[:, y : y + patch, x : x + patch]
        flips = rng.random(4) < 0.5
        hr, lr = _augment(
            [hr, lr],
            hflip=self.flip and flips[0],
            vflip=self.flip and flips[1],
            rot=self.rot90 and flips[2],
            reverse=self.reverse and flips[3],
        )
        assert hr is not None
        if lr is None:
            lr, info = self.degradation.apply(hr, scale, kind, seed)
            strength = float(info["strength"])
        return _sample(lr, hr[self.num_frames // 2], scale, kind, strength, clip.frame_key(centre))


class ValDataset(_ClipDataset):
    """Deterministic validation windows for every (scale, kind) in the degradation config.

    Items are ordered by (scale, kind) then window; ``groups`` gives each item's scale for
    :class:`~vsr.data.sampling.GroupedBatchSampler`. The same item always gets the same
    degradation (seeded by its index).

    Args:
        source: the layout to read.
        degradation: ``val_scales`` x ``val_kinds`` are validated.
        num_frames: frames per window (odd).
        padding: how windows are padded at clip ends: ``"reflect"`` (mirror without repeating
            the edge frame, default) or ``"replicate"`` (repeat the edge frame).
        crop_size: HR centre crop (rounded down to a multiple of the scale); whole frames
            when None.
        frame_stride: keep every n-th centre frame of each clip.
        max_windows: cap on windows per (scale, kind), spread evenly; all when None.
        use_precomputed: read matching precomputed LR when present.
        seed: base seed of the degradations.
    """

    def __init__(
        self,
        source: ClipSource,
        degradation: DegradationSampler,
        num_frames: int = 5,
        padding: str = "reflect",
        crop_size: int | None = None,
        frame_stride: int = 1,
        max_windows: int | None = None,
        use_precomputed: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(source, degradation, num_frames, False, use_precomputed)
        window_indices(0, num_frames, 2, padding)  # validates the padding name early
        self.padding = padding
        self.crop_size = crop_size
        self.seed = seed
        # Every n-th centre of each clip, counted from its first (Vimeo keeps its only centre).
        per_clip: dict[int, list[tuple[int, int]]] = {}
        for window in self.windows:
            per_clip.setdefault(window[0], []).append(window)
        windows = [w for ws in per_clip.values() for w in ws[:: max(frame_stride, 1)]]
        if max_windows is not None and len(windows) > max_windows:
            picks = np.linspace(0, len(windows) - 1, max_windows).round().astype(int)
            windows = [windows[i] for i in picks]
        self.windows = windows
        self.combos = [(s, k) for s in degradation.val_scales for k in degradation.val_kinds]
        self.groups = [s for s, _ in self.combos for _ in self.windows]

    def __len__(self) -> int:
        return len(self.combos) * len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        scale, kind = self.combos[index // len(self.windows)]
        ci, centre = self.windows[index % len(self.windows)]
        clip = self.clips[ci]
        indices = window_indices(centre, self.num_frames, clip.num_frames, self.padding)
        hr = modcrop(clip.read(indices), scale)
        lr, strength = self._precomputed(clip, indices, scale, kind)
        if lr is not None:
            self._check_lr(lr, hr, scale, clip)
        if self.crop_size is not None:
            size = self.crop_size - self.crop_size % scale
            h, w = hr.shape[1:3]
            y = max((h - size) // 2 // scale * scale, 0)
            x = max((w - size) // 2 // scale * scale, 0)
            hr = hr[:, y : y + size, x : x + size]
            if lr is not None:
                lr = lr[:, y // scale : (y + size) // scale, x // scale : (x + size) // scale]
        if lr is None:
            lr, info = self.degradation.apply(hr, scale, kind, self.seed + index)
            strength = float(info["strength"])
        return _sample(lr, hr[self.num_frames // 2], scale, kind, strength, clip.frame_key(centre))
