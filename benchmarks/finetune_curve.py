"""Fine-tuning against training from scratch, by the clock (issue 23): the validation SSIM of each run against its
training minutes (`val/minutes` of logs/metrics.csv), and the minutes the fine-tuned run needed to reach the
scratch run's last validation SSIM. Both runs should validate equally often (same `train.val_every`) and run alone.

Usage: python benchmarks/finetune_curve.py SCRATCH_RUN TUNED_RUN OUT.json
"""
import csv
import json
import sys
from pathlib import Path


def curve(run: Path) -> list[tuple[float, float, int]]:
    """(minutes, val SSIM, step) of each validation."""
    rows = csv.DictReader((run / "logs/metrics.csv").open())
    return [(float(r["val/minutes"]), float(r["val/ssim"]), int(float(r["val/step"]))) for r in rows
            if r.get("val/minutes") and r.get("val/ssim")]


def main():
    scratch, tuned, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    a, b = curve(scratch), curve(tuned)
    for run, rows in ((scratch, a), (tuned, b)):
        if not rows:
            sys.exit(f"{run}: no validation with val/minutes in logs/metrics.csv (a run from before it was logged)")
    target = a[-1][1]
    reached = next((m for m, s, _ in b if s >= target), None)
    res = {"scratch": str(scratch), "tuned": str(tuned), "scratch_curve": a, "tuned_curve": b,
           "scratch_final_val_ssim": target, "scratch_minutes": a[-1][0],
           "tuned_minutes_to_reach_scratch_final": reached, "tuned_final_val_ssim": b[-1][1]}
    print("minutes  scratch  |  minutes  tuned")
    for i in range(max(len(a), len(b))):
        left = f"{a[i][0]:7.2f}  {a[i][1]:.4f}" if i < len(a) else " " * 15
        right = f"{b[i][0]:7.2f}  {b[i][1]:.4f}" if i < len(b) else ""
        print(f"{left}  |  {right}")
    print(f"scratch reaches {target:.4f} in {a[-1][0]:.1f} min; tuned reaches it in "
          + (f"{reached:.1f} min" if reached is not None else "more than its budget"))
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
