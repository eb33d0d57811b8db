"""Decode once: preprocessed slices of a split as a memory-mapped float32 array, keyed by files + settings.

A second epoch or a second run reads the memory map and decodes nothing. The cache lives in `$VQMRI_CACHE_DIR`
(default `~/.cache/vqmri`); each entry is written to a temporary folder and renamed into place, so an interrupted
first pass never leaves a half-written entry behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadFileError, VqmriError
from ..progress import bar
from . import dicom, geometry, readers
from .layouts import Source

CACHE_VERSION = 2  # 2: 2D NIfTI slices oriented like volume slices


@dataclass
class CachedSplit:
    """Slices at model size, (N, S, S) float32 memory map, with one metadata record per slice."""

    images: np.ndarray
    meta: list[dict]  # source, subject, index, shape
    skipped: list[str]
    decoded: int  # files decoded to build this (0 when read from cache)


def cache_root() -> Path:
    return Path(os.environ.get("VQMRI_CACHE_DIR", Path.home() / ".cache" / "vqmri"))


def cache_key(sources: list[Source], settings: dict) -> str:
    h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "settings": settings}, sort_keys=True).encode())
    for s in sources:
        p, _ = dicom.split_locator(s.path)
        try:
            st = p.stat()
        except FileNotFoundError:  # listed when the split was made (a run's splits.json), gone since
            raise VqmriError(f"{s.path} no longer exists, but the split lists it (a run's splits.json keeps the "
                             f"files it was made from); put the data back there, or pass --data PATH where the "
                             f"command takes it") from None
        stamp = st.st_mtime_ns if p.is_file() else max((f.stat().st_mtime_ns for f in p.iterdir()), default=0)
        h.update(f"{s.path}|{s.subject}|{st.st_size}|{stamp}\n".encode())
    return h.hexdigest()[:24]


def _worker_signals() -> None:
    """In each decoding worker: interrupts are the parent's to handle (Ctrl-C reaches the whole process group,
    `pkill` every process). Inherited, the command's handler raised in each idle worker: a traceback per worker
    and a broken pool that the parent then waited on for ever. The parent cancels what is left and the workers
    leave when the pool shuts down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _decode(args):
    """Worker: one source -> model-size slices (or the error, so the parent decides about --skip-bad)."""
    src, size, axis, min_tissue, skip_bad = args
    partly = [] if skip_bad else None  # unreadable files inside a DICOM series: left out, the rest kept
    try:
        slices = readers.read_any(src.path, axis, min_tissue, partly)
    except BadFileError as e:
        return src.path, None, [str(e)]
    out = [(geometry.to_model(s.array, size), {"source": s.source, "subject": src.subject, "index": s.index,
                                                 "shape": list(s.shape), "stored_shape": list(s.stored_shape),
                                                 "spacing": s.spacing}) for s in slices]
    return src.path, out, [f"{f}: unreadable DICOM file, left out of its series" for f in partly or []] or None


def load_split(sources: list[Source], image_size: int, axis: str = "axial", min_tissue: float = 0.05,
               skip_bad: bool = False, workers: int | None = None, use_cache: bool = True) -> CachedSplit:
    """Preprocessed slices of `sources`, from the cache when it holds them, else decoded (in parallel) and cached."""
    settings = {"image_size": image_size, "axis": axis, "min_tissue": min_tissue, "skip_bad": skip_bad}
    entry = cache_root() / cache_key(sources, settings) if use_cache else None
    if entry is not None and (entry / "meta.json").exists():
        meta = json.loads((entry / "meta.json").read_text())
        images = np.load(entry / "images.npy", mmap_mode="r")
        return CachedSplit(images, meta["slices"], meta["skipped"], 0)

    jobs = [(s, image_size, axis, min_tissue, skip_bad) for s in sources]
    workers = workers if workers is not None else min(len(jobs), os.cpu_count() or 1, 8)
    if workers > 1 and len(jobs) > 16:
        ex = ProcessPoolExecutor(workers, initializer=_worker_signals)
        try:
            results = list(bar(ex.map(_decode, jobs, chunksize=max(1, len(jobs) // (workers * 8))),
                               "reading files", len(jobs), "file"))
        except BrokenProcessPool:
            raise VqmriError("a process decoding the files died (out of memory?); run the command again, or free "
                             "memory first") from None
        finally:  # interrupted: the files not yet begun are dropped, only the running few are awaited
            ex.shutdown(wait=True, cancel_futures=True)
    else:
        results = [_decode(j) for j in bar(jobs, "reading files", len(jobs), "file")]
    skipped, arrays, metas = [], [], []
    decoded = sum(out is not None for _, out, _ in results)
    for _path, out, errs in results:
        if errs is not None:
            if not skip_bad:
                raise VqmriError(errs[0])
            skipped += errs
        for a, m in out or []:
            arrays.append(a)
            metas.append(m)
    images = np.stack(arrays).astype(np.float32) if arrays else np.zeros((0, image_size, image_size), np.float32)
    if entry is None:
        return CachedSplit(images, metas, skipped, decoded)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=".tmp-"))
    np.save(tmp / "images.npy", images)
    (tmp / "meta.json").write_text(json.dumps({"slices": metas, "skipped": skipped}))
    try:
        os.replace(tmp, entry)
    except OSError:  # another process won the race; theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return CachedSplit(np.load(entry / "images.npy", mmap_mode="r"), metas, skipped, decoded)
