"""Read the ledger: the state of each step as an operator needs it before running again.

A step's state is what its latest real attempt left (dry runs and steps that never started
do not count), compared with the SQL file as it is now, so that an edited step shows up as
changed instead of silently looking done.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Sum
from mitol.common.utils.datetime import now_in_utc

from micromasters_import.engine import lock
from micromasters_import.engine.steps import Step
from micromasters_import.models import ImportRun

ATTEMPTS = [
    ImportRun.DONE,
    ImportRun.FAILED,
    ImportRun.PENDING,
    ImportRun.ROLLED_BACK,
    ImportRun.INTERRUPTED,
]
INTERRUPTED_ERROR = (
    "interrupted: the run ended (killed, or its connection lost) while this step ran; "
    "its transaction was rolled back"
)
NOT_STARTED_ERROR = "not run: the run was interrupted before this step started"


@dataclass(frozen=True)
class StepState:
    """The state shown by `--list`: a kind (for colour and tests) and words."""

    kind: str
    text: str
    run: ImportRun | None = None
    total: int | None = None  # rows every done run of the step inserted

    @property
    def when(self) -> str:
        """When the latest attempt finished (or started), for a page that shows it apart."""
        return _when(self.run) if self.run is not None else ""


def _when(run: ImportRun) -> str:
    moment = run.finished_on or run.started_on or run.created_on
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def state_of(step: Step, run: ImportRun | None, total: int | None = None) -> StepState:
    """Describe one step given its latest attempt, and the rows all its runs inserted.

    A rerun that finds its rows already present inserts none, so the latest run's count says
    little; `total` (every done run of the step, summed) is what came from the import.
    """
    if run is None:
        return StepState("never", "never run")
    if run.status == ImportRun.DONE:
        rows = (
            f"{run.rows_inserted or 0} row(s)"
            if total is None
            else f"{total:,} row(s) imported in total"
        )
        if run.checksum != step.checksum:
            text = f"changed since it ran (done {_when(run)}, {rows})"
            return StepState("changed", text, run, total)
        return StepState("done", f"done {_when(run)}, {rows}", run, total)
    if run.status == ImportRun.FAILED:
        return StepState("failed", f"failed {_when(run)}: {run.error}", run)
    if run.status == ImportRun.ROLLED_BACK:
        return StepState("failed", f"rolled back {_when(run)} (another step failed)", run)
    if run.status == ImportRun.INTERRUPTED:
        return StepState(
            "interrupted",
            f"interrupted: started {_when(run)}, the run ended before it finished (rolled back)",
            run,
        )
    if run.started_on is None:
        return StepState("running", "waiting in a run in progress", run)
    return StepState("running", f"running since {_when(run)}", run)


def close_interrupted() -> int:
    """Complete the rows that runs which no longer exist left `pending`; returns how many.

    A run killed (or cut off) leaves its rows pending. A pending row whose batch lock is not
    held (`lock.live_batches`) belongs to such a run: the step that had started is marked
    interrupted, keeping its real start, and the steps that had not are marked not run. Every
    step's transaction commits together with its `done`, so an interrupted step kept nothing.
    """
    pending = set(
        ImportRun.objects.filter(status=ImportRun.PENDING).values_list("batch", flat=True)
    )
    if not pending:
        return 0
    with connection.cursor() as cursor:
        dead = pending - lock.live_batches(cursor, pending)
    if not dead:
        return 0
    now = now_in_utc()
    rows = ImportRun.objects.filter(batch__in=dead, status=ImportRun.PENDING)
    closed = rows.filter(started_on__isnull=False).update(
        status=ImportRun.INTERRUPTED, error=INTERRUPTED_ERROR, updated_on=now
    )
    closed += rows.filter(started_on__isnull=True).update(
        status=ImportRun.NOT_RUN, error=NOT_STARTED_ERROR, updated_on=now
    )
    return closed


def step_states(steps: list[Step]) -> dict[str, StepState]:
    """The state of every step, from two queries of the ledger, after closing dead runs' rows."""
    close_interrupted()
    latest: dict[str, ImportRun] = {}
    for run in ImportRun.objects.filter(status__in=ATTEMPTS).order_by("-id"):
        latest.setdefault(run.step, run)
    totals = dict(
        ImportRun.objects.filter(status=ImportRun.DONE)
        .values("step")
        .annotate(total=Sum("rows_inserted"))
        .values_list("step", "total")
    )
    return {
        step.num: state_of(step, latest.get(step.num), totals.get(step.num) or 0) for step in steps
    }
