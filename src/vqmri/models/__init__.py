"""Networks: the quantizer, the single- and two-level autoencoders, and the gated PixelCNN prior."""
from .quantizer import VectorQuantizer, QuantizerOutput  # noqa: F401
from .vqvae import VQVAE, build_autoencoder  # noqa: F401
