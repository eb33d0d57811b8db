"""Networks: the quantizer, the single- and two-level autoencoders, the discriminator, and the priors."""
from .quantizer import QuantizerOutput, VectorQuantizer  # noqa: F401
from .vqvae import VQVAE  # noqa: F401
