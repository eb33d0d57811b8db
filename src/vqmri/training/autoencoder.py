"""Fitting the VQ-VAE / VQ-VAE-2: loss = reconstruction + codebook + beta * commitment; best checkpoint by val SSIM."""
from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import torch

from .. import config as config_mod
from ..config import Config
from ..data.datamodule import SliceDataModule, discover_from_config
from ..evaluation import metrics
from ..evaluation.figures import FiguresCallback
from ..models.discriminator import PatchDiscriminator, score_together
from ..models.factory import build_autoencoder
from ..runs import Run, RunLock
from ..vqmodel import VQModel
from .losses import adaptive_weight, generator_loss, hinge_d_loss, reconstruction_loss
from .trainer import BudgetSchedule, batches_done, make_trainer, resume_checkpoint


def _random_crop(size: int, full: int):
    """A function cutting one random size x size window (the same for every image of the batch: the decoded and the
    real side see the same place) out of (B, 1, full, full) tensors; the identity for size 0 or >= full. A patch
    discriminator on crops costs (size / full)^2 of one on whole slices and judges the same local texture."""
    if not size or size >= full:
        return lambda t: t
    i, j = torch.randint(0, full - size + 1, (2,)).tolist()
    return lambda t: t[..., i:i + size, j:j + size]


