"""Show that a long step is alive: an elapsed-time counter on a terminal, nothing in a log.

A step is one SQL statement, so there is nothing to count while it runs but the time. On a
terminal the command's line ends with the seconds elapsed, rewritten in place once a second;
when the output is a file or a pipe nothing extra is written, so logs keep one clean line per
step. No library is needed for one carriage return a second.
"""

import threading
import time

# How often the counter is rewritten (tests make it faster).
TICK_SECONDS = 1.0


class ElapsedTicker:
    """Rewrites `prefix` followed by the elapsed seconds on `stream`, while it runs, on a TTY.

    `stream` is a Django OutputWrapper (or any object with write/flush/isatty). Use it as a
    context manager around the slow call; on exit the counter is erased and the cursor is
    left right after `prefix`, so the caller ends the line as if no counter had been shown.
    """

    def __init__(self, stream, prefix: str):
        self.stream = stream
        self.prefix = prefix
        self.enabled = _is_tty(stream)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0

    def __enter__(self):
        if self.enabled:
            self._started = time.monotonic()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            if self._width:
                # erase the counter, and put the cursor back after the prefix
                self._write(f"\r{self.prefix}{' ' * self._width}\r{self.prefix}")
        return False

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            text = f" {time.monotonic() - self._started:.0f}s"
            self._write(f"\r{self.prefix}{text}")
            self._width = max(self._width, len(text))

    def _write(self, text: str) -> None:
        self.stream.write(text, ending="")
        self.stream.flush()


def _is_tty(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False
