"""Fitting the PixelCNN prior on a run's code maps (encoded once, cached in RUN_DIR/codes), best by validation NLL."""
from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import config as config_mod
from ..codes import cached_codes, position_labels, training_codes
from ..config import Config
from ..data.datamodule import discover_from_config
from ..errors import VqmriError
from ..models.factory import build_prior
from ..models.gaussian_top import GaussianTop
from ..models.prior import CodePrior
from ..runs import Run, RunLock, load_prior, read_checkpoint
from ..vqmodel import VQModel
from .autoencoder import finalize_best
from .trainer import AtomicCheckpointIO, BudgetSchedule, make_trainer, resume_checkpoint


class CodeDataModule(L.LightningDataModule):
    def __init__(self, train: list[torch.Tensor], val: list[torch.Tensor], batch_size: int):
        super().__init__()
        self.train, self.val, self.batch_size = train, val, batch_size

    def train_dataloader(self):
        return DataLoader(TensorDataset(*self.train), batch_size=self.batch_size, shuffle=True,
                          drop_last=len(self.train[0]) > self.batch_size)

    def val_dataloader(self):
        return DataLoader(TensorDataset(*self.val), batch_size=self.batch_size)


class PriorModule(L.LightningModule):
    def __init__(self, cfg: Config, codebook_size: int | list[int], levels: int, shapes: list | None = None,
                 autoencoder: str | None = None):
        super().__init__()
        self.save_hyperparameters({"cfg": cfg.to_dict(), "codebook_size": codebook_size, "levels": levels,
                                   "shapes": shapes, "autoencoder": autoencoder})
        self.cfg = cfg
        self.prior = build_prior(cfg, codebook_size, levels, shapes)
        self.fitted = trained_levels(cfg.prior.level, levels)
        if len(self.fitted) < levels:  # frozen, not just left out of the optimizer: DDP then ignores them too
            self.prior.requires_grad_(False)
            for q in (q for i in self.fitted for q in self.prior.level_parameters(i)):
                q.requires_grad_(True)

    def _bits(self, batch) -> dict[int, torch.Tensor]:
        """batch: the code maps per level, then the slice-position labels when the prior is class-conditioned."""
        batch = list(batch)
        label = batch.pop() if self.prior.num_classes else None
        return dict(zip(self.fitted, map(CodePrior.bits, self.prior.nll(batch, label, self.fitted))))

    def training_step(self, batch, batch_idx):
        bits = self._bits(batch)
        for i, b in bits.items():
            self.log(f"train/bits_per_code_level{i}", b, prog_bar=True, on_step=True, on_epoch=True)
        return sum(bits.values()) * math.log(2)

    def validation_step(self, batch, batch_idx):
        bits = self._bits(batch)
        n = {i: batch[i][0].numel() for i in bits}
        total = sum(b * n[i] for i, b in bits.items()) / sum(n.values())
        for i, b in bits.items():
            self.log(f"val/bits_per_code_level{i}", b, sync_dist=True, batch_size=len(batch[0]))
        self.log("val/bits_per_code", total, prog_bar=True, sync_dist=True, batch_size=len(batch[0]))
        self.log("val/neg_bits_per_code", -total, sync_dist=True, batch_size=len(batch[0]))

    def configure_optimizers(self):
        return torch.optim.AdamW([q for q in self.parameters() if q.requires_grad], lr=self.cfg.prior.lr)


LEVELS = {"all": None, "top": [0], "bottom": [1], "each": None}
# where and how a fit runs, not what it fits: train-prior accepts these beside prior.* and does not store them
RUNTIME = {("train", k) for k in ("devices", "accelerator", "num_nodes", "precision")}


def trained_levels(level: str, levels: int) -> list[int]:
    """`prior.level`: which levels of a VQ-VAE-2 prior a `train-prior` call fits. Razavi et al. fit the top and
    bottom priors separately: the small 16x16 top map trains many times faster alone, and it is what decides
    whether a sample is a whole brain."""
    if level not in LEVELS:
        raise VqmriError(f"prior.level={level!r}: use all, top or bottom")
    if LEVELS[level] is not None and levels != 2:
        raise VqmriError(f"prior.level={level} is for two-level (VQ-VAE-2) runs; this run has one code map: "
                         "leave prior.level=all")
    if level == "each" and levels != 2:
        raise VqmriError("prior.level=each is for two-level (VQ-VAE-2) runs; leave prior.level=all")
    return LEVELS[level] or list(range(levels))


