"""User-facing errors: one line naming the file and the fix, shown without a traceback by the CLI."""


class VqmriError(Exception):
    """A mistake in the user's input (path, file, config). The CLI prints it as one line and exits 2."""


class BadFileError(VqmriError):
    """One input file cannot be read; `--skip-bad` turns these into skips."""

    def __init__(self, path, why: str, fix: str = "remove or replace it, or pass --skip-bad to skip unreadable files"):
        self.path = str(path)
        super().__init__(f"cannot read {path}: {why}; {fix}")


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached a command. A BaseException, so no `except Exception` on the way (ours or a
    library's) swallows it; the CLI ends with one line and exit 128 + the signal's number."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signum)
