"""Read the ledger: the state of each step as an operator needs it before running again.

A step's state is what its latest real attempt left (dry runs and steps that never started
do not count), compared with the SQL file as it is now, so that an edited step shows up as
changed instead of silently looking done.
"""

from dataclasses import dataclass

from micromasters_import.models import ImportRun
from micromasters_import.steps import Step

ATTEMPTS = [ImportRun.DONE, ImportRun.FAILED, ImportRun.PENDING, ImportRun.ROLLED_BACK]


@dataclass(frozen=True)
class StepState:
    """The state shown by `--list`: a kind (for colour and tests) and words."""

    kind: str
    text: str
    run: ImportRun | None = None


def _when(run: ImportRun) -> str:
    moment = run.finished_on or run.started_on or run.created_on
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def state_of(step: Step, run: ImportRun | None) -> StepState:
    """Describe one step given its latest attempt."""
    if run is None:
        return StepState("never", "never run")
    if run.status == ImportRun.DONE:
        rows = f"{run.rows_inserted or 0} row(s)"
        if run.checksum != step.checksum:
            return StepState("changed", f"changed since it ran (done {_when(run)}, {rows})", run)
        return StepState("done", f"done {_when(run)}, {rows}", run)
    if run.status == ImportRun.FAILED:
        return StepState("failed", f"failed {_when(run)}: {run.error}", run)
    if run.status == ImportRun.ROLLED_BACK:
        return StepState("failed", f"rolled back {_when(run)} (another step failed)", run)
    return StepState("interrupted", f"started {_when(run)}, never finished", run)


def step_states(steps: list[Step]) -> dict[str, StepState]:
    """The state of every step, from one query of the ledger."""
    latest: dict[str, ImportRun] = {}
    for run in ImportRun.objects.filter(status__in=ATTEMPTS).order_by("-id"):
        latest.setdefault(run.step, run)
    return {step.num: state_of(step, latest.get(step.num)) for step in steps}