def train_prior(run_dir: str | Path, max_minutes: float | None = None, max_epochs: int | None = None,
                resume: bool = False, overrides: list[str] = (), fresh: bool = False) -> Run:
    """Fit the run's prior on its cached code maps (`fresh`: a new prior even when fitting one level)."""
    run = Run.open(run_dir)
    changes: dict = {"prior": {}}
    for item in overrides:
        over = config_mod.parse_override(item)
        section, key = next(iter(over)), next(iter(next(iter(over.values()))))
        if section != "prior" and (section, key) not in RUNTIME:
            raise VqmriError(f"train-prior changes the prior's settings only; '{item}' belongs to the autoencoder, "
                             "which is fixed once trained (train a new run to change it)")
        changes = config_mod.merge(changes, over)
    if max_minutes is not None:
        changes["prior"]["max_minutes"] = max_minutes
    if max_epochs is not None:
        changes["prior"]["max_epochs"] = max_epochs
    cfg = config_mod.validate(run.config, **changes)
    p = cfg.prior
    model = VQModel(run.root)
    if p.level == "gaussian":
        return _fit_gaussian_only(run, cfg, model)
    trained_levels(p.level, len(model.code_shapes()))
    if p.level == "each":
        return _fit_each_level(run, cfg, list(overrides), resume)
    L.seed_everything(p.seed, workers=True, verbose=False)
    train_codes, train_pos = training_codes(model, p.mirror, p.augment, p.augment_degrees)
    has_val = bool(discover_from_config(cfg, run.root).splits.get("validate"))
    val_codes, val_pos = cached_codes(model, "validate") if has_val else (train_codes, train_pos)
    ckpt_dir, log_dir = run.prior / "checkpoints", run.prior / "logs"
    module = PriorModule(cfg, model.codebook_sizes, len(train_codes), [list(c.shape[1:]) for c in train_codes],
                         model.checkpoint_id)
    if p.classes:
        train_codes = train_codes + [position_labels(train_pos, p.classes)]
        val_codes = val_codes + [position_labels(val_pos, p.classes)]
    dm = CodeDataModule(train_codes, val_codes, p.batch_size)
    schedule = BudgetSchedule(p.lr, "cosine", 0.02, p.max_minutes)
    tcfg = cfg.train.model_copy(update={"grad_clip": 1.0})
    # bf16 where the CPU has it: the same minutes fit a better prior (benchmarks/RESULTS.md, "top prior")
    trainer = make_trainer(tcfg, ckpt_dir, log_dir, "val/neg_bits_per_code", [schedule], p.max_epochs,
                           p.max_minutes, cpu_bf16=True)
    ckpt = resume_checkpoint(ckpt_dir) if resume else None
    if ckpt is None and not fresh and p.level != "all" and (ckpt_dir / "best.ckpt").exists():
        start_from_existing(module, ckpt_dir, p.level)
    if module.prior.gaussian_top is not None:
        fit_gaussian_top(module.prior.gaussian_top, model, p.classes, p.top_spread)
    with RunLock(run.root, "train-prior"):
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
        finalize_best(trainer, module, dm, run, "val/neg_bits_per_code", ckpt_dir)
        if trainer.is_global_zero:  # the prior's settings are the run's once it exists, not before; nothing else
            config_mod.save(config_mod.validate(run.config, prior=p.model_dump()), run.config_path)
    return run


def _fit_each_level(run: Run, cfg: Config, overrides: list[str], resume: bool) -> Run:
    """`prior.level=each`: a new prior's top alone for `prior.top_share` of the budget, then its bottom alone for
    the rest (each level's fit is an ordinary one-level fit; the run's config then says `each` again)."""
    if resume:
        raise VqmriError("--resume continues one level's fit: add prior.level=top or prior.level=bottom")
    p = cfg.prior
    share = {"top": p.top_share, "bottom": 1 - p.top_share}
    for level in ("top", "bottom"):
        budget = [f"prior.max_minutes={p.max_minutes * share[level]}"] if p.max_minutes else []
        train_prior(run.root, None, p.max_epochs, False, [*overrides, f"prior.level={level}", *budget],
                    fresh=level == "top")
    config_mod.save(config_mod.validate(run.config, prior=p.model_dump()), run.config_path)
    return run


