"""The driver-side progress helper: start/done lines with elapsed time, failures, the tqdm bar and silence."""
from __future__ import annotations

import io
import re

import pytest

from pipelines.core.progress import interactive, progress


def test_start_and_done_lines_with_elapsed_time():
    out = io.StringIO()
    with progress("loading model", stream=out, show=True) as p:
        p.update()
    lines = out.getvalue().splitlines()
    assert lines[0] == "loading model ..."
    assert re.fullmatch(r"loading model done in \d+\.\ds", lines[1])


def test_failure_is_reported_and_reraised():
    out = io.StringIO()
    with pytest.raises(ValueError, match="boom"):
        with progress("FAISS k-means", stream=out, show=True):
            raise ValueError("boom")
    assert re.fullmatch(r"FAISS k-means failed after \d+\.\ds", out.getvalue().splitlines()[-1])


def test_total_draws_a_tqdm_bar_and_counts_units():
    out = io.StringIO()
    with progress("k-means iterations", total=5, stream=out, show=True) as p:
        for _ in range(5):
            p.update()
    text = out.getvalue()
    assert "k-means iterations: 100%" in text and "5/5" in text
    assert re.search(r"k-means iterations done in \d+\.\ds \(5/5\)$", text.strip())


def test_silent_when_progress_is_off(monkeypatch):
    monkeypatch.setenv("LAKESIEVE_PROGRESS", "false")
    out = io.StringIO()
    with progress("anything", total=3, stream=out) as p:
        p.update(3)
    assert out.getvalue() == "" and p.done == 3


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal_unless_the_setting_says(monkeypatch):
    """In a log file (not a terminal) a long step prints its two lines but no redrawn bar; a terminal
    gets the bar; LAKESIEVE_PROGRESS=true forces the bar (and Spark's) into a log, false silences all."""
    monkeypatch.delenv("LAKESIEVE_PROGRESS", raising=False)
    log, tty = io.StringIO(), _Terminal()
    for out in (log, tty):
        with progress("k-means iterations", total=4, stream=out) as p:
            p.update(4)
    assert log.getvalue().splitlines()[0] == "k-means iterations ..." and "%|" not in log.getvalue()
    assert "k-means iterations: 100%" in tty.getvalue()
    assert (interactive(log), interactive(tty)) == (False, True)
    monkeypatch.setenv("LAKESIEVE_PROGRESS", "true")
    assert (interactive(log), interactive(tty)) == (True, True)
    monkeypatch.setenv("LAKESIEVE_PROGRESS", "off")
    assert (interactive(log), interactive(tty)) == (False, False)
