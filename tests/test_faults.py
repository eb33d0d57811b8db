"""Faults at several points of the commands that write a run: `train-prior` and `sample` killed (SIGKILL) or
interrupted (SIGINT) early and late. Afterwards the derived files are complete and current, or absent; the command
resumes (or simply runs again) and the run stays usable. (`train` has its own kill / interrupt tests in
test_cli_e2e.py.)"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY

from vqmri.runs import read_checkpoint

VQ = [sys.executable, "-m", "vqmri.cli"]
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def _stop(proc: subprocess.Popen, sig: int, when, timeout: float = 240) -> None:
    """Signal `proc` once `when()` says it is at the point under test; fails if it got there too late or never (a
    signal that lands after the command finished tests nothing)."""
    deadline = time.time() + timeout
    while not when() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None and when(), f"the command ended ({proc.returncode}) before reaching the point"
    os.killpg(proc.pid, sig) if sig == signal.SIGKILL else proc.send_signal(sig)
    err = proc.communicate(timeout=120)[1]
    # the point is inside the command, so vqmri's handler is in place: SIGINT ends in 130
    assert proc.returncode in ((-9, 137) if sig == signal.SIGKILL else (130,)), (proc.returncode, err[-500:])


@pytest.fixture
def fresh_run(run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run, out, ignore=shutil.ignore_patterns("prior", "codes", ".lock"))
    return out


@pytest.mark.parametrize("sig, point", [(signal.SIGKILL, "first-checkpoint"), (signal.SIGINT, "encoding")],
                         ids=["kill-after-checkpoint", "interrupt-while-encoding"])
def test_train_prior_killed_resumes_and_keeps_the_run_usable(fresh_run, sig, point):
    before = yaml.safe_load((fresh_run / "config.yaml").read_text())
    ckpts = fresh_run / "prior/checkpoints"
    when = {"encoding": lambda: (fresh_run / ".lock").exists(),
            "first-checkpoint": lambda: (ckpts / "last.ckpt").exists()}[point]
    proc = subprocess.Popen([*VQ, "train-prior", str(fresh_run), "--max-epochs", "100", "prior.channels=8"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, start_new_session=True)
    _stop(proc, sig, when)
    # config.yaml changes only when a fit succeeds; code maps are whole (they carry their checkpoint id)
    assert yaml.safe_load((fresh_run / "config.yaml").read_text()) == before
    for npz in (fresh_run / "codes").glob("*.npz"):
        assert "checkpoint" in np.load(npz).files
    for ckpt in ckpts.glob("*.ckpt"):
        read_checkpoint(ckpt)
    resumed = (ckpts / "last.ckpt").exists()
    res = subprocess.run([*VQ, "train-prior", str(fresh_run), "--max-epochs", "2", "prior.channels=8",
                          *(["--resume"] if resumed else [])], capture_output=True, text=True, env=ENV, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert not list(ckpts.glob(".*tmp-*"))  # a killed writer's temporary file is gone once a checkpoint is saved
    assert yaml.safe_load((fresh_run / "config.yaml").read_text())["prior"]["channels"] == 8
    if sig != signal.SIGKILL:  # the run's usability after a fault is checked once, after the harder one
        return
    res = subprocess.run([*VQ, "sample", str(fresh_run), "-n", "2", "--out", str(fresh_run.parent / "s")],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.fixture(scope="module")
def sampling(run, tmp_path_factory):
    """The run with a prior and the files of a 60-sample `sample` call."""
    if not (run / "prior/checkpoints/best.ckpt").exists():
        assert subprocess.run([*VQ, "train-prior", str(run), "--max-epochs", "1"], env=ENV).returncode == 0
    out = tmp_path_factory.mktemp("sampling") / "samples"
    assert subprocess.run(_sample(run, out, 60), env=ENV, capture_output=True).returncode == 0
    return run, sorted(p.name for p in out.iterdir())


def _sample(run: Path, out: Path, n: int) -> list[str]:
    return [*VQ, "sample", str(run), "-n", str(n), "--out", str(out), "--seed", "1"]


WATCHED_SAMPLING = """
import sys, time
from pathlib import Path
import vqmri.models.pixelcnn as sampling  # the PixelCNN's row loop reports through its `bar`
bar = sampling.bar
def watched(items, desc, total, *a, **k):  # each row drawn is reported, so the test signals while rows are drawn
    for i, item in enumerate(bar(items, desc, total, *a, **k)):
        Path(sys.argv[1]).write_text(f"{i / total}")
        time.sleep(0.1)  # the row takes long enough for the signal to land inside it
        yield item
sampling.bar = watched
from vqmri.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _reached(progress: Path, share: float) -> bool:
    try:
        return float(progress.read_text() or 0) >= share
    except (FileNotFoundError, ValueError):
        return False


@pytest.mark.parametrize("sig, point", [(signal.SIGKILL, 0.5), (signal.SIGINT, 0.85)],
                         ids=["kill-midway", "interrupt-late"])
def test_sample_killed_leaves_the_old_set_or_none(sampling, tmp_path, sig, point):
    run, expected = sampling
    out = tmp_path / "samples"
    argv = _sample(run, out, 60)
    assert subprocess.run(_sample(run, out, 3), env=ENV, capture_output=True).returncode == 0  # an old set
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    progress = tmp_path / "rows"
    proc = subprocess.Popen([sys.executable, "-c", WATCHED_SAMPLING, str(progress), *argv[3:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    _stop(proc, sig, lambda: _reached(progress, point))
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    # either the old set, untouched, or the whole new one: never a mix, never a part
    assert now == old or sorted(now) == expected, (sorted(now)[:5], len(now))
    if now != old:
        assert len(np.load(out / "codes.npy")) == 60 and len(list(out.glob("sample_*.png"))) == 60
    again = subprocess.run(argv, env=ENV, capture_output=True)
    assert again.returncode == 0 and sorted(p.name for p in out.iterdir()) == expected
    assert not list(tmp_path.glob(".samples.tmp-*"))


SLOW_PROGRESS = """
import sys, time
from pathlib import Path
import vqmri.data.cache as cache
bar = cache.bar
def slow(items, *a, **k):  # the workers are done and wait idle for more while the parent still reads results
    for item in bar(items, *a, **k):
        Path(sys.argv[1]).touch()
        time.sleep(0.2)
        yield item
cache.bar = slow
from vqmri.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("sig, group", [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c-to-the-group", "sigterm-to-every-process", "sigterm-to-the-command"])
def test_interrupt_while_worker_processes_decode_a_folder(tmp_path, sig, group):
    """Ctrl-C reaches the decoding workers too (the terminal signals the whole group), `pkill -f vqmri` sends
    SIGTERM to each process: either way one line, exit 128 + signal, no worker's traceback, no process left. The
    workers are idle by then (the parent reads results slowly): where they took the command's handler, each raised
    outside its task and the pool broke."""
    from conftest import write_png

    for i in range(40):
        write_png(tmp_path / "data" / f"case_{i:03d}_slice_0.nii.png", seed=i)
    started = tmp_path / "started"
    argv = ["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--max-epochs", "1", *TINY]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_PROGRESS, str(started), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    deadline = time.time() + 120
    while not started.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the pool's workers are all running
    os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the command hung after the interrupt")
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith(f"interrupted by {signal.Signals(sig).name}"), err
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert not left, f"processes left behind: {left}"
