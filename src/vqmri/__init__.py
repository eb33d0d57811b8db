"""vqmri: learn a discrete code for MRI slices (VQ-VAE, VQ-VAE-2), generate new ones from a prior over the codes,
and use that prior on real slices (anomaly maps, inpainting)."""
from .config import ANOMALY_RESAMPLES, ANOMALY_THRESHOLD  # torch-free: importing vqmri stays light

__version__ = "0.1.0"


def load(run_dir, checkpoint: str = "best", device=None):
    """Load a trained run: returns a model with encode(x) -> codes, decode(codes), reconstruct(x)."""
    from .api import load as _load

    return _load(run_dir, checkpoint, device)


def anomaly(model, x, threshold: float = ANOMALY_THRESHOLD, resamples: int = ANOMALY_RESAMPLES, seed: int = 0):
    """Anomaly maps of slices x (B, 1, S, S) under the model's prior (see vqmri.api.anomaly)."""
    from .api import anomaly as _anomaly

    return _anomaly(model, x, threshold, resamples, seed)


def inpaint(model, x, mask, n: int = 4, seed: int = 0):
    """n completions of x (1, 1, S, S) inside mask (S, S) (see vqmri.api.inpaint)."""
    from .api import inpaint as _inpaint

    return _inpaint(model, x, mask, n, seed)
