"""Huge pages for the `vqmri` console command: why and when the command starts itself again with glibc's
`malloc.hugetlb` tunable (read only at process start-up)."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def huge_page_env(environ=None, libc: str | None = None,
                   thp: str = "/sys/kernel/mm/transparent_hugepage/enabled") -> dict | None:
    """The environment to start `vqmri` again in so that glibc backs large allocations with transparent huge pages,
    or None where that is already so, is turned off (VQMRI_HUGEPAGES=0) or is not there (not glibc >= 2.35, THP
    never). Why: a batch of 128-256 px feature maps is over glibc's 32 MB mmap ceiling, so each step maps its
    activations afresh and faults them in 4 kB at a time (benchmarks/RESULTS.md); glibc reads the setting only at
    start-up."""
    environ = os.environ if environ is None else environ
    tunables = environ.get("GLIBC_TUNABLES", "")
    if (environ.get("VQMRI_HUGEPAGES", "1") == "0" or environ.get("_VQMRI_STARTED_AGAIN")
            or "glibc.malloc.hugetlb" in tunables or not sys.platform.startswith("linux")):
        return None
    try:
        libc = libc if libc is not None else os.confstr("CS_GNU_LIBC_VERSION") or ""
        name, version = libc.split()
        if name != "glibc" or tuple(int(v) for v in version.split(".")[:2]) < (2, 35):
            return None
        if "[never]" in Path(thp).read_text():
            return None
    except (OSError, ValueError):
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, [tunables, "glibc.malloc.hugetlb=1"])),
            "_VQMRI_STARTED_AGAIN": "1"}
