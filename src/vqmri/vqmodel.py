"""The trained model a user holds: `VQModel` (a run, an export or `pretrained:NAME`) and `load`. Every later command
works through it; the run folder and its checkpoints are `runs.py`'s."""
from __future__ import annotations

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
from .runs import Run, checkpoint_id, config_of, load_prior, read_checkpoint


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
            self.config = config_mod.from_dict(meta["config"])
            self._prior_meta = meta.get("prior")
        else:
            self.run = Run.open(source)
            path = self.run.checkpoint(checkpoint)
            ckpt = read_checkpoint(path)
            self.checkpoint_id = checkpoint_id(path)
            self.config = config_of(ckpt)
            state = {k.split(".", 1)[1]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        self.image_size = self.config.data.image_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = build_autoencoder(self.config)
        self.net.load_state_dict(state)
        self.net.eval().to(self.device)
        self.codebook_size = self.net.codebook_size  # the bottom's, the only one for one level
        self.codebook_sizes: list[int] = self.net.codebook_sizes  # one a level, top first

    def at_image_size(self, size: int) -> VQModel:
        """This autoencoder run at S = `size` (a convolutional network reads any multiple of its downsampling):
        e.g. a 128 px model measured on 256 px slices without halving them. The prior stays at the trained size
        (its code maps have the trained shape), so `prior()` refuses afterwards. Returns self."""
        factor = config_mod.downsampling(self.config.model)
        if isinstance(size, bool) or not isinstance(size, int) or not config_mod.fits_model(size, self.config.model):
            raise VqmriError(f"image size {size!r}: this model needs a multiple of {factor} of at least {2 * factor} "
                             f"(trained at {self.image_size}), e.g. {self.image_size} or {2 * self.image_size}")
        if size != self.image_size:
            self.config = config_mod.validate(self.config, data={"image_size": size})
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
        # the export stores the prior's and the data's sections; the model's is the autoencoder's own
        cfg = config_mod.from_dict({**m["config"], "model": self.config.to_dict()["model"]})
        prior = build_prior(cfg, m["codebook_size"], m["levels"], m.get("shapes"))
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

    def code_vectors(self, level: int, codes: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Codes (N, h, w) of `level` (0: the top) -> their quantized vectors (N, D, h, w), on the CPU."""
        quant = self.net.quantizers()[level]
        with torch.no_grad():
            return torch.cat([quant.lookup(codes[i: i + batch_size].to(self.device)).cpu()
                              for i in range(0, len(codes), batch_size)])

    def codebook(self, level: int) -> torch.Tensor:
        """The codes of `level` (0: the top) as vectors (K, D), on the CPU."""
        with torch.no_grad():
            return self.net.quantizers()[level].codebook().cpu()

    def code_shapes(self) -> list[tuple[int, int]]:
        return self.net.code_shapes(self.image_size)

    def bits_per_pixel(self) -> float:
        bits = sum(h * w * float(np.log2(k)) for (h, w), k in zip(self.code_shapes(), self.codebook_sizes))
        return bits / self.image_size ** 2


def load(run_dir: str | Path, checkpoint: str = "best", device: str | None = None) -> VQModel:
    return VQModel(run_dir, checkpoint, device)
