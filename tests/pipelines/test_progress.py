"""The progress line: on a terminal only, with what a checkpointed run has committed."""

from __future__ import annotations

import io

from pipelines.progress import ProgressLine
from sources.pardot import SyncReport


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_shows_the_counters_and_what_is_committed() -> None:
    terminal = Terminal()
    line = ProgressLine(terminal, interval=0)
    report = SyncReport(pages=300, opportunities=60_000, requests=301)
    line(report)
    assert "opportunities 60,000" in terminal.getvalue()
    assert "committed" not in terminal.getvalue(), "nothing committed before a checkpoint"
    report.checkpoints, report.checkpointed = 1, 50_000
    line(report)
    line.close()
    last = terminal.getvalue().split("\r")[-1]
    assert "requests 301" in last and "committed 50,000" in last
    assert last.endswith("\n")


def test_nothing_is_written_when_stderr_is_not_a_terminal() -> None:
    captured = io.StringIO()
    line = ProgressLine(captured, interval=0)
    line(SyncReport(pages=1, opportunities=200, requests=1))
    line.close()
    assert captured.getvalue() == ""
