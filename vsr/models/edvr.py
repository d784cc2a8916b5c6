"""EDVR with a conditional reconstruction trunk and x2/x3/x4 heads on one set of weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from vsr.conditions import SCALES, degradation_ids
from vsr.models.blocks import TRUNK_CONVS, ResidualBlock
from vsr.models.pcd import PCDAlignment
from vsr.models.tsa import TSAFusion
from vsr.nn import ConditionEmbedding, KernelBankConv2d

#: The pyramid has three levels of stride 2, so the network works on multiples of 4.
_MULTIPLE = 4
#: Stride of each pyramid level in (padded) input pixels, finest first.
_STRIDES = (1, 2, 4)


@dataclass(frozen=True)
class FrameFeatures:
    """What :meth:`EDVR.extract_features` computes per frame and :meth:`EDVR.restore` uses.

    A video pipeline keeps these per frame and builds each call's batch from them
    (:meth:`crop` to a tile, :meth:`cat` the windows' frames), without knowing what is inside.

    Attributes:
        levels: the feature pyramid of N frames, ``(N, C, H, W)``, ``(N, C, H/2, W/2)``,
            ``(N, C, H/4, W/4)``, with H and W the frames' size padded to a multiple of 4.
        projections: each level's :meth:`PCDAlignment.project_neighbours`, the same shapes.
    """

    levels: tuple[torch.Tensor, ...]
    projections: tuple[torch.Tensor, ...]

    @property
    def batch_size(self) -> int:
        """N, the number of frames."""
        return self.levels[0].shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W): the frames' size padded to a multiple of 4."""
        return tuple(self.levels[0].shape[-2:])

    @property
    def nbytes(self) -> int:
        """Bytes held by all the tensors."""
        return sum(f.nbytes for f in self.levels + self.projections)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> FrameFeatures:
        """``fn`` applied to every tensor (e.g. a reorder or repeat along the batch)."""
        return FrameFeatures(tuple(map(fn, self.levels)), tuple(map(fn, self.projections)))

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> FrameFeatures:
        """The features of rows ``y0:y1`` and columns ``x0:x1`` of the padded frames.

        Raises:
            ValueError: if a bound is not a multiple of 4 (the coarsest level's stride).
        """
        if any(v % _MULTIPLE for v in (y0, y1, x0, x1)):
            raise ValueError(f"crop bounds must be multiples of {_MULTIPLE}: {y0, y1, x0, x1}")

        def crop(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            return tuple(
                f[..., y0 // s : y1 // s, x0 // s : x1 // s]
                for f, s in zip(tensors, _STRIDES, strict=True)
            )

        return FrameFeatures(crop(self.levels), crop(self.projections))

    @staticmethod
    def cat(features: Sequence[FrameFeatures]) -> FrameFeatures:
        """The frames of all ``features``, in order, as one batch."""

        def cat(parts: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
            return tuple(torch.cat(level) for level in zip(*parts, strict=True))

        return FrameFeatures(
            cat([f.levels for f in features]), cat([f.projections for f in features])
        )


class UpsampleHead(nn.Module):
    """Pixel-shuffle upsampling for one scale, in BasicSR's EDVR layout.

    x4: ``upconv1`` (C -> 4C), shuffle 2, ``upconv2`` (C -> 4*F), shuffle 2 (as EDVR);
    x2: ``upconv1`` (C -> 4*F), shuffle 2; x3: ``upconv1`` (C -> 9*F), shuffle 3;
    then ``conv_hr`` (F -> F) and ``conv_last`` (F -> 3) at high resolution, F = ``hr_feat``.

    Shapes:
        forward(``(B, C, H, W)``) -> ``(B, 3, s*H, s*W)``.
    """

    def __init__(self, scale: int, num_feat: int, hr_feat: int = 64) -> None:
        super().__init__()
        if scale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, hr_feat * 4, 3, 1, 1)
            self.shuffles = (2, 2)
        elif scale in (2, 3):
            self.upconv1 = nn.Conv2d(num_feat, hr_feat * scale * scale, 3, 1, 1)
            self.upconv2 = None
            self.shuffles = (scale,)
        else:
            raise ValueError(f"no upsampling head for scale {scale}: supported scales are 2, 3, 4")
        self.conv_hr = nn.Conv2d(hr_feat, hr_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(hr_feat, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs = (self.upconv1, self.upconv2)
        for conv, factor in zip(convs, self.shuffles, strict=False):
            x = self.lrelu(F.pixel_shuffle(conv(x), factor))
        return self.conv_last(self.lrelu(self.conv_hr(x)))


class EDVR(nn.Module):
    """EDVR: PCD alignment, TSA fusion, a reconstruction trunk and per-scale heads.

    The trunk's convolutions are ``trunk_conv`` (see :data:`vsr.models.blocks.TRUNK_CONVS`);
    with ``cond_dynamic`` they are routed by a :class:`vsr.nn.ConditionEmbedding` of the
    requested scale and the input's degradation, so one network serves every scale and
    degradation. The module names of the static parts follow BasicSR's EDVR (``conv_first``,
    ``feature_extraction``, ``pcd_align``, ``fusion``, ``reconstruction``); the x4 head's
    convolutions live under ``heads.x4``.

    Build it with :func:`vsr.models.build_edvr`; the arguments are the keys of
    :attr:`config`.

    Args:
        num_feat: feature channels.
        num_frame: input frames T (odd; the centre frame ``T // 2`` is restored).
        deformable_groups: offset groups of every DCN.
        num_extract_block: residual blocks of the per-frame feature extractor.
        num_reconstruct_block: residual blocks of the reconstruction trunk.
        with_tsa: TSA fusion; otherwise a 1x1 convolution over the stacked frames.
        trunk_conv: ``static`` | ``dynamic_filter`` | ``dynamic`` | ``cond_dynamic``.
        scales: upscaling factors served, each with its own head (subset of 2, 3, 4).
        num_experts: kernels per bank for ``dynamic`` / ``cond_dynamic``.
        cond_dim: size of the condition embedding (``cond_dynamic``).
        routing_content: ``cond_dynamic`` routing also looks at the features' GAP.
        num_hr_feat: channels of the high-resolution convolutions in the heads.
        max_offset: optional bound on |offset| in every DCN (monitor offsets with
            :class:`vsr.models.introspect.OffsetRecorder`).
        base_upsample: interpolation of the centre frame added to the output: PyTorch's
            ``bicubic`` (``F.interpolate``, a = -0.75, as OpenCV's; not MATLAB's imresize),
            or ``bilinear`` as BasicSR's EDVR.
    """

    def __init__(
        self,
        num_feat: int = 64,
        num_frame: int = 5,
        deformable_groups: int = 8,
        num_extract_block: int = 5,
        num_reconstruct_block: int = 10,
        with_tsa: bool = True,
        trunk_conv: str = "cond_dynamic",
        scales: Sequence[int] = SCALES,
        num_experts: int = 4,
        cond_dim: int = 64,
        routing_content: bool = False,
        num_hr_feat: int = 64,
        max_offset: float | None = None,
        base_upsample: str = "bicubic",
    ) -> None:
        super().__init__()
        scales = tuple(sorted(int(s) for s in scales))
        if num_frame < 1 or num_frame % 2 == 0:
            raise ValueError(f"num_frame must be odd (a centre frame), got {num_frame}")
        if trunk_conv not in TRUNK_CONVS:
            raise ValueError(
                f"unknown trunk_conv {trunk_conv!r}: expected one of {', '.join(TRUNK_CONVS)}"
            )
        if not scales or any(s not in SCALES for s in scales):
            raise ValueError(f"scales must be a non-empty subset of {SCALES}, got {scales}")
        if base_upsample not in ("bicubic", "bilinear"):
            raise ValueError(
                f"base_upsample must be 'bicubic' or 'bilinear', got {base_upsample!r}"
            )
        self.config: dict = {
            "num_feat": num_feat,
            "num_frame": num_frame,
            "deformable_groups": deformable_groups,
            "num_extract_block": num_extract_block,
            "num_reconstruct_block": num_reconstruct_block,
            "with_tsa": with_tsa,
            "trunk_conv": trunk_conv,
            "scales": list(scales),
            "num_experts": num_experts,
            "cond_dim": cond_dim,
            "routing_content": routing_content,
            "num_hr_feat": num_hr_feat,
            "max_offset": max_offset,
            "base_upsample": base_upsample,
        }
        self.num_frame = self.num_frames = num_frame
        self.center_frame_idx = num_frame // 2
        self.scales = scales
        self.trunk_conv = trunk_conv
        self.base_upsample = base_upsample

        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.feature_extraction = nn.Sequential(
            *[ResidualBlock(num_feat) for _ in range(num_extract_block)]
        )
        self.conv_l2_1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.conv_l2_2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_l3_1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.conv_l3_2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.pcd_align = PCDAlignment(num_feat, deformable_groups, max_offset=max_offset)
        if with_tsa:
            self.fusion = TSAFusion(num_feat, num_frame, self.center_frame_idx)
        else:
            self.fusion = nn.Conv2d(num_frame * num_feat, num_feat, 1, 1)
        self.with_tsa = with_tsa

        self.condition = (
            ConditionEmbedding(cond_dim, scales) if trunk_conv == "cond_dynamic" else None
        )
        conv_kwargs = {
            "num_experts": num_experts,
            "cond_dim": cond_dim,
            "routing_content": routing_content,
        }
        self.reconstruction = nn.ModuleList(
            ResidualBlock(num_feat, trunk_conv, **conv_kwargs) for _ in range(num_reconstruct_block)
        )
        self.heads = nn.ModuleDict(
            {f"x{s}": UpsampleHead(s, num_feat, num_hr_feat) for s in scales}
        )
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    # ----------------------------------------------------------------------------- checks
    def _check_scale(self, scale: int | torch.Tensor) -> int:
        values = sorted({int(v) for v in torch.as_tensor(scale).reshape(-1).tolist()})
        if len(values) != 1:
            raise ValueError(
                f"one scale per batch is required (output sizes differ), got scales {values}"
            )
        if values[0] not in self.scales:
            raise ValueError(
                f"unknown scale {values[0]}: this model serves scales "
                f"{', '.join(str(s) for s in self.scales)}"
            )
        return values[0]

    def _check_frames(self, frames: torch.Tensor) -> None:
        if frames.dim() != 5 or frames.shape[1] != self.num_frame or frames.shape[2] != 3:
            raise ValueError(
                f"frames must have shape (B, T={self.num_frame}, 3, H, W), "
                f"got {tuple(frames.shape)}"
            )

    # ---------------------------------------------------------------------------- forward
    def extract_features(self, frames: torch.Tensor) -> FrameFeatures:
        """The per-frame part of the network: what one frame contributes to any window.

        The feature pyramid and the neighbour half of the alignment's first offset
        convolutions depend on one frame only, so a video pipeline can compute them once
        per frame and reuse them in every window that frame is in (``T`` windows) instead of
        recomputing them per window; :meth:`restore` does the rest. ``forward`` is exactly
        ``restore(extract_features(frames), ...)`` on the windows' frames.

        Args:
            frames: ``(N, 3, H, W)`` in [0, 1], any H and W (replicate-padded here to a
                multiple of 4 for the pyramid).

        Returns:
            The features of the N frames.
        """
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must have shape (N, 3, H, W), got {tuple(frames.shape)}")
        h, w = frames.shape[-2:]
        ph, pw = (-h) % _MULTIPLE, (-w) % _MULTIPLE
        if ph or pw:
            frames = F.pad(frames, (0, pw, 0, ph), mode="replicate")
        l1 = self.feature_extraction(self.lrelu(self.conv_first(frames)))
        l2 = self.lrelu(self.conv_l2_2(self.lrelu(self.conv_l2_1(l1))))
        l3 = self.lrelu(self.conv_l3_2(self.lrelu(self.conv_l3_1(l2))))
        levels = (l1, l2, l3)
        return FrameFeatures(levels, tuple(self.pcd_align.project_neighbours(list(levels))))

    def forward(
        self,
        frames: torch.Tensor,
        scale: int | torch.Tensor = 4,
        degradation: str | int | Sequence | torch.Tensor = "bicubic",
        strength: float | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Restore and upscale the centre frame.

        Args:
            frames: ``(B, T, 3, H, W)`` in [0, 1], any H and W.
            scale: one of :attr:`scales` (an int, or a LongTensor ``(B,)`` of equal values).
            degradation: a name from :data:`vsr.conditions.DEGRADATIONS`, or ids
                (LongTensor ``(B,)``), one per sample.
            strength: optional degradation strength, float or FloatTensor ``(B,)`` in [0, 1].

        Returns:
            ``(B, 3, scale*H, scale*W)``.

        Raises:
            ValueError: for an unknown scale or degradation, or frames of the wrong shape.
        """
        self._check_frames(frames)
        self._check_scale(scale)  # before the expensive part
        b, t, c, h, w = frames.shape
        features = self.extract_features(frames.reshape(b * t, c, h, w))
        centre = frames[:, self.center_frame_idx]
        return self.restore(features, centre, scale, degradation, strength)

    def restore(
        self,
        features: FrameFeatures,
        centre: torch.Tensor,
        scale: int | torch.Tensor = 4,
        degradation: str | int | Sequence | torch.Tensor = "bicubic",
        strength: float | torch.Tensor | None = None,
        frames_per_alignment: int | None = None,
    ) -> torch.Tensor:
        """The per-window part: align, fuse, reconstruct and upscale.

        Args:
            features: :meth:`extract_features` of the B windows' frames, ``B*T`` in all,
                window by window (frame ``j`` of window ``i`` at ``i*T + j``).
            centre: the windows' centre frames ``(B, 3, H, W)`` (upsampled and added).
            scale, degradation, strength: as :meth:`forward`.
            frames_per_alignment: frames aligned per pass (None: all T at once); the same
                result in less memory (see :meth:`PCDAlignment.forward`).

        Returns:
            ``(B, 3, scale*H, scale*W)``.
        """
        s = self._check_scale(scale)
        b, _, h, w = centre.shape
        t = self.num_frame
        if features.batch_size != b * t:
            raise ValueError(
                f"features must be extract_features of {b} windows of {t} frames "
                f"({b * t} frames), got {features.batch_size} frames"
            )
        degradation_ids(degradation, b)  # checked before the expensive part, model or not
        cond = None
        if self.condition is not None:
            cond = self.condition(s, degradation, strength, batch_size=b)

        levels, projections = list(features.levels), list(features.projections)
        hp, wp = features.size  # padded to a multiple of 4; cropped back at the end
        ci = self.center_frame_idx
        refs = [f.reshape(b, t, *f.shape[1:])[:, ci] for f in levels]
        # All (window, frame) pairs go through the alignment as one batch of B*T.
        aligned = self.pcd_align(levels, projections, refs, frames_per_alignment)
        aligned = aligned.reshape(b, t, -1, hp, wp)

        feat = self.fusion(aligned if self.with_tsa else aligned.reshape(b, -1, hp, wp))
        for block in self.reconstruction:
            feat = block(feat, cond)
        out = self.heads[f"x{s}"](feat)[..., : s * h, : s * w]
        base = F.interpolate(centre, scale_factor=s, mode=self.base_upsample, align_corners=False)
        return out + base

    # ------------------------------------------------------------------------ growing
    def load_shallower_trunk(self, state_dict: dict[str, torch.Tensor]) -> int:
        """Load the weights of this EDVR with a shorter reconstruction trunk, and deepen it.

        The file's blocks fill the start of the trunk; the blocks it lacks, at the end, start
        as the identity (their second convolution, weights and biases, is zero), so the
        deeper model computes exactly what the file's did and training only adds to it.
        That is how a trained model grows capacity where it is cheap (the trunk runs at
        input resolution) without starting over.

        Returns:
            The number of blocks added.

        Raises:
            ValueError: when the file's trunk is not shorter, or any other weight does not fit.
        """
        prefix = "reconstruction."
        theirs = {int(k[len(prefix) :].split(".")[0]) for k in state_dict if k.startswith(prefix)}
        depth = max(theirs, default=-1) + 1
        if depth >= len(self.reconstruction):
            raise ValueError(
                f"the file's trunk has {depth} blocks, this model's {len(self.reconstruction)}: "
                "only a shorter trunk can be deepened"
            )
        ours = self.state_dict()
        missing = sorted(
            k for k in ours
            if k not in state_dict
            and not (k.startswith(prefix) and int(k[len(prefix) :].split(".")[0]) >= depth)
        )
        unexpected = sorted(set(state_dict) - set(ours))
        if missing or unexpected:
            raise ValueError(
                f"weights do not fit beyond the trunk: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}"
            )
        self.load_state_dict(state_dict, strict=False)
        for block in list(self.reconstruction)[depth:]:
            nn.init.zeros_(block.conv2.weight)
            if block.conv2.bias is not None:
                nn.init.zeros_(block.conv2.bias)
        return len(self.reconstruction) - depth

    # -------------------------------------------------------------------- introspection
    def set_temperature(self, t: float) -> None:
        """Set the routing softmax temperature of every kernel-bank layer of the trunk."""
        for module in self.modules():
            if isinstance(module, KernelBankConv2d):
                module.set_temperature(t)
