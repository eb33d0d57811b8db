"""The public Python surface: `vqmri.load(run_dir)` -> a `VQModel` (prepare / encode / decode / reconstruct), and the
pipelines a script calls. Everything here lives in the layers below; see docs/ARCHITECTURE.md.

    m = vqmri.load("runs/oasis")
    x = m.prepare([slice_hw])                  # (B, 1, S, S)
    a = vqmri.anomaly(m, x)                    # a.anomaly (B, 1, S, S), a.healed, a.score (B,), a.nll [(B, h, w)]
    fills = vqmri.inpaint(m, x[:1], mask_ss)   # (4, 1, S, S); mask (S, S) bool, true = fill in
"""
from __future__ import annotations

import torch

from .codes import reconstruct_pick  # noqa: F401
from .inference import healing as _anomaly
from .pipelines.generate import Generated, generate  # noqa: F401
from .runs import load_prior  # noqa: F401
from .vqmodel import VQModel, load  # noqa: F401


def anomaly(model: VQModel, x: torch.Tensor, threshold: float = _anomaly.THRESHOLD,
            resamples: int = _anomaly.RESAMPLES, seed: int = 0) -> _anomaly.Anomaly:
    """Anomaly maps of x (B, 1, S, S) in [0, 1] under the run's prior (definitions: inference/healing.py; defaults
    chosen on validate: config.ANOMALY_THRESHOLD, ANOMALY_RESAMPLES)."""
    return _anomaly.anomaly(model, model.prior(), x, threshold, resamples, seed)


def inpaint(model: VQModel, x: torch.Tensor, mask: torch.Tensor, n: int = 4, seed: int = 0) -> torch.Tensor:
    """n completions (n, 1, S, S) of x (1, 1, S, S) inside mask (S, S) bool."""
    return _anomaly.inpaint(model, model.prior(), x, mask.bool(), n, seed)
