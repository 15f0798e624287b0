"""The command-line progress bar: drawn in place on a terminal, plain lines in logs."""

from __future__ import annotations

import io
import logging

from appliance.progress import ProgressBar
from tests.support.clock import ManualClock


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_only_the_messages() -> None:
    log = io.StringIO()
    bar = ProgressBar(2, log)
    bar.working_on("a.pdf")
    bar.advance("[1/2] a.pdf: 3 chunks")
    bar.working_on("b.pdf")
    bar.advance("[2/2] FAILED b.pdf: corrupt PDF")
    bar.close()
    assert log.getvalue() == "[1/2] a.pdf: 3 chunks\n[2/2] FAILED b.pdf: corrupt PDF\n"


def test_a_terminal_sees_counts_percent_time_left_and_the_current_file() -> None:
    clock = ManualClock()
    bar = ProgressBar(4, _Terminal(), clock=clock)
    bar.working_on("aufnahme.pdf")
    assert bar.line().startswith("[" + "." * 24 + "] 0/4 files   0%  0:00")
    assert bar.line().endswith("aufnahme.pdf")
    clock.now += 30
    bar.advance()
    bar.working_on("besuch.md")
    line = bar.line()
    assert line.startswith("[" + "#" * 6 + "." * 18 + "] 1/4 files  25%  0:30")
    assert "1:30 left" in line  # 30 s per file, three to go
    assert line.endswith("besuch.md")


def test_messages_go_above_the_bar_and_the_bar_ends_with_a_newline() -> None:
    terminal = _Terminal()
    bar = ProgressBar(1, terminal, clock=ManualClock())
    bar.working_on("a.md")
    bar.advance("[1/1] a.md: 2 chunks")
    bar.close()
    out = terminal.getvalue()
    message = out.index("[1/1] a.md: 2 chunks\n")
    assert out.rfind("\r\x1b[2K", 0, message) >= 0  # the bar was cleared before it
    assert out.endswith("] 1/1 files 100%  0:00\n")  # the finished bar stays, without a file


def test_an_empty_run_is_complete() -> None:
    bar = ProgressBar(0, _Terminal(), clock=ManualClock())
    assert "0/0 files 100%" in bar.line()


def test_a_log_line_on_the_same_terminal_clears_the_bar_first() -> None:
    terminal = _Terminal()
    handler = logging.StreamHandler(terminal)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        bar = ProgressBar(2, terminal, clock=ManualClock())
        bar.working_on("a.md")
        logging.getLogger("appliance.test").warning("model verified")
        bar.close()
        logging.getLogger("appliance.test").warning("after the bar")
    finally:
        root.removeHandler(handler)
    out = terminal.getvalue()
    assert "a.md\r\x1b[2Kmodel verified\n" in out  # cleared, then the log line on its own
    assert not handler.filters  # the bar let go of the handler when it closed
    assert out.endswith("after the bar\n")
