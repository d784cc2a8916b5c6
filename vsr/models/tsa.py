"""TSA fusion: temporal attention then spatial attention (EDVR, Wang et al. 2019)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TSAFusion(nn.Module):
    """Fuse aligned frame features into one feature map.

    Temporal attention weighs each frame by the sigmoid of its embedding's similarity to the
    centre frame's (so badly aligned frames count less); a 1x1 conv fuses the weighted frames;
    a two-level spatial attention (max/avg pooling pyramid) then rescales and shifts the
    result. Parameter names follow BasicSR's ``TSAFusion``.

    Args:
        num_feat: feature channels C.
        num_frame: frames T.
        center_frame_idx: index of the reference frame.

    Shapes:
        forward(aligned ``(B, T, C, H, W)``) -> ``(B, C, H, W)``; H and W even.
    """

    def __init__(self, num_feat: int = 64, num_frame: int = 5, center_frame_idx: int = 2) -> None:
        super().__init__()
        self.center_frame_idx = center_frame_idx
        c = num_feat
        self.temporal_attn1 = nn.Conv2d(c, c, 3, 1, 1)
        self.temporal_attn2 = nn.Conv2d(c, c, 3, 1, 1)
        self.feat_fusion = nn.Conv2d(num_frame * c, c, 1, 1)
        self.max_pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg_pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.spatial_attn1 = nn.Conv2d(num_frame * c, c, 1)
        self.spatial_attn2 = nn.Conv2d(c * 2, c, 1)
        self.spatial_attn3 = nn.Conv2d(c, c, 3, 1, 1)
        self.spatial_attn4 = nn.Conv2d(c, c, 1)
        self.spatial_attn5 = nn.Conv2d(c, c, 3, 1, 1)
        self.spatial_attn_l1 = nn.Conv2d(c, c, 1)
        self.spatial_attn_l2 = nn.Conv2d(c * 2, c, 3, 1, 1)
        self.spatial_attn_l3 = nn.Conv2d(c, c, 3, 1, 1)
        self.spatial_attn_add1 = nn.Conv2d(c, c, 1)
        self.spatial_attn_add2 = nn.Conv2d(c, c, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def _pool_pair(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.max_pool(x), self.avg_pool(x)], dim=1)

    def forward(self, aligned: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = aligned.shape
        emb_ref = self.temporal_attn1(aligned[:, self.center_frame_idx])
        emb = self.temporal_attn2(aligned.reshape(b * t, c, h, w)).reshape(b, t, c, h, w)
        corr = torch.sigmoid((emb * emb_ref[:, None]).sum(dim=2))  # (B, T, H, W)
        weighted = (aligned * corr[:, :, None]).reshape(b, t * c, h, w)

        feat = self.lrelu(self.feat_fusion(weighted))

        attn = self.lrelu(self.spatial_attn1(weighted))
        attn = self.lrelu(self.spatial_attn2(self._pool_pair(attn)))
        level = self.lrelu(self.spatial_attn_l1(attn))
        level = self.lrelu(self.spatial_attn_l2(self._pool_pair(level)))
        level = self.lrelu(self.spatial_attn_l3(level))
        level = F.interpolate(level, scale_factor=2, mode="bilinear", align_corners=False)
        attn = self.lrelu(self.spatial_attn3(attn)) + level
        attn = self.lrelu(self.spatial_attn4(attn))
        attn = F.interpolate(attn, scale_factor=2, mode="bilinear", align_corners=False)
        attn = self.spatial_attn5(attn)
        attn_add = self.spatial_attn_add2(self.lrelu(self.spatial_attn_add1(attn)))
        # sigmoid(attn) starts near 0.5; the factor 2 makes the modulation start near 1.
        return feat * torch.sigmoid(attn) * 2 + attn_add
