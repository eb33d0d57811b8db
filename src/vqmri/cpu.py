"""What this CPU offers, read from Linux's /proc/cpuinfo: the flags that decide bf16 autocast for a fit
(training.trainer) and the figures a speed benchmark needs for the CPU's peak. Unreadable (not Linux): nothing."""
from __future__ import annotations

import re
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpuinfo_field(name: str) -> str | None:
    """The first processor's value of `name` (e.g. "model name", "cpu MHz", "cpu family"), or None."""
    try:
        info = CPUINFO.read_text()
    except OSError:
        return None
    found = re.search(rf"^{re.escape(name)}\s*:(.*)$", info, re.M)
    return found.group(1).strip() if found else None


def cpu_flags() -> set[str]:
    """The instruction-set flags (avx2, avx512f, avx512_bf16, amx_bf16, ...); empty where unreadable."""
    return set((cpuinfo_field("flags") or "").split())


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX-BF16). Elsewhere oneDNN emulates
    bfloat16, slower than float32."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
