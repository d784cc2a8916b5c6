"""A callback the subprocess tests add with ``+callbacks.probe=...``: per-rank evidence.

Writes ``rank<r>.json`` into ``out_dir`` with the sample keys the rank trained on and a
float64 checksum plus a SHA-256 of its final weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from lightning import Callback


class RankProbe(Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.keys: list[list[str]] = []
        self.initial = ""

    @staticmethod
    def _digest(module: torch.nn.Module) -> tuple[str, float]:
        h = hashlib.sha256()
        total = 0.0
        for _, v in sorted(module.state_dict().items()):
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
            total += float(v.double().sum())
        return h.hexdigest(), total

    def on_train_start(self, trainer, pl_module) -> None:
        self.initial = self._digest(pl_module.model)[0]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.keys.append(list(batch["key"]))

    def on_train_end(self, trainer, pl_module) -> None:
        digest, total = self._digest(pl_module.model)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "keys": self.keys,
            "initial_sha256": self.initial,
            "sha256": digest,
            "checksum": total,
            "global_step": trainer.global_step,
        }
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))
