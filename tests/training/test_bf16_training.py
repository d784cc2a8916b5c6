"""bf16 mixed-precision training on the CPU: Lightning's ``precision="bf16-mixed"`` for every
trunk convolution, with the deformable operator running its bf16 kernel."""

from __future__ import annotations

import functools

import pytest
import torch
from lightning import Trainer
from torch.utils.data import DataLoader, Dataset

from vsr.models import TRUNK_CONVS, build_edvr
from vsr.ops import DCNv2Pack
from vsr.training import PixelLoss, VSRLitModule


class _Windows(Dataset):
    """Four fixed random windows, x2 bicubic, smooth enough to learn from in a few steps."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.hr = torch.nn.functional.interpolate(
            torch.rand(4, 3, 8, 8, generator=g), size=(32, 32), mode="bilinear"
        )
        self.lr = torch.nn.functional.interpolate(self.hr, scale_factor=0.5, mode="bilinear")

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return {
            "lr": self.lr[i][None].repeat(5, 1, 1, 1),
            "hr": self.hr[i],
            "scale": torch.tensor(2),
            "degradation": torch.tensor(0),
            "strength": torch.tensor(0.0),
            "key": str(i),
        }


@pytest.mark.parametrize("trunk_conv", TRUNK_CONVS)
def test_bf16_mixed_training_steps_on_cpu(trunk_conv: str) -> None:
    torch.manual_seed(0)
    model = build_edvr("tiny", trunk_conv=trunk_conv, scales=(2,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dcn_dtypes = set()
    for m in model.modules():
        if isinstance(m, DCNv2Pack):
            m.register_forward_hook(lambda mod, args, out: dcn_dtypes.add(out.dtype))
    module = VSRLitModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        loss=PixelLoss("charbonnier"),
        lpips=False,
    )
    losses = []

    trainer = Trainer(
        accelerator="cpu", devices=1, precision="bf16-mixed", max_steps=6, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0,
    )
    original = module.training_step

    def step(batch, batch_idx):  # Lightning passes batch_idx by this name
        loss = original(batch, batch_idx)
        losses.append(float(loss))
        return loss

    module.training_step = step
    trainer.fit(module, train_dataloaders=DataLoader(_Windows(), batch_size=2))
    assert dcn_dtypes == {torch.bfloat16}  # the operator ran its bf16 kernel under autocast
    assert all(torch.isfinite(torch.tensor(losses))) and len(losses) == 6
    # Master weights stay float32 and every trainable part moved.
    state = model.state_dict()
    assert all(v.dtype == before[k].dtype for k, v in state.items())
    assert not torch.equal(state["conv_first.weight"], before["conv_first.weight"])
    assert min(losses[-2:]) < max(losses[:2])
