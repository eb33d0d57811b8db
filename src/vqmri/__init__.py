"""vqmri: learn a discrete code for MRI slices (VQ-VAE, VQ-VAE-2), generate new ones from a prior over the codes,
and use that prior on real slices (anomaly maps, inpainting).

The public surface (`load`, `VQModel`, `generate`, `anomaly`, `inpaint`, ...) is defined once, in `vqmri.api`; it is
imported from there on first use, so that `import vqmri` stays light (no torch until a model is needed)."""
from .config import ANOMALY_RESAMPLES, ANOMALY_THRESHOLD  # noqa: F401  (torch-free defaults)
from .version import VERSION as __version__  # noqa: F401  (the public name)

PUBLIC = ("load", "VQModel", "generate", "Generated", "anomaly", "inpaint", "load_prior", "reconstruct_pick")


def __getattr__(name: str):
    if name in PUBLIC:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vqmri' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(PUBLIC))
