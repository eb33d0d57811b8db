"""Networks from a run's settings: the autoencoder and the prior. Bad model settings become one-line errors."""
from __future__ import annotations

from torch import nn

from ..config import Config
from ..errors import VqmriError
from .prior import CodePrior
from .vqvae import VQVAE
from .vqvae2 import VQVAE2


def build_autoencoder(cfg: Config) -> nn.Module:
    """The run's autoencoder from its config (`model` and `quantizer` sections)."""
    m = cfg.model.model_dump()
    arch = m.pop("arch", "vqvae")
    try:
        if arch == "vqvae2":
            return VQVAE2(**{k: v for k, v in m.items() if k != "downsample"}, quantizer=cfg.quantizer)
        if arch != "vqvae":
            raise ValueError(f"model.arch must be vqvae or vqvae2, not {arch!r}")
        if m.pop("bottom_dropout", 0.0):
            raise ValueError("model.bottom_dropout applies to model.arch=vqvae2 only")
        if m.pop("top_factor", 2) != 2:
            raise ValueError("model.top_factor applies to model.arch=vqvae2 only")
        if m.pop("bottom", "joint") != "joint":
            raise ValueError("model.bottom applies to model.arch=vqvae2 only")
        if m.pop("top_codebook_size", None) is not None:
            raise ValueError("model.top_codebook_size applies to model.arch=vqvae2 only")
        return VQVAE(**m, quantizer=cfg.quantizer)
    except ValueError as e:
        raise VqmriError(f"invalid model settings: {e}") from None


def build_prior(cfg: Config, codebook_size: int | list[int], levels: int, shapes: list | None) -> CodePrior:
    """The prior over code maps of `shapes` (one (h, w) a level) with `codebook_size` codes (one size for every
    level, or one a level, top first) from the config's `prior` section."""
    p = cfg.prior
    try:
        return CodePrior(codebook_size, levels, p.channels, p.layers, p.kernel_size, p.classes, p.dropout,
                         shapes=[tuple(s) for s in shapes] if shapes else None, arch=p.arch, heads=p.heads,
                         bottom_arch=p.bottom_arch or None, steps=p.steps, label_dropout=p.label_dropout,
                         refine=p.refine, refine_share=p.refine_share, guidance=p.guidance,
                         choice_temperature=p.choice_temperature, top_sampler=p.top_sampler,
                         top_components=p.top_components, top_dim=cfg.model.embed_dim)
    except ValueError as e:
        raise VqmriError(f"invalid prior settings: {e}") from None
