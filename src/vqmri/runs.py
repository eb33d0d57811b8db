"""The run folder and every checkpoint in it, read one way: each network is rebuilt from the settings its own
checkpoint carries (not from config.yaml, which a later command may have changed), so a run folder always opens
as what was trained. `VQModel` is the handle every later command works through."""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from . import config as config_mod
from . import weights
from .data import geometry
from .errors import VqmriError
from .models.factory import build_autoencoder, build_prior
from .models.prior import CodePrior
from .progress import bar


class Run:
    """Paths inside RUN_DIR: config.yaml splits.json checkpoints/ logs/ figures/ codes/ prior/ eval/ report.html."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.checkpoints = self.root / "checkpoints"
        self.logs = self.root / "logs"
        self.figures = self.root / "figures"
        self.codes = self.root / "codes"
        self.prior = self.root / "prior"
        self.eval = self.root / "eval"
        self.report = self.root / "report.html"

    @classmethod
    def open(cls, root: str | Path) -> Run:
        run = cls(root)
        if not run.config_path.exists():
            raise VqmriError(f"{run.root} is not a vqmri run folder (no config.yaml); create one with "
                             f"`vqmri train --out {run.root}`")
        return run

    def make(self) -> Run:
        for d in (self.root, self.checkpoints, self.logs, self.figures):
            d.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def config(self) -> dict:
        return config_mod.load(self.config_path)

    def checkpoint(self, which: str = "best", folder: Path | None = None) -> Path:
        folder = folder or self.checkpoints
        for name in (which, "last") if which == "best" else (which,):
            p = folder / f"{name}.ckpt"
            if p.exists():
                return p
        if folder == self.prior / "checkpoints":
            raise VqmriError(f"{self.root} has no prior yet; fit one with `vqmri train-prior {self.root}`")
        raise VqmriError(f"no {which} checkpoint in {folder}; train first (or resume with --resume {self.root})")

    def prior_checkpoint(self) -> Path:
        return self.checkpoint("best", self.prior / "checkpoints")


def checkpoint_id(path: Path) -> str:
    """A short content hash of a checkpoint file: what derived files (code maps, priors, evaluations) record so that
    they are rebuilt or refused once the checkpoint they came from has changed."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class RunLock:
    """RUN_DIR/.lock while a command writes the run: a second writer is refused with one line; the lock of a process
    that no longer exists is taken over. Only the first process of a multi-process run holds it."""

    def __init__(self, root: Path, what: str):
        self.path, self.what = Path(root) / ".lock", what
        self.held = False

    def __enter__(self) -> RunLock:
        if int(os.environ.get("LOCAL_RANK", 0)) or int(os.environ.get("NODE_RANK", 0)):
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                text = self.path.read_text().split(maxsplit=1) if self.path.exists() else []
                pid = int(text[0]) if text and text[0].isdigit() else -1
                if pid > 0 and _alive(pid):
                    raise VqmriError(f"{self.path.parent} is being written by process {pid} "
                                     f"({text[1] if len(text) > 1 else 'vqmri'}); wait for it to finish, or use "
                                     "another run folder") from None
                self.path.unlink(missing_ok=True)  # a dead process's lock
                continue
            os.write(fd, f"{os.getpid()} vqmri {self.what}".encode())
            os.close(fd)
            self.held = True
            return self
        raise VqmriError(f"cannot lock {self.path.parent}; remove {self.path} if no vqmri command is using it")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_checkpoint(path: Path) -> dict:
    """A Lightning checkpoint as a dict of tensors and plain values. Read with `weights_only=True`: a checkpoint that
    would run code when unpickled is refused, never executed. A torn or foreign file is one line naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise VqmriError(f"{path} holds more than weights ({str(e).splitlines()[-1][:100]}); vqmri refuses to load "
                         "it, since unpickling it could run code. Use checkpoints you made, or an export "
                         "(`vqmri export`)") from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise VqmriError(f"cannot read checkpoint {path} ({str(e).splitlines()[0][:120]}); it is damaged: remove it "
                         "and resume from the other checkpoint, or train again") from None


def _config_of(ckpt: dict) -> dict:
    """The settings a checkpoint was trained with, with today's defaults for settings added since."""
    return config_mod.merge(config_mod.BASE, ckpt["hyper_parameters"]["cfg"])


