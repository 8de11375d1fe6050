"""Where a run's seconds go: named phases, written as JSON lines when the benchmark asks.

An operator planning a maintenance window, and a developer making the import faster, need
to know where the time of a run goes, not just each step's total: start-up, preflight,
staging table by table, each step's statement, the bookkeeping between steps, the checks.
The command marks those phases here. Nothing is written unless the environment variable
`MICROMASTERS_IMPORT_TIMINGS` names a file; then each phase becomes one JSON object
(name, wall-clock start and end, and what it counted) appended to that file when the command
ends, so `bench/run.py` can add them up against the command's wall time.
"""

import json
import os
import time
from contextlib import contextmanager

ENV = "MICROMASTERS_IMPORT_TIMINGS"

_phases: list[dict] = []


def enabled() -> bool:
    """Whether anyone asked for the phases (so costly extras, like sizes, are only then read)."""
    return bool(os.environ.get(ENV))


@contextmanager
def phase(name: str, **info):
    """Time the block as phase `name`; the block may add counts to the yielded dict."""
    started = time.time()
    try:
        yield info
    finally:
        if enabled():
            _phases.append({"phase": name, "start": started, "end": time.time(), **info})


def write() -> None:
    """Append the phases recorded so far to the file the environment names, and forget them."""
    path = os.environ.get(ENV)
    if not path or not _phases:
        return
    with open(path, "a") as out:
        for entry in _phases:
            out.write(json.dumps(entry) + "\n")
    _phases.clear()
