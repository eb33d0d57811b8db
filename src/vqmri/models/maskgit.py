"""A masked-code model (MaskGIT, Chang et al. 2022): predicts hidden codes from the visible ones and the conditioning,
and draws a whole map in a few parallel steps, most confident codes first.

codes (B, h, w) int, with `mask_id` (= codebook_size) where a code is hidden -> logits (B, K, h, w).

Why not raster order: the bottom of a two-level code is 1,024 positions at 128 px, which a causal sampler visits one
by one; given the top codes, a bottom code depends mostly on its neighbourhood, so a few parallel steps suffice.
Two mixers (`mixer`): dilated residual convs (default), which see a wide neighbourhood (a whole small top map, or
several top codes' worth of bottom) at the cost of a PixelCNN of the same width; or MaskGIT's own bidirectional
transformer, where every code sees every other at once: a top map's far sides can agree (symmetry, ventricles), which
convs only reach through depth. Full attention over a 32x32 bottom costs several conv layers' worth per layer, so it
suits a short top map.

Likelihood: a masked model has no raster factorisation, so `nll` scores the process that `sample` runs: the map is
revealed in `steps` groups (a fixed, seeded order, the cosine schedule), each group predicted from the ones before.
That is the exact likelihood of a random-order group sampler, comparable in bits per code with the causal priors.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DilatedBlock(nn.Module):
    """x + conv1x1(gelu(conv3x3_dilated(gelu(norm(x)) + cond))): a residual block with a conditioning input."""

    def __init__(self, ch: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = nn.GroupNorm(min(8, ch), ch)
        self.conv = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.out = nn.Conv2d(ch, ch, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.conv(F.gelu(self.norm(x)))
        if cond is not None:
            h = h + cond
        return x + self.drop(self.out(F.gelu(h)))


class AttentionBlock(nn.Module):
    """t + attn(norm(t + cond)), then t + mlp(norm(t)) over the map's positions: a pre-norm bidirectional transformer
    block on a (B, C, h, w) map, with the same conditioning input as `DilatedBlock`."""

    def __init__(self, ch: int, heads: int, dropout: float):
        super().__init__()
        if ch % heads:
            raise ValueError(f"prior.channels ({ch}) must be a multiple of prior.heads ({heads})")
        self.norm1, self.norm2 = nn.LayerNorm(ch), nn.LayerNorm(ch)
        self.attn = nn.MultiheadAttention(ch, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(ch, 4 * ch), nn.GELU(), nn.Linear(4 * ch, ch), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        b, c, h, w = x.shape
        t = (x if cond is None else x + cond).flatten(2).transpose(1, 2)  # (B, h*w, C)
        y = self.norm1(t)
        t = t + self.attn(y, y, y, need_weights=False)[0]
        t = t + self.mlp(self.norm2(t))
        return t.transpose(1, 2).reshape(b, c, h, w)


MIXERS = ("conv", "attention")


def mask_schedule(ratio: torch.Tensor) -> torch.Tensor:
    """Share of codes still hidden after `ratio` (0..1) of the steps: MaskGIT's cosine schedule."""
    return torch.cos(ratio * math.pi / 2)


CHOICE_TEMPERATURE = 4.5  # MaskGIT's: how much chance, besides confidence, decides which drawn codes stay