def fit_gaussian_top(top: GaussianTop, model: VQModel, classes: int, spread: float) -> GaussianTop:
    """`prior.top_sampler=gaussian`: the Gaussian top from the train split's own top codes in `classes`
    slice-position classes (no jittered copies: a copy of each slice adds no new anatomy, and the vectors of all nine
    would take gigabytes), in closed form."""
    codes, positions = cached_codes(model, "train")
    labels = position_labels(positions, classes) if classes else None
    return top.fit(model.code_vectors(0, codes[0]), labels, model.codebook(0), spread)


def _fit_gaussian_only(run: Run, cfg: Config, model: VQModel) -> Run:
    """`prior.level=gaussian`: the run's prior kept as it is (both networks), its Gaussian top fitted afresh and its
    settings now `prior.top_sampler=gaussian` (the prior before it kept as before_gaussian.ckpt)."""
    ckpt_dir = run.prior / "checkpoints"
    best = ckpt_dir / "best.ckpt"
    if len(model.code_shapes()) != 2:
        raise VqmriError("prior.level=gaussian adds a Gaussian top to a two-level prior; this run has one level")
    if not best.exists():
        raise VqmriError(f"prior.level=gaussian adds a Gaussian top to a fitted prior; fit one first "
                         f"(`vqmri train-prior {run.root}`)")
    fitted = load_prior(run)  # refuses a prior fitted to an earlier autoencoder checkpoint
    ckpt = read_checkpoint(best)
    own = config_mod.from_dict(ckpt["hyper_parameters"]["cfg"])
    cfg = config_mod.validate(own, prior={**own.prior.model_dump(), "top_sampler": "gaussian",
                                          "top_components": cfg.prior.top_components,
                                          "top_spread": cfg.prior.top_spread, "level": own.prior.level})
    hp = ckpt["hyper_parameters"]
    prior = build_prior(cfg, hp["codebook_size"], hp["levels"], hp.get("shapes"))
    # the networks' weights; a Gaussian fitted before (perhaps of another size) is fitted again
    state = {k: v for k, v in fitted.state_dict().items() if not k.startswith("gaussian_top.")}
    missing = prior.load_state_dict(state, strict=False).missing_keys
    if any(not k.startswith("gaussian_top.") for k in missing):
        raise VqmriError(f"the prior in {best} does not fit its own settings ({missing[0]} missing); fit it again")
    fit_gaussian_top(prior.gaussian_top, model, cfg.prior.classes, cfg.prior.top_spread)
    ckpt["state_dict"].update({f"prior.{k}": v for k, v in prior.state_dict().items()})
    hp["cfg"] = cfg.to_dict()
    with RunLock(run.root, "train-prior"):
        (ckpt_dir / "before_gaussian.ckpt").write_bytes(best.read_bytes())
        AtomicCheckpointIO().save_checkpoint(ckpt, best)
        config_mod.save(config_mod.validate(run.config, prior=cfg.prior.model_dump()), run.config_path)
    print(f"Fitted the Gaussian top of the prior in {best}; both networks are kept as they were", flush=True)
    return run


def start_from_existing(module: PriorModule, ckpt_dir: Path, level: str) -> None:
    """Fitting one level keeps the other: start from the run's prior (kept as before_LEVEL.ckpt). The kept level's
    weights must load; the fitted level's load where they fit (the same network continues) and start afresh where
    they do not (another bottom network, `prior.bottom_arch`, over the same top)."""
    best = ckpt_dir / "best.ckpt"
    state = read_checkpoint(best)["state_dict"]
    own = module.state_dict()
    kept = 1 - LEVELS[level][0]
    kept_ids = {id(q) for q in module.prior.level_parameters(kept)}
    kept_names = [n for n, q in module.named_parameters() if id(q) in kept_ids]
    bad = [n for n in kept_names if n not in state or state[n].shape != own[n].shape]
    net = f"prior.nets.{kept}."  # the kept network must be the stored one whole, not a part of it
    bad += sorted({k for k in state if k.startswith(net)} ^ {k for k in own if k.startswith(net)})
    if bad:
        raise VqmriError(f"prior.level={level} keeps the other level of the prior in {best}, but its settings differ "
                         f"from that prior's ({bad[0]}); use its settings, or prior.level=all to fit a new prior")
    module.load_state_dict({k: v for k, v in state.items() if k in own and own[k].shape == v.shape}, strict=False)
    keep = ckpt_dir / f"before_{level}.ckpt"
    keep.write_bytes(best.read_bytes())
    print(f"Fitting the {level} level of the prior in {best}; the other level is kept as it is", flush=True)
