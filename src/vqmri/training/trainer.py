"""The pieces of Lightning set-up both trainings share: atomic checkpoints, a budget-aware learning-rate schedule,
the Trainer itself (logs, time budget, DDP) and the checkpoint a resume starts from."""
from __future__ import annotations

import logging
import math
import os
import time
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.strategies import DDPStrategy

from ..config.schema import Train
from ..cpu import native_bf16_cpu
from ..errors import VqmriError
from ..runs import pid_alive, read_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file in the same folder, then rename: a crash never leaves a torn checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        for stale in path.parent.glob(f".{path.name}.tmp-*"):  # a killed process's half-written file
            pid = stale.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not pid_alive(int(pid)):
                stale.unlink(missing_ok=True)
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        except OSError as e:  # disk full, quota: the old checkpoint stays, no half-written file is left behind
            raise VqmriError(f"cannot write checkpoint {path} ({e.strerror or e}); free space there and resume "
                             "with --resume (the previous checkpoint is intact)") from None
        finally:
            tmp.unlink(missing_ok=True)


class RunCheckpoint(ModelCheckpoint):
    """best.ckpt / last.ckpt that keep their best score when the run folder is copied or moved: Lightning forgets it
    when the folder's path changed, and a resumed run then replaced best.ckpt with a worse model."""

    def load_state_dict(self, state_dict: dict) -> None:
        moved = {**state_dict, "dirpath": self.dirpath}
        for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
            if moved.get(key):
                moved[key] = str(Path(self.dirpath) / Path(moved[key]).name)
        moved["best_k_models"] = {str(Path(self.dirpath) / Path(k).name): v
                                  for k, v in state_dict.get("best_k_models", {}).items()}
        super().load_state_dict(moved)


class HistoryCSVLogger(CSVLogger):
    """CSVLogger that continues logs/metrics.csv on resume instead of deleting the earlier epochs' rows."""

    @property
    def experiment(self):
        path = Path(self.log_dir) / "metrics.csv"
        earlier = path.read_text() if self._experiment is None and path.exists() else ""
        writer = super().experiment  # a new writer deletes metrics.csv (other ranks get a stand-in)
        if earlier and self._experiment is not None:
            path.write_text(earlier)
            writer.metrics_keys = earlier.splitlines()[0].split(",")
        return writer


def batches_done(trainer: L.Trainer) -> int:
    """Training batches so far, resumed runs included. Not `global_step`: that counts optimizer steps, two a batch
    once an adversarial run's discriminator plays."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


class BudgetSchedule(Callback):
    """Warm-up then cosine decay over whichever budget ends first: steps (max_epochs) or wall time (max_minutes).

    A fixed-minute CPU budget otherwise ends with the learning rate still high; this anneals it by the clock.
    """

    def __init__(self, lr: float, kind: str = "cosine", warmup: float = 0.03, max_minutes: float | None = None,
                 floor: float = 0.02):
        self.lr, self.kind, self.warmup, self.floor = lr, kind, warmup, floor
        self.seconds = max_minutes * 60 if max_minutes else None
        self.elapsed_before = 0.0
        self.start = None

    def on_train_start(self, trainer, pl_module):
        self.start = time.monotonic()

    def progress(self, trainer) -> float:
        total = trainer.estimated_stepping_batches
        p = batches_done(trainer) / total if total and math.isfinite(total) else 0.0
        if self.seconds:
            p = max(p, (self.elapsed_before + time.monotonic() - self.start) / self.seconds)
        return min(p, 1.0)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        p = self.progress(trainer)
        pl_module.progress = p  # e.g. when the discriminator of an adversarial run switches on
        pl_module.minutes = (self.elapsed_before + time.monotonic() - self.start) / 60  # logged as val/minutes
        scale = 1.0
        if self.kind == "cosine":
            scale = self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * p))
        if self.warmup > 0:
            scale *= min(1.0, (p + 1e-9) / self.warmup)
        for g in trainer.optimizers[0].param_groups:
            g["lr"] = self.lr * scale
        for opt in trainer.optimizers[1:]:  # a discriminator anneals with the autoencoder, from its own rate
            for g in opt.param_groups:
                g["lr"] = g.setdefault("base_lr", g["lr"]) * scale

    def state_dict(self):
        elapsed = self.elapsed_before + (time.monotonic() - self.start if self.start else 0.0)
        return {"elapsed": elapsed}

    def load_state_dict(self, state):
        self.elapsed_before = state.get("elapsed", 0.0)


def precision_for(setting: str, cpu_bf16: bool = False) -> str:
    """`train.precision` for Lightning. `auto`: mixed precision on a GPU; on a CPU float32, or bf16-mixed where
    `cpu_bf16` (a fit measured as good in bf16: the priors) and the CPU has bf16 in hardware."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_bf16 and native_bf16_cpu() else "32-true"


