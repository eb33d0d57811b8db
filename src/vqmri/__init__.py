"""vqmri: learn a discrete code for MRI slices (VQ-VAE, VQ-VAE-2) and generate new ones with a PixelCNN prior."""
__version__ = "0.1.0"


def load(run_dir, checkpoint: str = "best", device=None):
    """Load a trained run: returns a model with encode(x) -> codes, decode(codes), reconstruct(x)."""
    from .api import load as _load

    return _load(run_dir, checkpoint, device)
