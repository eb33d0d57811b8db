"""The prior over a run's code maps: one network per level (gated PixelCNN, causal transformer or masked-code model).
For VQ-VAE-2, the bottom network is conditioned on the top codes through a conditioning stack (embed -> upsample to
the bottom's size -> residual convs), so bottom detail is drawn inside a globally coherent top-level shape.

Every level also gets a learned position map (C, h, w) as spatial conditioning when the code-map shapes are known.
A PixelCNN otherwise knows where it is only near the zero-padded borders, and its receptive field cannot reach a
brain's far edge: without it, samples start an outline correctly and then fill the map with tissue.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .gaussian_top import GaussianTop
from .maskgit import MaskedCodeModel
from .pixelcnn import GatedPixelCNN
from .transformer import CodeTransformer
from .vqvae import ResBlock


class TopConditioner(nn.Module):
    """top codes (B, h, w) -> conditioning map (B, C, f h, f w) for the bottom network (f = `factor`, the top's
    factor over the bottom: one transposed conv and residual block a doubling)."""

    def __init__(self, codebook_size: int, channels: int, factor: int = 2):
        super().__init__()
        self.embed = nn.Embedding(codebook_size, channels)
        layers: list[nn.Module] = [nn.Conv2d(channels, channels, 3, padding=1), ResBlock(channels, channels // 2)]
        for _ in range(factor.bit_length() - 1):
            layers += [nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),
                       ResBlock(channels, channels // 2)]
        self.net = nn.Sequential(*layers)

    def forward(self, top: torch.Tensor) -> torch.Tensor:
        return self.net(self.embed(top).permute(0, 3, 1, 2))


ARCHS = ("pixelcnn", "transformer", "maskgit", "maskgit_transformer")


class CodePrior(nn.Module):
    """One network a level: a gated PixelCNN (`arch="pixelcnn"`), a causal transformer (`arch="transformer"`, which
    needs `shapes` and holds its own position embeddings; `channels` is its width) or a masked-code model drawn in
    `steps` parallel steps (`arch="maskgit"`: dilated convs; `"maskgit_transformer"`: MaskGIT's bidirectional
    transformer of `heads` heads, for a short top map). `bottom_arch`: the bottom level's network, when it differs.
    `label_dropout`: masked-code levels also learn to predict without the slice-position label (for guidance).
    `refine`, `refine_share`, `guidance`, `choice_temperature`: how masked-code levels draw (`MaskedCodeModel`;
    `refine` and `guidance` one value or one a level). `codebook_size`: one for every level, or one a level (top
    first: a VQ-VAE-2 whose top has a codebook of its own). `top_sampler="gaussian"`: two levels' samples draw their
    top from `gaussian_top` (`top_components` components a class over `top_dim`-dimensional top vectors; fitted
    apart from the networks, `GaussianTop.fit`), the top network staying the top's likelihood."""

    def __init__(self, codebook_size: int | list[int] | tuple[int, ...], levels: int = 1, channels: int = 64,
                 layers: int = 10, kernel_size: int = 5, num_classes: int = 0, dropout: float = 0.0,
                 shapes: list[tuple[int, int]] | None = None, arch: str = "pixelcnn", heads: int = 4,
                 bottom_arch: str | None = None, steps: int = 12, label_dropout: float = 0.0,
                 refine: list[int] | tuple[int, ...] = (0,), refine_share: float = 0.25,
                 guidance: list[float] | tuple[float, ...] = (0.0,), choice_temperature: float | None = None,
                 top_sampler: str = "network", top_components: int = 64, top_dim: int | None = None):
        super().__init__()
        archs = [arch] + [bottom_arch or arch] * (levels - 1)
        for a in archs:
            if a not in ARCHS:
                raise ValueError(f"prior.arch must be one of {', '.join(ARCHS)}, not {a!r}")
            if a == "transformer" and not shapes:
                raise ValueError("a transformer prior needs the code-map shapes")
        sizes = [codebook_size] * levels if isinstance(codebook_size, int) else list(codebook_size)
        if len(sizes) != levels:
            raise ValueError(f"{len(sizes)} codebook sizes for {levels} levels")
        # codebook_size: the bottom's (the only one for one level), as before sizes a level existed
        self.levels, self.codebook_sizes, self.codebook_size = levels, sizes, sizes[-1]
        self.num_classes, self.arch = num_classes, arch
        self.archs = archs
        # a learned position map a level, except for the transformer, which holds its own position embeddings
        self.positions = nn.ParameterList([nn.Parameter(torch.zeros(1, channels, h, w))
                                           for (h, w), a in zip(shapes or [], archs) if a != "transformer"])
        self.position_level = [i for i, a in enumerate(archs) if shapes and a != "transformer"]
        self.nets = nn.ModuleList()
        for level, a in enumerate(archs):
            cond = channels if (level in self.position_level or level == 1) else 0
            rounds, guide = (v[level] if len(v) > 1 else v[0] for v in (refine, guidance))
            if a == "pixelcnn":
                net = GatedPixelCNN(sizes[level], channels, layers, kernel_size, cond, num_classes, dropout)
            elif a in ("maskgit", "maskgit_transformer"):
                mixer = "conv" if a == "maskgit" else "attention"
                net = MaskedCodeModel(sizes[level], channels, layers, cond, num_classes, dropout, steps, mixer, heads,
                                      label_dropout, rounds, refine_share, guide, choice_temperature)
            else:
                net = CodeTransformer(sizes[level], shapes[level], channels, layers, heads, cond, num_classes,
                                      dropout)
            self.nets.append(net)
        if levels == 2:
            factor = shapes[1][0] // shapes[0][0] if shapes else 2
            self.conditioner = TopConditioner(sizes[0], channels, factor)
        self.gaussian_top: GaussianTop | None = None
        if top_sampler == "gaussian":
            if levels != 2 or not shapes or not top_dim:
                raise ValueError("a Gaussian top needs two levels, their shapes and the top's vector size")
            self.gaussian_top = GaussianTop(max(1, num_classes), top_components, shapes[0], top_dim, sizes[0])
        elif top_sampler != "network":
            raise ValueError(f"top_sampler must be network or gaussian, not {top_sampler!r}")

    def condition(self, level: int, codes: list[torch.Tensor], n: int | None = None) -> torch.Tensor | None:
        """Spatial conditioning of `level`: its position map, plus the upsampled top codes for the bottom level."""
        n = n if n is not None else codes[0].shape[0]
        cond = None
        if level in self.position_level:
            cond = self.positions[self.position_level.index(level)].expand(n, -1, -1, -1)
        if level == 1:
            top = self.conditioner(codes[0])
            cond = top if cond is None else cond + top
        return cond

    def nll(self, codes: list[torch.Tensor], label=None, levels: list[int] | None = None) -> list[torch.Tensor]:
        """Mean negative log-likelihood per code, in nats, for each level (or only for `levels`). A masked-code
        level in training mode returns its training loss instead (cross-entropy over randomly hidden codes)."""
        levels = range(self.levels) if levels is None else levels
        out = []
        for i in levels:
            net, cond = self.nets[i], self.condition(i, codes)
            if isinstance(net, MaskedCodeModel):
                out.append(net.training_loss(codes[i], cond, label) if self.training else
                           net.nll(codes[i], cond, label).mean())
            else:
                out.append(F.cross_entropy(net(codes[i], cond, label), codes[i]))
        return out

    def code_logits(self, level: int, codes: list[torch.Tensor], label=None) -> torch.Tensor:
        """Logits (B, K, h, w) of each code of `level` given its context: the codes before it for the causal
        networks, the codes around it for the masked-code model (`MaskedCodeModel.score_logits`)."""
        net, cond = self.nets[level], self.condition(level, codes)
        if isinstance(net, MaskedCodeModel):
            return net.score_logits(codes[level], cond, label)
        return net(codes[level], cond, label)

    def level_parameters(self, level: int) -> list[nn.Parameter]:
        """What fitting one level changes: its PixelCNN, its position map, and for the bottom the top conditioner."""
        params = list(self.nets[level].parameters())
        if level in self.position_level:
            params.append(self.positions[self.position_level.index(level)])
        if level == 1:
            params += list(self.conditioner.parameters())
        return params

    @staticmethod
    def bits(nats: torch.Tensor) -> torch.Tensor:
        return nats / math.log(2)
