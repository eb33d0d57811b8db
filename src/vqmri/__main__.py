"""`python -m vqmri ...`: the `vqmri` command without its console script (e.g. from a source tree)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
