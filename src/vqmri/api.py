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
from .pipelines import anomaly as _anomaly
from .pipelines.generate import Generated, generate  # noqa: F401
from .runs import VQModel, load, load_prior  # noqa: F401


def anomaly(model: VQModel, x: torch.Tensor, threshold: float | None = None, resamples: int | None = None,
            seed: int = 0) -> _anomaly.Anomaly:
    """Anomaly maps of x (B, 1, S, S) in [0, 1] under the run's prior (definitions and defaults:
    pipelines/anomaly.py)."""
    return _anomaly.anomaly(model, model.prior(), x, _anomaly.THRESHOLD if threshold is None else threshold,
                            _anomaly.RESAMPLES if resamples is None else resamples, seed)


def inpaint(model: VQModel, x: torch.Tensor, mask: torch.Tensor, n: int = 4, seed: int = 0) -> torch.Tensor:
    """n completions (n, 1, S, S) of x (1, 1, S, S) inside mask (S, S) bool."""
    return _anomaly.inpaint(model, model.prior(), x, mask.bool(), n, seed)
