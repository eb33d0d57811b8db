"""`train.precision=auto`: which precision each kind of fit gets on each kind of machine."""
import itertools

import pytest

from vqmri import cpu
from vqmri.training import trainer

FLAGS = {"none": "fpu avx2 avx512f", "avx512_bf16": "fpu avx512f avx512_bf16", "amx_bf16": "fpu amx_tile amx_bf16"}


@pytest.mark.parametrize("flags", FLAGS)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, monkeypatch, flags):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {FLAGS[flags]}\n")
    monkeypatch.setattr(cpu, "CPUINFO", info)
    assert cpu.native_bf16_cpu() == (flags != "none")
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "absent")
    assert not cpu.native_bf16_cpu()
    assert cpu.cpu_flags() == set() and cpu.cpuinfo_field("model name") is None


@pytest.mark.parametrize("setting,cuda,native,cpu_bf16",
                         list(itertools.product(["auto", "32-true", "bf16-mixed"], [False, True], [False, True],
                                                [False, True])))
def test_auto_precision(monkeypatch, setting, cuda, native, cpu_bf16):
    monkeypatch.setattr(trainer.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(trainer.torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(trainer, "native_bf16_cpu", lambda: native)
    got = trainer.precision_for(setting, cpu_bf16)
    if setting != "auto":
        assert got == setting  # a setting given is taken as it is
    elif cuda:
        assert got == "bf16-mixed"
    else:  # a CPU: bf16 only for a fit that asks for it, on a CPU that has it in hardware
        assert got == ("bf16-mixed" if native and cpu_bf16 else "32-true")
