"""The package's version, defined once: in pyproject.toml, read from the installed package's metadata."""
from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("vqmri")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0+unknown"