class AutoencoderModule(L.LightningModule):
    """Reconstruction + codebook loss; with `gan.weight` > 0 also VQGAN's adversarial game (Esser et al. 2021): a
    patch discriminator switches on at `gan.start` of the budget, the decoder's adversarial term is weighted by the
    ratio of gradient norms at its last layer, and both optimizers step each batch (manual optimization)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.codebooks_in_sync: bool | None = None  # several processes: set when the fit ends
        self.save_hyperparameters({"cfg": cfg.to_dict()})  # plain values: a checkpoint loads without unpickling code
        self.cfg = cfg
        self.model = build_autoencoder(cfg)
        g = cfg.gan
        self.adversarial = g.weight > 0
        self.progress = 0.0  # share of the budget spent, set by BudgetSchedule before each batch
        if self.adversarial:
            self.automatic_optimization = False
            self.discriminator = PatchDiscriminator(1, g.channels, g.layers, g.norm)
        # best.ckpt: the sharpest-looking model is the latest one once the game runs, not the one of best SSIM
        self.monitor = "val/step" if self.adversarial else "val/ssim"

    def forward(self, x):
        return self.model(x)

    def _decoder_only(self) -> bool:
        """`gan.decoder_only` once the game is on: codes are fixed, only the decoder (and the discriminator) learn."""
        g = self.cfg.gan
        return self.adversarial and g.decoder_only and self.training and self.progress >= g.start

    def _step(self, x):
        if self._decoder_only():
            with torch.no_grad():  # eval mode: no codebook (EMA) update, no dead-code restart, no dropout of levels
                self.model.eval()
                qs = self.model.quantize(x)
                self.model.train()
            x_hat = self.model.decode_latents([q.quantized for q in qs])
            rec = reconstruction_loss(x_hat.float(), x, self.cfg.train.loss, self.cfg.train.ssim_weight)
        else:  # every decoding the model offers is compared with x (residual VQ-VAE-2: the top's own too)
            outs, qs = self.model.reconstructions(x)
            x_hat = outs[0]
            rec = sum(reconstruction_loss(o.float(), x, self.cfg.train.loss, self.cfg.train.ssim_weight) for o in outs)
        vq = sum(q.loss for q in qs)
        return x_hat, qs, rec, vq

    def training_step(self, x, batch_idx):
        x_hat, qs, rec, vq = self._step(x)
        loss = rec + vq
        if self.adversarial:
            self._adversarial_step(x, x_hat, loss)
        self.log_dict({"train/loss": loss, "train/rec": rec, "train/vq": vq}, prog_bar=False, on_step=True,
                      on_epoch=True)
        for i, q in enumerate(qs):
            suffix = "" if len(qs) == 1 else f"_{'top' if i == 0 else 'bottom'}"
            self.log(f"train/perplexity{suffix}", q.perplexity, prog_bar=True, on_step=True, on_epoch=True)
            self.log(f"train/usage{suffix}", q.usage, on_step=False, on_epoch=True)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def validation_step(self, x, batch_idx):
        x_hat, qs, rec, vq = self._step(x)
        s = metrics.ssim(x_hat.float().clamp(0, 1), x)
        self.log("val/ssim", s.mean(), prog_bar=True, on_epoch=True, sync_dist=True, batch_size=len(x))
        self.log("val/loss", rec + vq, on_epoch=True, sync_dist=True, batch_size=len(x))
        self.log("val/perplexity", qs[-1].perplexity, on_epoch=True, sync_dist=True, batch_size=len(x))
        self.log("val/step", float(self.global_step), on_epoch=True, sync_dist=True, batch_size=len(x))
        # training minutes so far (resumed runs included): learning curves against the clock, e.g. fine-tuning's
        self.log("val/minutes", float(getattr(self, "minutes", 0.0)), on_epoch=True, sync_dist=True,
                 batch_size=len(x))

    def _adversarial_step(self, x: torch.Tensor, x_hat: torch.Tensor, loss: torch.Tensor) -> None:
        """One step of each player. Before `gan.start` only the autoencoder learns (the discriminator would win at
        once against blurry early reconstructions and teach nothing)."""
        g = self.cfg.gan
        opt_ae, opt_d = self.optimizers()
        on = self.progress >= g.start
        crop = _random_crop(g.crop, x.shape[-1]) if on else None
        if on:
            real, fake = crop(x), crop(x_hat.float())
            g_loss = generator_loss(score_together(self.discriminator, real, fake)[1])
            weight = g.weight * (adaptive_weight(loss, g_loss, self.model.last_layer()) if g.adaptive else 1.0)
            loss = loss + weight * g_loss
            self.log_dict({"train/g_loss": g_loss, "train/adv_weight": weight}, on_step=True, on_epoch=True)
        opt_ae.zero_grad()
        self.manual_backward(loss)
        self._clip(opt_ae)
        opt_ae.step()
        if on:
            d_loss = hinge_d_loss(*score_together(self.discriminator, real, fake.detach()))
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            self._clip(opt_d)
            opt_d.step()
            self.log("train/d_loss", d_loss, on_step=True, on_epoch=True, prog_bar=True)

    def _clip(self, opt) -> None:
        clip = self.cfg.train.grad_clip
        if clip:
            self.clip_gradients(opt, gradient_clip_val=clip, gradient_clip_algorithm="norm")

    def on_train_end(self):
        """Several processes: check that every process ended with the same codebooks (the quantizer synchronises
        its own statistics; DDP does not broadcast buffers), so that a broken synchronisation is reported, not
        silently averaged away. The verdict goes into train_summary.json (`codebooks_in_sync`)."""
        self.codebooks_in_sync = None
        if self.trainer.world_size > 1:
            books = [t.detach().double() for n, t in [*self.model.named_buffers(), *self.model.named_parameters()]
                     if n.endswith("embed")]
            mine = torch.stack([torch.cat([b.flatten() for b in books]).sum(), sum(b.pow(2).sum() for b in books)])
            every = self.all_gather(mine).reshape(-1, 2)
            self.codebooks_in_sync = bool(torch.equal(every, every[:1].expand_as(every)))
            if not self.codebooks_in_sync:
                print("warning: the processes ended with different codebooks; report this as a bug", flush=True)

    def configure_optimizers(self):
        t = self.cfg.train
        ae = torch.optim.AdamW(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay, betas=(0.9, 0.99))
        if not self.adversarial:
            return ae
        d = torch.optim.AdamW(self.discriminator.parameters(), lr=self.cfg.gan.lr, betas=(0.5, 0.9))
        return [ae, d]


def train_autoencoder(cfg: Config, out: Path, resume: bool = False) -> Run:
    """Train (or resume) into `out`; returns the run. Honors train.max_epochs and train.max_minutes."""
    run = Run(out)
    if resume:
        cfg = run.make().config
    cfg = config_mod.validate(cfg)  # a bad setting ends here, before anything is written
    start = None
    if cfg.train.init and not resume:  # fine-tuning: the starting model's architecture and size come with it
        start = VQModel(cfg.train.init, device="cpu")
        # the codebook's form comes with it too; how it learns (decay, beta, dead-code restarts) is this run's setting
        form = start.config.quantizer.model_dump(include={"ema", "init", "l2_norm"})
        cfg = config_mod.validate(cfg, model=start.config.model.model_dump(), quantizer=form,
                                  data={"image_size": start.image_size})
    t = cfg.train
    L.seed_everything(t.seed, workers=True, verbose=False)
    # a bad --data or bad model settings end here, before a new run folder is written
    discovery = discover_from_config(cfg, run.root if resume else None)
    module = AutoencoderModule(cfg)
    if start is not None:
        module.model.load_state_dict(start.net.state_dict())
    dm = SliceDataModule(cfg, discovery, t.batch_size)
    for split in ("train", "validate"):  # unreadable or unusable data ends here, before the run folder is written
        if split == "train" or dm.has(split):
            dm.split(split)
    with RunLock(run.root, "train"):
        if not resume:
            run.make()
            config_mod.save(cfg, run.config_path)
            discovery.save(run.root / "splits.json")
        ckpt = resume_checkpoint(run.checkpoints) if resume else None
        schedule = BudgetSchedule(t.lr, t.schedule, t.warmup, t.max_minutes)
        # manual optimization (the adversarial game) clips its own gradients; Lightning refuses to do it there
        tcfg = t.model_copy(update={"grad_clip": 0.0}) if module.adversarial else t
        trainer = make_trainer(tcfg, run.checkpoints, run.logs, module.monitor,
                               [schedule, FiguresCallback(run, dm)], t.max_epochs, t.max_minutes, t.val_every,
                               module.adversarial)
        t0 = time.monotonic()
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
        write_summary(run.root / "train_summary.json", trainer, t0, t.batch_size, module.codebooks_in_sync)
        finalize_best(trainer, module, dm, run, module.monitor)
    return run


def write_summary(path: Path, trainer: L.Trainer, t0: float, batch_size: int, in_sync: bool | None = None) -> None:
    """Steps (batches), images seen, wall time and images/s of this fit (appended per session, so resumed runs add
    up: the steps of earlier sessions are those the summary already holds); with several processes, whether their
    codebooks ended identical."""
    if not trainer.is_global_zero:
        return
    seconds = time.monotonic() - t0
    sessions = json.loads(path.read_text())["sessions"] if path.exists() else []
    steps = batches_done(trainer) - sum(s["steps"] for s in sessions)
    images = steps * batch_size * trainer.world_size
    sessions.append({"steps": steps, "images": images, "seconds": round(seconds, 1),
                     "images_per_s": round(images / max(seconds, 1e-9), 2), "epochs_done": trainer.current_epoch,
                     "world_size": trainer.world_size,
                     **({"codebooks_in_sync": in_sync} if in_sync is not None else {})})
    total = {k: sum(s[k] for s in sessions) for k in ("steps", "images", "seconds")}
    total["images_per_s"] = round(total["images"] / max(total["seconds"], 1e-9), 2)
    path.write_text(json.dumps({"sessions": sessions, "total": total}, indent=1))


def finalize_best(trainer: L.Trainer, module: L.LightningModule, dm, run: Run, monitor: str = "val/ssim",
                  folder: Path | None = None) -> None:
    """A time budget can stop mid-epoch after the last validation; validate the final weights and keep them as
    best.ckpt when they beat the best so far (or when nothing was validated yet)."""
    folder = folder or run.checkpoints
    cb = trainer.checkpoint_callback
    if trainer.global_step == 0:
        return
    saved_now = cb is not None and getattr(cb, "_last_global_step_saved", -1) == trainer.global_step
    if saved_now and (folder / "best.ckpt").exists():
        return
    score = trainer.validate(module, datamodule=dm, verbose=False)[0][monitor]
    best = cb.best_model_score if cb is not None else None
    if best is None or score > float(best) or not (folder / "best.ckpt").exists():
        trainer.save_checkpoint(folder / "best.ckpt")
    trainer.save_checkpoint(folder / "last.ckpt")
