"""The run folder and every checkpoint in it, read one way: each network is rebuilt from the settings its own
checkpoint carries (not from config.yaml, which a later command may have changed), so a run folder always opens
as what was trained. The trained model a user holds is `vqmodel.VQModel`."""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import torch

from . import config as config_mod
from .errors import VqmriError
from .models.factory import build_prior
from .models.prior import CodePrior


class Run:
    """Paths inside RUN_DIR: config.yaml splits.json checkpoints/ logs/ figures/ codes/ prior/ eval/ report.html."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config_path = self.root / "config.yaml"
        self.checkpoints = self.root / "checkpoints"
        self.logs = self.root / "logs"
        self.figures = self.root / "figures"
        self.codes = self.root / "codes"
        self.prior = self.root / "prior"
        self.eval = self.root / "eval"
        self.report = self.root / "report.html"

    @classmethod
    def open(cls, root: str | Path) -> Run:
        run = cls(root)
        if not run.config_path.exists():
            raise VqmriError(f"{run.root} is not a vqmri run folder (no config.yaml); create one with "
                             f"`vqmri train --out {run.root}`")
        return run

    def make(self) -> Run:
        for d in (self.root, self.checkpoints, self.logs, self.figures):
            d.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def config(self) -> config_mod.Config:
        return config_mod.load(self.config_path)

    def checkpoint(self, which: str = "best", folder: Path | None = None) -> Path:
        folder = folder or self.checkpoints
        for name in (which, "last") if which == "best" else (which,):
            p = folder / f"{name}.ckpt"
            if p.exists():
                return p
        if folder == self.prior / "checkpoints":
            raise VqmriError(f"{self.root} has no prior yet; fit one with `vqmri train-prior {self.root}`")
        raise VqmriError(f"no {which} checkpoint in {folder}; train first (or resume with --resume {self.root})")

    def prior_checkpoint(self) -> Path:
        return self.checkpoint("best", self.prior / "checkpoints")


def clear_for_new_run(out: Path, force: bool, first_process: bool = True) -> None:
    """`train --out`: the folder must be absent, empty, or (with --force) a vqmri run to replace; never a folder of
    other files. Only the first process of a multi-process run looks (the others start once it made the folder)."""
    if not first_process or not out.exists() or not any(out.iterdir()):
        return
    if not (out / "config.yaml").exists():
        raise VqmriError(f"{out} holds files that are not a vqmri run; choose a new or empty --out (vqmri never "
                         "writes over other files)")
    if not force:
        raise VqmriError(f"{out} already holds a run; continue it with --resume {out}, choose another --out, or pass "
                         "--force to replace it")
    with RunLock(out, "train --force"):  # refuses while another command writes it
        pass
    shutil.rmtree(out)


def checkpoint_id(path: Path) -> str:
    """A short content hash of a checkpoint file: what derived files (code maps, priors, evaluations) record so that
    they are rebuilt or refused once the checkpoint they came from has changed."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class RunLock:
    """RUN_DIR/.lock while a command writes the run: a second writer is refused with one line; the lock of a process
    that no longer exists is taken over. Only the first process of a multi-process run holds it."""

    def __init__(self, root: Path, what: str):
        self.path, self.what = Path(root) / ".lock", what
        self.held = False

    def __enter__(self) -> RunLock:
        if int(os.environ.get("LOCAL_RANK", 0)) or int(os.environ.get("NODE_RANK", 0)):
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                text = self.path.read_text().split(maxsplit=1) if self.path.exists() else []
                pid = int(text[0]) if text and text[0].isdigit() else -1
                if pid > 0 and pid_alive(pid):
                    raise VqmriError(f"{self.path.parent} is being written by process {pid} "
                                     f"({text[1] if len(text) > 1 else 'vqmri'}); wait for it to finish, or use "
                                     "another run folder") from None
                self.path.unlink(missing_ok=True)  # a dead process's lock
                continue
            os.write(fd, f"{os.getpid()} vqmri {self.what}".encode())
            os.close(fd)
            self.held = True
            return self
        raise VqmriError(f"cannot lock {self.path.parent}; remove {self.path} if no vqmri command is using it")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_checkpoint(path: Path) -> dict:
    """A Lightning checkpoint as a dict of tensors and plain values. Read with `weights_only=True`: a checkpoint that
    would run code when unpickled is refused, never executed. A torn or foreign file is one line naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise VqmriError(f"{path} holds more than weights ({str(e).splitlines()[-1][:100]}); vqmri refuses to load "
                         "it, since unpickling it could run code. Use checkpoints you made, or an export "
                         "(`vqmri export`)") from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise VqmriError(f"cannot read checkpoint {path} ({str(e).splitlines()[0][:120]}); it is damaged: remove it "
                         "and resume from the other checkpoint, or train again") from None


def config_of(ckpt: dict) -> config_mod.Config:
    """The settings a checkpoint was trained with, with today's defaults for settings added since."""
    return config_mod.from_dict(ckpt["hyper_parameters"]["cfg"])


def load_prior(run: Run) -> CodePrior:
    """The run's prior (eval mode), rebuilt from its checkpoint's own settings; refused when it was fitted to the
    codes of an autoencoder checkpoint other than the run's best one now (a resumed or retrained autoencoder)."""
    path = run.prior_checkpoint()
    ckpt = read_checkpoint(path)
    hp = ckpt["hyper_parameters"]
    fitted_to = hp.get("autoencoder")
    if fitted_to is not None and fitted_to != checkpoint_id(run.checkpoint("best")):
        raise VqmriError(f"the prior in {path.parent} was fitted to the codes of an earlier autoencoder checkpoint "
                         f"than {run.checkpoint('best')}; fit it again with `vqmri train-prior {run.root}`")
    prior = build_prior(config_of(ckpt), hp["codebook_size"], hp["levels"], hp.get("shapes"))
    prior.load_state_dict({k[len("prior."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("prior.")})
    return prior.eval()