def load_prior(run: Run) -> CodePrior:
    """The run's prior (eval mode), rebuilt from its checkpoint's own settings; refused when it was fitted to the
    codes of an autoencoder checkpoint other than the run's best one now (a resumed or retrained autoencoder)."""
    path = run.prior_checkpoint()
    ckpt = read_checkpoint(path)
    hp = ckpt["hyper_parameters"]
    fitted_to = hp.get("autoencoder")
    if fitted_to is not None and fitted_to != checkpoint_id(run.checkpoint("best")):
        raise VqmriError(f"the prior in {path.parent} was fitted to the codes of an earlier autoencoder checkpoint "
                         f"than {run.checkpoint('best')}; fit it again with `vqmri train-prior {run.root}`")
    prior = build_prior(_config_of(ckpt), hp["codebook_size"], hp["levels"], hp.get("shapes"))
    prior.load_state_dict({k[len("prior."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("prior.")})
    return prior.eval()


def _as_slice(a, i: int) -> np.ndarray:
    a = np.asarray(a.numpy() if isinstance(a, torch.Tensor) else a)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2 or 0 in a.shape:
        raise VqmriError(f"image {i} has shape {a.shape}; give 2D slices (H, W)")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype, 1.0)
    a = a.astype(np.float32) / scale
    if not np.isfinite(a).all():
        raise VqmriError(f"image {i} holds NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    if a.min() < -1e-3 or a.max() > 1 + 1e-3:
        raise VqmriError(f"image {i} ranges {a.min():g} to {a.max():g}; give intensities in [0, 1] (uint8 and uint16 "
                         "are scaled)")
    return a.clip(0, 1)


class VQModel:
    """A trained autoencoder from a run folder, an export (`vqmri export`) or `pretrained:NAME`. Tensors are
    (B, 1, S, S) in [0, 1]; codes are lists of (B, h, w). `run` is None for an export: commands that need the
    training data's splits ask for a run folder."""

    def __init__(self, run_dir: str | Path, checkpoint: str = "best", device: str | None = None):
        source = weights.resolve(run_dir)
        self.source, self._prior_state, self._prior_meta, self._resized = source, None, None, False
        if weights.is_export(source):
            meta, state, self._prior_state = weights.read_export(source)
            self.run, self.checkpoint_id = None, str(meta.get("autoencoder", "export"))
            self.config = config_mod.merge(config_mod.BASE, meta["config"])
            self._prior_meta = meta.get("prior")
        else:
            self.run = Run.open(source)
            path = self.run.checkpoint(checkpoint)
            ckpt = read_checkpoint(path)
            self.checkpoint_id = checkpoint_id(path)
            self.config = _config_of(ckpt)
            state = {k.split(".", 1)[1]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        self.image_size = int(self.config["data"]["image_size"])
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = build_autoencoder(self.config)
        self.net.load_state_dict(state)
        self.net.eval().to(self.device)
        self.codebook_size = self.net.codebook_size

    def at_image_size(self, size: int) -> VQModel:
        """This autoencoder run at S = `size` (a convolutional network reads any multiple of its downsampling):
        e.g. a 128 px model measured on 256 px slices without halving them. The prior stays at the trained size
        (its code maps have the trained shape), so `prior()` refuses afterwards. Returns self."""
        factor = config_mod.downsampling(self.config["model"])
        if isinstance(size, bool) or not isinstance(size, int) or not config_mod.fits_model(size, self.config["model"]):
            raise VqmriError(f"image size {size!r}: this model needs a multiple of {factor} of at least {2 * factor} "
                             f"(trained at {self.image_size}), e.g. {self.image_size} or {2 * self.image_size}")
        if size != self.image_size:
            self.config = config_mod.merge(self.config, {"data": {"image_size": size}})
            self.image_size, self._resized = size, True
        return self

    def prior(self) -> CodePrior:
        """The prior over this model's codes (eval mode): the run's (see `load_prior`) or the export's."""
        if self._resized:
            raise VqmriError(f"{self.source}: the prior was fitted to code maps of the trained size; load the model "
                             "again without an image size to use it")
        if self.run is not None:
            return load_prior(self.run)
        if self._prior_state is None:
            raise VqmriError(f"the exported model {self.source} holds no prior; export a run that has one "
                             "(`vqmri train-prior RUN_DIR`, then `vqmri export RUN_DIR --out DIR`)")
        m = self._prior_meta
        prior = build_prior(config_mod.merge(config_mod.BASE, m["config"]), m["codebook_size"], m["levels"],
                            m.get("shapes"))
        prior.load_state_dict(self._prior_state)
        return prior.eval()

    def require_run(self, command: str) -> Run:
        """The run folder, or one line saying that `command` needs one (it reads the training data's splits)."""
        if self.run is None:
            raise VqmriError(f"`vqmri {command}` needs a run folder (it reads the data the run was trained on); "
                             f"{self.source} is an exported model: use it with reconstruct, sample, anomaly or "
                             "inpaint, or pass the run folder it was exported from")
        return self.run

    def prepare(self, images) -> torch.Tensor:
        """Native arrays (H, W) (any sizes; float in [0, 1], or uint8 / uint16 scaled to it) -> model tensor
        (B, 1, S, S). A slice that is not 2D, is empty, holds NaN or lies outside [0, 1] is one VqmriError."""
        return torch.from_numpy(np.stack([geometry.to_model(_as_slice(a, i), self.image_size)
                                          for i, a in enumerate(images)]))[:, None]

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 1, S, S) -> one (B, h, w) code map a level (VQ-VAE-2: top first)."""
        return [c.cpu() for c in self.net.encode(x.to(self.device).float())]

    def encode_batched(self, x: torch.Tensor, batch_size: int = 64) -> list[torch.Tensor]:
        """`encode` a whole set a batch at a time; one (N, h, w) map a level."""
        starts = range(0, len(x), batch_size)
        parts = [self.encode(x[i: i + batch_size]) for i in bar(starts, "encoding", len(starts), "batch")]
        return [torch.cat(level) for level in zip(*parts)]

    def decode(self, codes: list[torch.Tensor]) -> torch.Tensor:
        """One (B, h, w) map a level -> (B, 1, S, S) in [0, 1]."""
        with torch.no_grad():
            return self.net.decode([c.to(self.device) for c in codes]).cpu()

    def decode_batched(self, codes: list[torch.Tensor], batch_size: int = 64) -> torch.Tensor:
        """`decode` a whole set of maps (one (N, h, w) tensor a level) a batch at a time."""
        return torch.cat([self.decode([c[i: i + batch_size] for c in codes])
                          for i in range(0, len(codes[0]), batch_size)])

    def reconstruct(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        return self.decode_batched(self.encode_batched(x, batch_size), batch_size)

    def consistency(self, codes: list[torch.Tensor], batch_size: int = 64) -> torch.Tensor:
        """Per map, the share of codes that survive decode -> encode. Encoded real slices are near fixed points;
        sampled maps whose codes do not fit together decode to an image the encoder reads differently, so a low
        share flags an implausible sample without any extra network."""
        same = torch.zeros(len(codes[0]))
        for i in range(0, len(codes[0]), batch_size):
            part = [c[i: i + batch_size] for c in codes]
            again = self.encode(self.decode(part))
            same[i: i + batch_size] = sum((a == c).flatten(1).sum(1) for a, c in zip(again, part)).float()
        return same / sum(c[0].numel() for c in codes)

    def code_shapes(self) -> list[tuple[int, int]]:
        return self.net.code_shapes(self.image_size)

    def bits_per_pixel(self) -> float:
        codes = sum(h * w for h, w in self.code_shapes())
        return codes * float(np.log2(self.codebook_size)) / self.image_size ** 2


def load(run_dir: str | Path, checkpoint: str = "best", device: str | None = None) -> VQModel:
    return VQModel(run_dir, checkpoint, device)
