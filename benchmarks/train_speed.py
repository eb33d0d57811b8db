"""Issue 43: the training step of each preset at 128 px against this CPU's FP32 peak.

For each preset: one training step (forward, the training loss, backward, AdamW) on a batch of the preset's size,
timed over STEPS steps after warm-up; its FLOPs counted by torch.utils.flop_counter on one forward + backward; images/s,
achieved GFLOP/s and the share of the peak (cores x clock x FP32 lanes x 2 for FMA x FMA units, read from the machine
and printed with it); the top operators by self CPU time (torch.profiler); and the data path alone (the slice cache
read through the training DataLoader, batches/s) beside the step, to tell whether loading can keep up.
Usage: python benchmarks/train_speed.py [OUT.json] [PRESET,...] [VARIANT,...]
  presets (default oasis,seed-oord,realistic,generate) may carry overrides: `realistic:model.padding=zeros`;
  variants (issue 43 item 2, one change each against `baseline`, the default): `channels_last` (model and batch in
  channels-last memory format), `compile` (torch.compile of the model; its compile time is left out of the timing),
  `bf16` (the forward under CPU autocast to bfloat16, the SSIM loss in float32 as in training: Lightning's
  `train.precision=bf16-mixed`).
Data: ../shared/data/oasis when present, else the built-in sample:brain (resized to 128 px). Run it alone."""
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vqmri import config
from vqmri.cpu import cpu_flags, cpuinfo_field
from vqmri.data.datamodule import SliceDataModule, discover_from_config
from vqmri.hugepages import huge_page_env
from vqmri.models.factory import build_autoencoder
from vqmri.training.losses import reconstruction_loss

STEPS, WARMUP = 12, 3
OASIS = Path(__file__).resolve().parents[1] / "../shared/data/oasis"


def cpu_peak() -> dict:
    """FP32 peak from /proc/cpuinfo: the FMA datapath's FP32 lanes x 2 flops an FMA x 2 FMA units a core (server
    cores of every kind here have two; an assumption, printed) x clock x the cores torch uses. The datapath is the
    widest vector the flags name (AVX-512: 16 lanes, AVX2: 8), except on AMD before Zen 5 (family < 26), whose cores
    run an AVX-512 instruction on 256-bit units: 8 lanes a unit, half the naive figure."""
    flags = cpu_flags()
    mhz = float(cpuinfo_field("cpu MHz") or "nan")
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags and "fma" in flags else 4
    family = cpuinfo_field("cpu family")
    if cpuinfo_field("vendor_id") == "AuthenticAMD" and family and int(family) < 26:
        lanes = min(lanes, 8)
    cores = torch.get_num_threads()
    return {"cpu": cpuinfo_field("model name") or platform.processor(), "cores_used": cores, "mhz": mhz,
            "fp32_lanes": lanes, "fma_units_assumed": 2,
            "peak_gflops": round(cores * mhz / 1e3 * lanes * 2 * 2, 1)}


def one_step(model, opt, x, cfg, bf16: bool = False) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        outs, qs = model.reconstructions(x)
    loss = sum(reconstruction_loss(o, x, cfg.train.loss, cfg.train.ssim_weight) for o in outs) + sum(q.loss for q in qs)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def data_path(cfg, batches: int) -> float:
    """Batches/s of the training DataLoader alone (the slice cache, augmentation and collation; no model)."""
    dm = SliceDataModule(cfg, discover_from_config(cfg), cfg.train.batch_size)
    loader = iter(dm.train_dataloader())
    next(loader)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return batches / (time.perf_counter() - t0)


VARIANTS = ("baseline", "channels_last", "compile", "bf16")


def measure(preset: str, data: str, variant: str = "baseline") -> dict:
    name, *overrides = preset.split(":")
    cfg = config.validate(config.resolve(name, overrides=overrides), data={"path": data, "image_size": 128})
    torch.manual_seed(0)
    model = build_autoencoder(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    b = cfg.train.batch_size
    x = torch.rand(b, 1, 128, 128)
    if variant not in VARIANTS:
        raise SystemExit(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    if variant == "channels_last":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter:
        outs, qs = model.reconstructions(x)
        (sum(reconstruction_loss(o, x, cfg.train.loss, cfg.train.ssim_weight) for o in outs)
         + sum(q.loss for q in qs)).backward()
    flops = counter.get_total_flops()
    if variant == "compile":  # after counting: the counter sees the eager graph
        model.reconstructions = torch.compile(model.reconstructions)
    bf16 = variant == "bf16"
    for _ in range(WARMUP):
        one_step(model, opt, x, cfg, bf16)
    t0 = time.perf_counter()
    for _ in range(STEPS):
        one_step(model, opt, x, cfg, bf16)
    step = (time.perf_counter() - t0) / STEPS
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            one_step(model, opt, x, cfg, bf16)
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    top = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    loader = data_path(cfg, 10)
    return {"preset": preset, "variant": variant, "batch": b, "params": sum(p.numel() for p in model.parameters()),
            "gflop_per_step": round(flops / 1e9, 2), "step_s": round(step, 4), "images_per_s": round(b / step, 1),
            "gflops_achieved": round(flops / step / 1e9, 1),
            "top_ops_share": {e.key: round(e.self_cpu_time_total / total, 3) for e in top},
            "data_batches_per_s": round(loader, 1), "steps_per_s": round(1 / step, 2)}


def main() -> None:
    env = huge_page_env()  # as the `vqmri` command runs: glibc huge pages for large allocations
    if env is not None:
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    presets = sys.argv[2].split(",") if len(sys.argv) > 2 else ["oasis", "seed-oord", "realistic", "generate"]
    variants = sys.argv[3].split(",") if len(sys.argv) > 3 else ["baseline"]
    data = str(OASIS) if OASIS.exists() else "sample:brain"
    peak = cpu_peak()
    res = {"date": time.strftime("%Y-%m-%d"), "machine": {**peak, "torch": torch.__version__,
                                                          "threads": torch.get_num_threads(),
                                                          "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")},
           "data": "../shared/data/oasis" if data != "sample:brain" else data, "image_size": 128, "presets": []}
    for preset in presets:
        for variant in variants:
            r = measure(preset, data, variant)
            r["share_of_peak"] = round(r["gflops_achieved"] / peak["peak_gflops"], 3)
            res["presets"].append(r)
            print(json.dumps(r), flush=True)
    if out:
        out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
