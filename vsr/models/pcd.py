"""PCD alignment: Pyramid, Cascading and Deformable convolution (EDVR, Wang et al. 2019)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vsr.ops import DCNv2Pack


def _upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class PCDAlignment(nn.Module):
    """Align neighbour features to the reference (centre) features on a 3-level pyramid.

    At each level, from coarse (L3, 1/4 size) to fine (L1, full size), offsets are predicted
    from the neighbour and reference features plus the upsampled offsets of the coarser
    level; a modulated deformable convolution samples the neighbour there. A final cascaded
    DCN refines the L1 result. Parameter names follow BasicSR's ``PCDAlignment`` so its
    checkpoints load directly.

    Args:
        num_feat: feature channels.
        deformable_groups: offset groups of every DCN.
        max_offset: optional bound on |offset| passed to every :class:`vsr.ops.DCNv2Pack`.

    Shapes:
        forward(nbr ``[(B*T, C, H, W), (B*T, C, H/2, W/2), (B*T, C, H/4, W/4)]``, their
        :meth:`project_neighbours`, ref ``[(B, C, H, W), ...]``) -> ``(B*T, C, H, W)``.
    """

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8, max_offset=None) -> None:
        super().__init__()
        self.offset_conv1 = nn.ModuleDict()
        self.offset_conv2 = nn.ModuleDict()
        self.offset_conv3 = nn.ModuleDict()
        self.dcn_pack = nn.ModuleDict()
        self.feat_conv = nn.ModuleDict()
        for i in (3, 2, 1):
            level = f"l{i}"
            self.offset_conv1[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
            if i == 3:
                self.offset_conv2[level] = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            else:
                # Takes the level's offset features together with the coarser level's.
                self.offset_conv2[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
                self.offset_conv3[level] = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
                self.feat_conv[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
            self.dcn_pack[level] = DCNv2Pack(
                num_feat,
                num_feat,
                3,
                padding=1,
                deformable_groups=deformable_groups,
                max_offset=max_offset,
            )
        self.cas_offset_conv1 = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
        self.cas_offset_conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.cas_dcnpack = DCNv2Pack(
            num_feat,
            num_feat,
            3,
            padding=1,
            deformable_groups=deformable_groups,
            max_offset=max_offset,
        )
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def project_neighbours(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each level's ``offset_conv1`` applied to the neighbour half of its input.

        ``offset_conv1`` convolves ``cat([neighbour, reference])``; by linearity that is a
        convolution of the neighbour alone (this, with the bias) plus one of the reference
        alone (added in :meth:`forward`). This part depends on one frame only, so a video
        pipeline computes it once per frame instead of once for every window the frame is in.

        Shapes:
            ``[(N, C, H, W), (N, C, H/2, W/2), (N, C, H/4, W/4)]`` -> the same shapes.
        """
        return [
            _conv_part(self.offset_conv1[f"l{i}"], levels[i - 1], 0, with_bias=True)
            for i in (1, 2, 3)
        ]

    def forward(
        self,
        nbr: list[torch.Tensor],
        nbr_proj: list[torch.Tensor],
        ref: list[torch.Tensor],
        frames_per_pass: int | None = None,
    ) -> torch.Tensor:
        """Align every neighbour to its sample's reference.

        Args:
            nbr: the three pyramid levels of every (sample, frame) pair, ``(B*T, C, h, w)``,
                sample-major.
            nbr_proj: :meth:`project_neighbours` of ``nbr``.
            ref: the three levels of each sample's reference frame, ``(B, C, h, w)``. The
                reference halves of the convolutions over ``cat([..., ref])`` run once per
                sample and are broadcast over its T frames.
            frames_per_pass: align this many frames of every sample at a time (None: all
                T at once). The result is the same; fewer frames per pass keep a smaller
                working set (the offset branches hold about 7 feature maps per frame), which
                lets a video pipeline use larger tiles in the same memory.

        Returns:
            ``(B*T, C, H, W)`` aligned features.
        """
        b = ref[0].shape[0]
        t = nbr[0].shape[0] // b
        ref_proj = [
            _conv_part(self.offset_conv1[f"l{i}"], ref[i - 1], 1, with_bias=False)
            for i in (1, 2, 3)
        ]
        ref_cas = _conv_part(self.cas_offset_conv1, ref[0], 1, with_bias=False)
        if frames_per_pass is None or frames_per_pass >= t:
            return self._align(nbr, nbr_proj, ref_proj, ref_cas)
        if frames_per_pass < 1:
            raise ValueError(f"frames_per_pass must be >= 1 or None, got {frames_per_pass}")
        passes = []
        for j in range(0, t, frames_per_pass):
            def frames(x: torch.Tensor, j: int = j) -> torch.Tensor:
                per_sample = x.reshape(b, t, *x.shape[1:])[:, j : j + frames_per_pass]
                return per_sample.reshape(-1, *x.shape[1:])

            aligned = self._align(list(map(frames, nbr)), list(map(frames, nbr_proj)),
                                  ref_proj, ref_cas)
            passes.append(aligned.reshape(b, -1, *aligned.shape[1:]))
        return torch.cat(passes, dim=1).reshape(b * t, *passes[0].shape[2:])

    def _align(
        self,
        nbr: list[torch.Tensor],
        nbr_proj: list[torch.Tensor],
        ref_proj: list[torch.Tensor],
        ref_cas: torch.Tensor,
    ) -> torch.Tensor:
        """:meth:`forward` for given reference halves of offset_conv1 and cas_offset_conv1."""
        up_offset: torch.Tensor | None = None
        up_feat: torch.Tensor | None = None
        feat = nbr[0]
        for i in (3, 2, 1):
            level = f"l{i}"
            offset = self.lrelu(_add_per_sample(nbr_proj[i - 1], ref_proj[i - 1]))
            if up_offset is None:
                offset = self.lrelu(self.offset_conv2[level](offset))
            else:
                offset = self.lrelu(self.offset_conv2[level](torch.cat([offset, up_offset], 1)))
                offset = self.lrelu(self.offset_conv3[level](offset))
            feat = self.dcn_pack[level](nbr[i - 1], offset)
            if up_feat is not None:
                feat = self.feat_conv[level](torch.cat([feat, up_feat], 1))
            if i > 1:
                feat = self.lrelu(feat)
                # These are offset *features*, from which the next level's DCN predicts its
                # offsets in pixels. One pixel at level i spans two pixels at level i-1, so a
                # displacement learned here is twice as large, in pixels, one level finer:
                # the upsampled values are doubled to stay in the finer level's units.
                up_offset = _upsample2x(offset) * 2
                up_feat = _upsample2x(feat)
        # cas_offset_conv1 convolves cat([feat, ref]): split the same way as offset_conv1.
        offset = _add_per_sample(
            _conv_part(self.cas_offset_conv1, feat, 0, with_bias=True), ref_cas
        )
        offset = self.lrelu(self.cas_offset_conv2(self.lrelu(offset)))
        return self.lrelu(self.cas_dcnpack(feat, offset))


def _conv_part(conv: nn.Conv2d, x: torch.Tensor, part: int, with_bias: bool) -> torch.Tensor:
    """``conv`` restricted to input channels ``[part*C, (part+1)*C)``, C = ``x``'s channels."""
    c = x.shape[1]
    weight = conv.weight[:, part * c : (part + 1) * c]
    bias = conv.bias if with_bias else None
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation)


def _add_per_sample(per_pair: torch.Tensor, per_sample: torch.Tensor) -> torch.Tensor:
    """``(B*T, ...) + (B, ...)``, each sample's term broadcast over its T frames."""
    b = per_sample.shape[0]
    out = per_pair.reshape(b, -1, *per_pair.shape[1:]) + per_sample[:, None]
    return out.reshape(per_pair.shape)
