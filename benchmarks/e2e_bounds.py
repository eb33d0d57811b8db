"""Where the end-to-end tests' numeric bounds come from (issue 42): the tests' tiny model (tests/conftest.py TINY,
3 epochs on sample:brain at 32 px, its prior one epoch) against the same model left untrained (learning rate 1e-9),
over seeds, so that each bound in tests/test_cli_e2e.py sits between what a trained and a broken model reach.

Usage: python benchmarks/e2e_bounds.py OUT.json [SEEDS]   (SEEDS default 0,1,2; about a minute a seed, alone)
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import TINY  # noqa: E402

VQ = [sys.executable, "-m", "vqmri.cli"]


def cli(*args) -> dict:
    out = subprocess.run([*VQ, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1]) if "--json" in args else {}


def measure(root: Path, seed: int, trained: bool) -> dict:
    run = root / f"{'trained' if trained else 'untrained'}{seed}"
    lr = [] if trained else ["train.lr=1e-9"]
    cli("train", "--data", "sample:brain", "--out", str(run), "--max-epochs", "3" if trained else "1", *TINY,
        f"train.seed={seed}", *lr)
    ev = cli("evaluate", str(run), "--split", "test", "--json")
    big = cli("evaluate", str(run), "--split", "test", "--json", "--image-size", "64", "--max-images", "8")
    cli("train-prior", str(run), "--max-epochs", "1", "prior.classes=2", f"prior.seed={seed}",
        *([] if trained else ["prior.lr=1e-9"]))
    pr = cli("evaluate-prior", str(run), "--split", "test", "--json")
    return {"ssim_32": ev["ssim_mean"], "ssim_min_32": ev["ssim_min"], "ssim_64": big["ssim_mean"],
            "prior_bits_per_code": pr["bits_per_code"]}


def main():
    out = sys.argv[1]
    seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2").split(",")]
    res = {"model": "tests/conftest.py TINY, sample:brain test split", "seeds": seeds, "trained": [], "untrained": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for trained in (True, False):
                row = measure(Path(tmp), seed, trained)
                res["trained" if trained else "untrained"].append(row)
                print("trained" if trained else "untrained", seed, row, flush=True)
                Path(out).write_text(json.dumps(res, indent=1))
    for key in res["trained"][0]:
        t = [r[key] for r in res["trained"]]
        u = [r[key] for r in res["untrained"]]
        print(f"{key}: trained {min(t):.3f}..{max(t):.3f}, untrained {min(u):.3f}..{max(u):.3f}")


if __name__ == "__main__":
    main()
