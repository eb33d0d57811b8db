"""Progress where a user waits: a bar with the time left on a terminal, nothing under --json or into a pipe, and
none of the framework's banners."""
import io
import json
import shutil
import sys

from vqmri import progress
from vqmri.cli import main


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _stderr_of(monkeypatch, argv, terminal=True) -> tuple[int, str]:
    err = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    code = main(argv)
    monkeypatch.undo()
    return code, err.getvalue()


def test_progress_on_a_terminal_only_with_the_time_left_and_never_under_json(with_prior, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.setattr(progress, "DELAY", 0.0)  # bars appear after two seconds; these steps are quicker
    sample = ["sample", str(with_prior), "-n", "2", "--out"]
    code, shown = _stderr_of(monkeypatch, [*sample, str(tmp_path / "a")])
    assert code == 0 and "sampling 2 maps, rows" in shown and "row/s" in shown and "<" in shown  # elapsed<left
    monkeypatch.setattr(progress, "DELAY", 0.0)
    code, piped = _stderr_of(monkeypatch, [*sample, str(tmp_path / "b")], terminal=False)
    assert code == 0 and "sampling" not in piped
    run = shutil.copytree(with_prior, tmp_path / "run")
    prior = ["evaluate-prior", str(run), "--split", "test"]

    def uncached():  # each call encodes the test split anew, so that there is something to wait for
        for f in (run / "codes").glob("test*"):
            f.unlink()
        monkeypatch.setattr(progress, "DELAY", 0.0)

    uncached()
    code, encoding = _stderr_of(monkeypatch, prior)
    assert code == 0 and "encoding" in encoding
    uncached()
    capsys.readouterr()
    code, quiet = _stderr_of(monkeypatch, [*prior, "--json"])
    assert code == 0 and "encoding" not in quiet
    assert json.loads(capsys.readouterr().out)["bits_per_code"] > 0  # stdout is the JSON alone
    uncached()
    code, again = _stderr_of(monkeypatch, prior)
    assert code == 0 and "encoding" in again  # --json quieted its own call only
    for banner in ("GPU available", "TPU available", "LOCAL_RANK", "weights_only", "litlogger", "Tip:"):
        assert banner not in shown + encoding + again, banner
