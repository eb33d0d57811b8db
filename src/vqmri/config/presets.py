"""Named starting points for a run's settings (`--preset NAME`), each a partial config over the schema's defaults,
and `vqmri anomaly`'s defaults (kept beside the other defaults so that the command line's grammar needs no torch)."""
from __future__ import annotations

# the probability below which a code is replaced, and the redraws a slice (chosen on validate: benchmarks/RESULTS.md)
ANOMALY_THRESHOLD = 0.02
ANOMALY_RESAMPLES = 8

PRESETS: dict[str, dict] = {
    # Measured default for 128 px brain slices on CPU (see benchmarks/RESULTS.md).
    "oasis": {},
    "hipmri": {"data": {"image_size": 128}},
    # Fast, for the built-in data and the demo: small images and network.
    "sample": {"data": {"image_size": 64}, "model": {"channels": [32, 64], "res_channels": 32, "codebook_size": 256},
               "train": {"batch_size": 16, "max_epochs": 15}, "prior": {"channels": 32, "layers": 6, "max_epochs": 10}},
    # The original layout of van den Oord et al. 2017 with the seeds' settings, to reproduce published student systems.
    "seed-oord": {"model": {"channels": [128, 128], "res_blocks": 2, "res_channels": 32, "embed_dim": 64,
                            "codebook_size": 512, "norm": False},
                  "quantizer": {"ema": False, "init": "uniform", "dead_code_threshold": 0.0, "beta": 0.25},
                  "train": {"lr": 2e-3, "batch_size": 32, "schedule": "constant", "loss": "mse", "warmup": 0.0,
                            "grad_clip": 0.0}},
    # Two levels (Razavi et al. 2019); a quarter of the slices decoded from the top codes alone (models/vqvae2.py).
    "vqvae2": {"model": {"arch": "vqvae2", "downsample": 4, "bottom_dropout": 0.25}},
    # 128 px -> a 16 x 16 code map: lower fidelity than the default's 32 x 32, but a quarter of the positions for the
    # prior to model and a receptive field that spans the slice, so samples are whole brains (benchmarks/RESULTS.md).
    "coarse": {"model": {"downsample": 8}, "prior": {"channels": 64, "layers": 10}},
    # The best measured for generation (128 px -> an 8 x 8 code map, SSIM 0.80): the prior also learns from 8 jittered,
    # unrotated copies of each training slice (registered data), with dropout; benchmarks/RESULTS.md, code8-augment.
    "generate": {"model": {"downsample": 16},
                 "prior": {"channels": 64, "layers": 10, "dropout": 0.1, "augment": 8, "augment_degrees": 0.0}},
    # One code for the prior, one for the decoder (issue 40): at 128 px a 16 x 16 top over a 32 x 32 bottom that
    # decodes sharply (an 8 x 8 top left the bottom prior the anatomy, and its samples failed the judge even given
    # the true top); a quarter of the slices decoded from the top alone, so that the top carries the anatomy. The
    # prior: masked-code (MaskGIT) models at both levels with slice positions and the `generate` jitter, the top
    # fitted alone first, then the bottom drawn given the top. At equal minutes a masked-code top takes about 3x
    # the steps of a PixelCNN top and its drawn tops read more real at 32 px (RESULTS.md, "Generation"); each step
    # keeps its drawn codes in a near-random order (choice temperature 20: confidence-first reads less real), and
    # the labels are hidden from a tenth of the maps so that `--guidance` can be tried (it did not help the top).
    # 26 prior minutes: the top keeps its 10, the bottom gets 16 (on a CPU without AMX a 10-minute bottom was the
    # wall; 20 minutes of it read far more real given true tops), and train + train-prior stay within the hour.
    # `train` then `train-prior` with no other flags take under an hour on 2 cores. `model.bottom=residual`
    # without bottom dropout was tried here and let the top collapse to one mean slice at 128 px (RESULTS.md).
    # A sample's top is drawn whole by a Gaussian over the training tops (64 components a slice-position class, its
    # spread 1.3 times the fitted one; models/gaussian_top.py): its tops read far more real than the masked-code
    # top's, which stays the top's likelihood (anomaly maps, inpainting).
    "realistic": {"model": {"arch": "vqvae2", "top_factor": 2, "bottom_dropout": 0.25, "padding": "circular"},
                  "train": {"max_minutes": 22.0, "max_epochs": 1000},
                  "prior": {"arch": "maskgit", "bottom_arch": "maskgit", "channels": 64, "layers": 10,
                            "dropout": 0.1, "classes": 8, "label_dropout": 0.1, "augment": 8, "augment_degrees": 0.0,
                            "lr": 1e-3, "level": "each", "top_share": 0.385, "max_minutes": 26.0, "max_epochs": 1000,
                            "choice_temperature": 20.0, "top_sampler": "gaussian", "top_components": 64,
                            "top_spread": 1.3}},
}
