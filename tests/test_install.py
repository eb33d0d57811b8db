"""The install is the locked one: requirements.lock pins every package but torch, each of pyproject.toml's
requirements is met by its pinned version (so its lower bound is a tested one), and the environment these tests run
in is the lock's (what `make install` and CI build)."""
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer
ROOT = Path(__file__).resolve().parents[1]


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, pinned = line.split("==")
            pins[canonicalize_name(name)] = pinned.strip()
    return pins


def _required() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_the_lock_pins_every_requirement_at_a_version_pyproject_allows():
    pins = _locked()
    assert "torch" not in pins  # the Makefile installs torch, CPU or CUDA
    for req in _required():
        name = canonicalize_name(req.name)
        if name == "torch":
            continue
        assert name in pins, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name]), f"requirements.lock pins {name}=={pins[name]}, outside {req}"


@pytest.mark.parametrize("name", sorted(_locked()))
def test_the_environment_is_the_locked_one(name):
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is locked but not installed: `rm -rf .venv && make install`")
    assert installed == _locked()[name], f"{name} {installed} installed, {_locked()[name]} locked"
