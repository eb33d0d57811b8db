"""Progress bars where a user waits (decoding a folder, encoding code maps, sampling): tqdm on stderr, shown only
after two seconds, only on a terminal, and never under `--json` (`quiet()`), so logs and pipes stay clean."""
from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable

from tqdm.auto import tqdm

_ENV = "VQMRI_QUIET"


def quiet(on: bool = True) -> None:
    """No progress bars in this process and its children (set by the CLI for --json)."""
    if on:
        os.environ[_ENV] = "1"
    else:
        os.environ.pop(_ENV, None)


DELAY = 2.0  # seconds before a bar appears: quick steps print nothing


def bar(iterable: Iterable, desc: str, total: int | None = None, unit: str = "it") -> Iterable:
    """`iterable` with a tqdm bar (count, rate and time left) on a terminal's stderr, unless quiet."""
    shown = not os.environ.get(_ENV) and sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, unit=unit, delay=DELAY, leave=False, disable=not shown,
                dynamic_ncols=True)


def quiet_library_warnings() -> None:
    """Lightning's and torch's warnings that say nothing to a vqmri user (worker counts, logging intervals, and on
    --resume the folders vqmri keeps on purpose: HistoryCSVLogger, RunCheckpoint)."""
    for message in (".*LeafSpec.*", ".*does not have many workers.*", ".*predict_dataloader.*",
                    ".*smaller than the logging interval.*", ".*exists and is not empty.*"):
        warnings.filterwarnings("ignore", message=message)
    os.environ.setdefault("POSSIBLE_USER_WARNING", "off")
