"""Training with Lightning: the autoencoder and prior modules, and the run folder they write."""
