"""Tests for idgrad.ops.progress: the one progress bar (tqdm when installed, else the fallback)."""

from __future__ import annotations

import io

import pytest

from idgrad.ops.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_fallback_writes_few_lines() -> None:
    log = io.StringIO()
    bar = Progress(6, unit="eval", stream=log, use_tqdm=False, interval_log=3600.0)
    bar.set_description("predicting")  # a new description: one line
    for _ in range(5):
        bar.update(1)  # within the interval: no line
    bar.set_description("figures")
    bar.update(1)  # complete: one line
    bar.close()  # already printed the completed count: nothing more
    bar.close()  # idempotent
    lines = log.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "predicting: 0/6 eval",
        "figures: 5/6 eval",
        "figures: 6/6 eval",
    ]
    assert lines[-1].startswith("figures: 6/6 eval (100.0%, ")
    assert bar.done == 6


def test_log_fallback_prints_on_close_when_incomplete_and_after_the_interval() -> None:
    log = io.StringIO()
    with Progress(10, unit="ex", stream=log, use_tqdm=False, interval_log=0.0) as bar:
        bar.update(3)  # interval 0: every update draws
        bar.update(2)
    assert [line.split(" (")[0] for line in log.getvalue().splitlines()] == [
        "3/10 ex",
        "5/10 ex",
        "5/10 ex",  # close draws the final state of an unfinished job
    ]


def test_terminal_fallback_rewrites_one_line() -> None:
    term = _Terminal()
    with Progress(4, unit="eval", description="long name", stream=term, use_tqdm=False) as bar:
        bar.set_description("x")
        bar.update(4)
    out = term.getvalue()
    assert out.endswith("\n") and out.count("\n") == 1
    frames = out.rstrip("\n").split("\r")[1:]
    assert frames[0].startswith("x: 0/4 eval")
    assert frames[-1].startswith("x: 4/4 eval (100.0%")
    assert len({len(f) for f in frames}) == 1  # padded: a shorter text erases a longer one


def test_disabled_prints_nothing_but_counts() -> None:
    log = io.StringIO()
    with Progress(3, unit="ex", stream=log, enabled=False) as bar:
        bar.set_description("quiet")
        bar.update(3)
    assert log.getvalue() == "" and bar.done == 3


def test_tqdm_draws_on_a_terminal_when_installed() -> None:
    pytest.importorskip("tqdm")
    term = _Terminal()
    with Progress(5, unit="ex", description="job", stream=term) as bar:
        assert bar._bar is not None  # tqdm's bar, not the fallback
        bar.update(5)
    assert "job" in term.getvalue() and "5/5" in term.getvalue()


def test_a_log_gets_lines_without_carriage_returns_even_with_tqdm() -> None:
    """Off a terminal no bar is drawn (tqdm's own ``disable=None`` rule): plain lines."""
    pytest.importorskip("tqdm")
    log = io.StringIO()
    with Progress(500, unit="ex", description="job", stream=log, interval_log=0.0) as bar:
        for _ in range(500):
            bar.update(1)
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[-1].startswith("job: 500/500 ex (100.0%") and len(lines) == 500


def test_bad_total() -> None:
    with pytest.raises(ValueError, match="total"):
        Progress(-1, unit="ex")
    with pytest.raises(TypeError, match="total must be an int"):
        Progress(2.5, unit="ex")  # type: ignore[arg-type]