class _Chatter(logging.Filter):
    """Lightning's banners and adverts (hardware lines, a logging-service tip, 'fit stopped'): vqmri prints what a user
    needs itself. Warnings and errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def quiet_lightning() -> None:
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _Chatter) for f in log.filters):
            log.addFilter(_Chatter())
        for h in log.handlers:
            if not any(isinstance(f, _Chatter) for f in h.filters):
                h.addFilter(_Chatter())


def make_trainer(tcfg: Train, ckpt_dir: Path, log_dir: Path, monitor: str, extra_callbacks: list,
                 max_epochs: int | None, max_minutes: float | None, val_every: float = 1.0,
                 find_unused: bool = False, cpu_bf16: bool = False) -> L.Trainer:
    """A Trainer with atomic best/last checkpoints, CSV + TensorBoard logs, time budget and DDP when >1 process.
    `find_unused`: some parameters get no gradient in a backward pass (each player's step of an adversarial run).
    `cpu_bf16`: `train.precision=auto` may choose bf16-mixed on a CPU (`precision_for`)."""
    quiet_lightning()
    best = RunCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="max", save_top_k=1,
                           save_last=True, enable_version_counter=False, auto_insert_metric_name=False)
    periodic = RunCheckpoint(dirpath=ckpt_dir, save_top_k=0, save_last=True, enable_version_counter=False,
                               train_time_interval=timedelta(minutes=2))
    devices, nodes = tcfg.devices, tcfg.num_nodes
    world = int(os.environ.get("WORLD_SIZE", 1))
    many_devices = (isinstance(devices, int) and devices > 1) or (isinstance(devices, list) and len(devices) > 1)
    multi = nodes > 1 or world > 1 or many_devices
    strategy = (DDPStrategy(broadcast_buffers=False, process_group_backend=None, find_unused_parameters=find_unused)
                if multi else "auto")
    return L.Trainer(
        accelerator=tcfg.accelerator, devices=devices, num_nodes=nodes, strategy=strategy,
        precision=precision_for(tcfg.precision, cpu_bf16), max_epochs=max_epochs or -1,
        max_time=timedelta(minutes=max_minutes) if max_minutes else None,
        callbacks=[best, periodic, TQDMProgressBar(refresh_rate=10)] + extra_callbacks,
        logger=[HistoryCSVLogger(log_dir, name="", version=""),
                TensorBoardLogger(log_dir, name="", version="", default_hp_metric=False)],
        plugins=[AtomicCheckpointIO()], gradient_clip_val=tcfg.grad_clip or None,
        val_check_interval=val_every if val_every != 1.0 else None, log_every_n_steps=10,
        enable_model_summary=False, num_sanity_val_steps=0, deterministic=False,
    )


def resume_checkpoint(ckpt_dir: Path) -> Path | None:
    last = ckpt_dir / "last.ckpt"
    if last.exists():
        ckpt = read_checkpoint(last)
        if int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0:
            print(f"Resuming from epoch {ckpt.get('epoch', 0)} (step {ckpt.get('global_step', 0)}) of {last}",
                  flush=True)
        return last
    return None
