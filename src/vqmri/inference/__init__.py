"""Inference with a trained model and its prior: sampling code maps, and the prior on real slices (healing, anomaly
maps, inpainting) as tensors in, tensors out. File reading and writing stay in `pipelines/`."""