class MaskedCodeModel(nn.Module):
    """Same interface as `GatedPixelCNN`: forward(codes, cond, label) -> logits (B, K, h, w); `cond_channels` is the
    width of a spatial conditioning map (positions, upsampled top codes), `num_classes` the slice-position classes,
    `mixer` "conv" (dilated residual convs) or "attention" (transformer blocks of `heads` heads). `label_dropout`:
    the share of training maps whose label is replaced by a null label (one more embedding row), so the same network
    also predicts without it and sampling can push draws towards their label (classifier-free guidance, Ho &
    Salimans 2022). How `sample` draws, kept as attributes that a caller may change for a call (like `steps`):
    `refine` corrector rounds of `refine_share` each (`refine`), `guidance` (`guided`), `choice_temperature` (how
    much chance, besides confidence, decides which drawn codes stay a step: 0 most confident first, large a random
    order; default MaskGIT's CHOICE_TEMPERATURE)."""

    def __init__(self, codebook_size: int, channels: int = 64, layers: int = 8, cond_channels: int = 0,
                 num_classes: int = 0, dropout: float = 0.0, steps: int = 12, mixer: str = "conv", heads: int = 4,
                 label_dropout: float = 0.0, refine: int = 0, refine_share: float = 0.25, guidance: float = 0.0,
                 choice_temperature: float | None = None):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be at least 1, not {steps}")
        if mixer not in MIXERS:
            raise ValueError(f"a masked-code model's mixer must be one of {', '.join(MIXERS)}, not {mixer!r}")
        self.codebook_size, self.mask_id, self.steps = codebook_size, codebook_size, steps
        self.refine_rounds, self.refine_share, self.guidance = refine, refine_share, guidance
        self.choice_temperature = CHOICE_TEMPERATURE if choice_temperature is None else choice_temperature
        self.embed = nn.Embedding(codebook_size + 1, channels)
        self.cond = nn.Conv2d(cond_channels, channels, 1) if cond_channels else None
        if not 0 <= label_dropout < 1:
            raise ValueError(f"label_dropout must be in [0, 1), not {label_dropout}")
        self.label_dropout = label_dropout if num_classes else 0.0
        self.null_label = num_classes if self.label_dropout else None  # the extra row: "no label"
        self.label = nn.Embedding(num_classes + bool(self.label_dropout), channels) if num_classes else None
        self.blocks = nn.ModuleList(DilatedBlock(channels, 2 ** (i % 3), dropout) if mixer == "conv" else
                                    AttentionBlock(channels, heads, dropout) for i in range(layers))
        self.head = nn.Sequential(nn.GroupNorm(min(8, channels), channels), nn.GELU(),
                                  nn.Conv2d(channels, codebook_size, 1))

    def forward(self, codes: torch.Tensor, cond: torch.Tensor | None = None,
                label: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(codes).permute(0, 3, 1, 2)
        c = self.cond(cond) if self.cond is not None and cond is not None else None
        if self.label is not None and label is not None:
            lab = self.label(label)[:, :, None, None]
            c = lab if c is None else c + lab
        for blk in self.blocks:
            x = blk(x, c)
        return self.head(x)

    def training_loss(self, codes: torch.Tensor, cond=None, label=None) -> torch.Tensor:
        """Mean cross-entropy (nats) over hidden codes, with a share of codes hidden per map drawn from the cosine
        schedule (MaskGIT's training)."""
        b = codes.shape[0]
        if self.null_label is not None and label is not None:
            drop = torch.rand(label.shape, device=label.device) < self.label_dropout
            label = label.masked_fill(drop, self.null_label)
        ratio = mask_schedule(torch.rand(b, 1, 1, device=codes.device)).clamp(min=1.0 / codes[0].numel())
        hidden = torch.rand(codes.shape, device=codes.device) < ratio
        logits = self(codes.masked_fill(hidden, self.mask_id), cond, label)
        ce = F.cross_entropy(logits, codes, reduction="none")
        return (ce * hidden).sum() / hidden.sum().clamp(min=1)

    def reveal_order(self, shape: tuple[int, ...], seed: int, device) -> torch.Tensor:
        """(B, h*w) the step (0..steps-1) at which each position is revealed, fixed by `seed`: the cosine schedule's
        group sizes in a random order per map."""
        b, n = shape[0], shape[1] * shape[2]
        gen = torch.Generator().manual_seed(seed)
        rank = torch.rand(b, n, generator=gen).argsort(1).argsort(1).to(device)  # a random permutation per map
        hidden_after = [math.floor(n * float(mask_schedule(torch.tensor((s + 1) / self.steps)))) for s in
                        range(self.steps)]
        revealed = torch.zeros(b, n, dtype=torch.long, device=device) - 1
        for s, left in enumerate(hidden_after):
            revealed[(rank < n - left) & (revealed < 0)] = s
        return revealed

    def nll(self, codes: torch.Tensor, cond=None, label=None, seed: int = 0) -> torch.Tensor:
        """(B, h, w) NLL in nats of each code under the group process (see the module's docstring)."""
        b, h, w = codes.shape
        step = self.reveal_order(codes.shape, seed, codes.device).view(b, h, w)
        out = torch.zeros(b, h, w, device=codes.device)
        for s in range(self.steps):
            now = step == s
            if not now.any():
                continue
            logits = self(codes.masked_fill(step >= s, self.mask_id), cond, label)
            ce = F.cross_entropy(logits.float(), codes, reduction="none")
            out = torch.where(now, ce, out)
        return out

    def score_logits(self, codes: torch.Tensor, cond=None, label=None, groups: int = 4) -> torch.Tensor:
        """Logits (B, K, h, w) of each code with itself and its group hidden (a 2x2 interleave of `groups` passes):
        how surprising each code is given its surroundings, for anomaly maps."""
        b, h, w = codes.shape
        ii, jj = torch.meshgrid(torch.arange(h, device=codes.device), torch.arange(w, device=codes.device),
                                indexing="ij")
        group = (ii % 2) * 2 + (jj % 2)
        out = None
        for g in range(groups):
            hide = (group % groups == g).expand(b, h, w)
            logits = self(codes.masked_fill(hide, self.mask_id), cond, label)
            out = logits if out is None else torch.where(hide[:, None], logits, out)
        return out

    def guided(self, codes: torch.Tensor, cond=None, label=None, guidance: float | None = None) -> torch.Tensor:
        """Logits (B, K, h, w) pushed `guidance` (default `self.guidance`) times further from the label-free
        prediction towards the labelled one (0: the plain prediction; needs a net trained with `label_dropout`)."""
        guidance = self.guidance if guidance is None else guidance
        logits = self(codes, cond, label)
        if not guidance or label is None:
            return logits
        if self.null_label is None:
            raise ValueError("guidance needs a prior trained with label dropout (prior.label_dropout > 0)")
        free = self(codes, cond, torch.full_like(label, self.null_label))
        return logits + guidance * (logits - free)

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, int], draw, cond=None, label=None,
               fixed: tuple[torch.Tensor, torch.Tensor] | None = None, gen: torch.Generator | None = None
               ) -> torch.Tensor:
        """n code maps (n, h, w): `self.steps` parallel steps (`draw_parallel`), then `self.refine_rounds`
        corrector rounds (`refine`); `fixed` = (codes, redraw) (n, h, w): positions not to redraw keep `codes`."""
        codes = self.draw_parallel(n, shape, draw, cond, label, fixed, gen)
        if self.refine_rounds:
            codes = self.refine(codes, draw, cond, label, keep=None if fixed is None else ~fixed[1].to(codes.device),
                                gen=gen)
        return codes

    @torch.no_grad()
    def draw_parallel(self, n: int, shape: tuple[int, int], draw, cond=None, label=None,
                      fixed: tuple[torch.Tensor, torch.Tensor] | None = None, gen: torch.Generator | None = None
                      ) -> torch.Tensor:
        """n code maps (n, h, w) in `self.steps` parallel steps. `draw(logits (M, K)) -> (M,)` samples codes
        (temperature, top-k, top-p). Each step draws every hidden code, keeps the most confident of them (MaskGIT's
        choice noise, annealed to zero) and hides the rest again, so that the share still hidden follows the cosine
        schedule. `fixed` = (codes, redraw) (n, h, w): positions not to redraw keep `codes` and are never hidden."""
        h, w = shape
        dev = self.embed.weight.device
        codes = torch.full((n, h, w), self.mask_id, dtype=torch.long, device=dev)
        if fixed is not None:
            codes = torch.where(fixed[1].to(dev), codes, fixed[0].to(dev))
        total = (codes == self.mask_id).flatten(1).sum(1)  # (n,) codes to draw per map
        for s in range(self.steps):
            hidden = codes == self.mask_id
            if not hidden.any():
                break
            logits = self.guided(codes, cond, label).float().permute(0, 2, 3, 1)  # (n, h, w, K)
            drawn = draw(logits[hidden]).to(dev)
            probs = torch.softmax(logits[hidden], -1).gather(1, drawn[:, None])[:, 0]
            conf = torch.full((n, h, w), float("inf"), device=dev)
            uniform = torch.rand(probs.shape, generator=gen).to(dev).clamp(1e-9, 1 - 1e-9)
            noise = -torch.log(-torch.log(uniform))  # Gumbel
            conf[hidden] = probs.clamp_min(1e-12).log() + self.choice_temperature * (1 - (s + 1) / self.steps) * noise
            proposal = codes.clone()
            proposal[hidden] = drawn
            left = (total.float() * mask_schedule(torch.tensor((s + 1) / self.steps))).floor().long()
            if s + 1 == self.steps:
                left = torch.zeros_like(left)
            # hide again the `left` least confident of this step's drawn codes, per map
            order = conf.flatten(1).argsort(1)
            rank = order.argsort(1).view(n, h, w)
            rehide = hidden & (rank < left[:, None, None])
            codes = proposal.masked_fill(rehide, self.mask_id)
        return codes

    @torch.no_grad()
    def refine(self, codes: torch.Tensor, draw, cond=None, label=None, rounds: int | None = None,
               share: float | None = None, keep: torch.Tensor | None = None, gen: torch.Generator | None = None
               ) -> torch.Tensor:
        """Corrector rounds after a draw (predictor-corrector sampling of discrete diffusion, Lezama et al. 2022):
        each round scores every code given all the others (`score_logits`), hides the `share` least likely of each
        map and draws them again given the rest. Why: a parallel step commits codes that never saw each other, and
        a code drawn early never sees what was drawn after it; a round lets the least fitting ones be redrawn in the
        finished context. codes (n, h, w) -> (n, h, w); `keep` (n, h, w) bool: positions never redrawn; `rounds`,
        `share`: default `self.refine_rounds`, `self.refine_share`."""
        n, h, w = codes.shape
        rounds = self.refine_rounds if rounds is None else rounds
        share = self.refine_share if share is None else share
        for _ in range(rounds):
            logits = self.score_logits(codes, cond, label).float()  # unguided: how well each code fits
            fit = torch.log_softmax(logits, 1).gather(1, codes[:, None])[:, 0]  # (n, h, w) log p(code | rest)
            if keep is not None:
                fit = fit.masked_fill(keep.to(fit.device), float("inf"))
            count = max(1, round(share * h * w))
            worst = fit.flatten(1).argsort(1)[:, :count]
            redraw = torch.zeros(n, h * w, dtype=torch.bool, device=codes.device).scatter(1, worst, True)
            redraw = redraw.view(n, h, w) if keep is None else redraw.view(n, h, w) & ~keep.to(codes.device)
            codes = self.draw_parallel(n, (h, w), draw, cond, label, fixed=(codes, redraw), gen=gen)
        return codes
