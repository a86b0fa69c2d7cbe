"""One progress bar for the long jobs (``idgrad demo``, ``idgrad dataset``).

:class:`Progress` counts work done out of a known total on stderr. On a terminal, tqdm draws
the bar when it is installed; otherwise (tqdm is no dependency of idgrad) a small fallback
rewrites one line in place at most every ``interval_tty`` seconds. In a log (the stream is not
a terminal: a file, a pipe, a captured output) no bar is drawn, as tqdm itself does with
``disable=None``: the fallback appends a plain line (no carriage return) at most every
``interval_log`` seconds, whenever the description changes and when the work completes, so
a log stays short and readable. A disabled bar prints nothing.

Example:
    >>> import io
    >>> log = io.StringIO()
    >>> with Progress(10, unit="ex", description="demo", stream=log, use_tqdm=False) as bar:
    ...     bar.update(4)
    ...     bar.update(6)
    >>> print(log.getvalue().strip())  # doctest: +ELLIPSIS
    demo: 10/10 ex (100.0%, ... s)
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from idgrad.core.validation import check_int

__all__ = ["Progress"]


class Progress:
    """Progress over ``total`` units of work, drawn on ``stream`` (stderr by default).

    Args:
        total: units of work expected (``>= 0``).
        unit: what one unit is, e.g. ``"eval"`` or ``"ex"``.
        description: text in front of the count; change it with :meth:`set_description`.
        enabled: ``False`` prints nothing (the counter still counts).
        stream: where to write; default ``sys.stderr`` at construction.
        use_tqdm: on a terminal, draw with tqdm when it is installed (``False`` forces the
            fallback; off a terminal the fallback's lines are always used).
        interval_tty: least seconds between two redraws of the fallback on a terminal.
        interval_log: least seconds between two fallback lines in a log.

    Attributes:
        done: units counted so far.
    """

    def __init__(
        self,
        total: int,
        *,
        unit: str,
        description: str = "",
        enabled: bool = True,
        stream: TextIO | None = None,
        use_tqdm: bool = True,
        interval_tty: float = 0.5,
        interval_log: float = 5.0,
    ) -> None:
        self.total = check_int(total, "total", minimum=0)
        self.unit = unit
        self.description = description
        self.enabled = enabled
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interval = interval_tty if self._tty else interval_log
        self._start = time.perf_counter()
        self._last = self._start
        self._width = 0
        self._printed_done = False
        self._closed = False
        self._bar: Any = None
        if enabled and use_tqdm and self._tty:
            try:
                from tqdm.auto import tqdm  # type: ignore[import-untyped]
            except ImportError:
                pass
            else:
                self._bar = tqdm(
                    total=total,
                    desc=description or None,
                    unit=unit,
                    file=self._stream,
                    dynamic_ncols=True,
                )

    def set_description(self, description: str) -> None:
        """Show ``description`` in front of the count from now on (drawn at once)."""
        self.description = description
        if self._bar is not None:
            self._bar.set_description(description, refresh=True)
        else:
            self._draw(force=True)

    def update(self, n: int) -> None:
        """Count ``n`` more units."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        else:
            self._draw(force=self.done >= self.total and not self._printed_done)

    def close(self) -> None:
        """Finish the bar (idempotent); the fallback draws its final state."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            if not self._printed_done or self._tty:
                self._draw(force=True)
            if self._tty:
                print(file=self._stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _draw(self, force: bool) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        self._printed_done = self.done >= self.total
        percent = 100.0 * self.done / max(self.total, 1)
        head = f"{self.description}: " if self.description else ""
        text = (
            f"{head}{self.done}/{self.total} {self.unit} "
            f"({percent:5.1f}%, {now - self._start:.1f} s)"
        )
        if self._tty:
            self._width = max(self._width, len(text))
            print("\r" + text.ljust(self._width), end="", file=self._stream, flush=True)
        else:
            print(text, file=self._stream, flush=True)
