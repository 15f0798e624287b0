"""A progress bar for long command-line work (ingesting a folder of documents).

On a terminal the bar is one line, redrawn in place: done/total, percent, the
elapsed time and an estimate of what is left, and the item being worked on.
Messages (a file done, a file refused) are printed above it, so nothing is lost
when the bar moves on. When the stream is not a terminal (a log file, Ansible,
CI), only the messages are written: no carriage returns in logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TextIO

_WIDTH = 24


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


class ProgressBar:
    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        unit: str = "files",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(total, 0)
        self.done = 0
        self._stream = stream
        self._unit = unit
        self._clock = clock
        self._started = clock()
        self._current = ""
        self._drawn = False
        self.interactive = stream.isatty()
        # A log record written to the same terminal first clears the bar, so the
        # two never share a line; the bar comes back with the next update.
        self._log_handlers = [
            handler
            for handler in logging.getLogger().handlers
            if self.interactive and getattr(handler, "stream", None) is stream
        ]
        for handler in self._log_handlers:
            handler.addFilter(self._before_log)

    def line(self) -> str:
        """The bar as it is drawn now."""
        share = self.done / self.total if self.total else 1.0
        filled = round(_WIDTH * share)
        elapsed = self._clock() - self._started
        left = elapsed / self.done * (self.total - self.done) if self.done else None
        eta = f", {_clock_text(left)} left" if left is not None and self.done < self.total else ""
        current = f"  {self._current}" if self._current and self.done < self.total else ""
        return (
            f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {self.done}/{self.total} {self._unit} "
            f"{share:4.0%}  {_clock_text(elapsed)}{eta}{current}"
        )

    def working_on(self, name: str) -> None:
        self._current = name
        self._draw()

    def advance(self, message: str | None = None) -> None:
        """One item is done; ``message`` (if any) is printed above the bar."""
        self.done = min(self.done + 1, self.total)
        self._current = ""
        if message is not None:
            self.say(message)
        self._draw()

    def say(self, message: str) -> None:
        self._clear()
        print(message, file=self._stream, flush=True)

    def close(self) -> None:
        for handler in self._log_handlers:
            handler.removeFilter(self._before_log)
        self._log_handlers = []
        if self.interactive and self._drawn:
            self._draw()
            print(file=self._stream, flush=True)
            self._drawn = False

    def _before_log(self, record: logging.LogRecord) -> bool:
        self._clear()
        return True

    def _clear(self) -> None:
        if self.interactive and self._drawn:
            self._stream.write("\r\x1b[2K")
            self._drawn = False

    def _draw(self) -> None:
        if not self.interactive:
            return
        self._stream.write("\r\x1b[2K" + self.line())
        self._stream.flush()
        self._drawn = True
