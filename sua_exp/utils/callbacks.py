"""Lightning callbacks of the project."""

from __future__ import annotations

import hashlib
from typing import Any

import lightning as L


class StepReseed(L.Callback):
    """Reseed every RNG before each training step from (seed, global step).

    Dropout masks and any random views of step t then depend only on the seed and t, not on what
    ran before in the process, so a run resumed from a checkpoint after a kill ends with exactly
    the weights (and metrics) of the uninterrupted run. (Reseeding per epoch is not enough:
    Lightning skips `on_train_epoch_start` for the epoch it resumes into.)
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def step_seed(self, step: int) -> int:
        digest = hashlib.blake2b(f"{self.seed}:step:{step}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") & 0x7FFFFFFF

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        L.seed_everything(self.step_seed(trainer.global_step), workers=True, verbose=False)
