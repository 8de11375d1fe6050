"""The run report: for every step, what came over, what did not and why, in three formats.

The same data is printed after every run, stored in the ledger, and rendered again later by
`micromasters_import_report`: as a table for a person at a terminal, as JSON for tools, and
as CSV for a spreadsheet. Counts always add up: candidates = inserted + already present +
every skip reason.
"""

import csv
import io
import json

from django.core.exceptions import ValidationError

from micromasters_import.engine import outcomes
from micromasters_import.engine.fingerprint import BUCKETS
from micromasters_import.models import ImportBatch, ImportRun

STATUS_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "info": "INFO", "n/a": " n/a"}
# A step skipped because nothing it reads changed since its last run: the ledger row is
# `done` (or `dry_run`), and the report says `unchanged`, as the console did.
UNCHANGED = "unchanged"


def latest_batch() -> ImportBatch | None:
    """The most recent run of the import command."""
    return ImportBatch.objects.order_by("-id").first()


def find_batch(run: str) -> ImportBatch | None:
    """An import run by its UUID, or by the id of any of its step runs (ledger rows)."""
    if run.isdigit():
        step = ImportRun.objects.filter(pk=int(run)).first()
        return ImportBatch.objects.filter(batch=step.batch).first() if step else None
    try:
        return ImportBatch.objects.filter(batch=run).first()
    except ValidationError:  # not a UUID: there is no such run
        return None


def step_status(row: ImportRun) -> str:
    """The step's state as the console printed it: `unchanged` for a step skipped as such."""
    report = row.report or {}
    if report.get("unchanged_since") and row.status in (ImportRun.DONE, ImportRun.DRY_RUN):
        return UNCHANGED
    return row.status


def step_entry(row: ImportRun) -> dict:
    """One ledger row as a report entry, with the counts made explicit."""
    report = row.report or {}
    return {
        "step": row.step,
        "name": row.name,
        "status": step_status(row),
        "unchanged_since": report.get("unchanged_since"),
        "narrowed_to": report.get("narrowed_to"),
        "seconds": row.seconds,
        "candidates": report.get("candidates", 0),
        "inserted": report.get("inserted", 0),
        "already_present": report.get("already_present", 0),
        # jsonb keeps keys in its own order: most frequent reason first, as when it ran
        "skipped": dict(
            sorted(report.get("skipped", {}).items(), key=lambda item: (-item[1], item[0]))
        ),
        "samples": report.get("samples", {}),
        "error": row.error,
    }


def build(batch: ImportBatch) -> dict:
    """The whole report of one run, as plain data (what JSON output shows)."""
    return {
        "batch": str(batch.batch),
        "run_by": batch.run_by,
        "started": batch.created_on.isoformat(),
        "finished": batch.finished_on.isoformat() if batch.finished_on else None,
        "dry_run": batch.dry_run,
        "options": batch.options,
        "steps": [step_entry(row) for row in batch.steps],
        "invariants": batch.invariants,
    }


def as_json(data: dict) -> str:
    """JSON, for tools and for archiving with the migration's records."""
    return json.dumps(data, indent=2, sort_keys=False)


def as_csv(data: dict) -> str:
    """One line per step outcome and per check, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["kind", "step", "name", "status", "outcome", "description", "rows", "sample"])
    for entry in data["steps"]:
        base = ["step", entry["step"], entry["name"], entry["status"]]
        writer.writerow([*base, "candidates", "source rows considered", entry["candidates"], ""])
        writer.writerow([*base, "inserted", outcomes.describe("inserted"), entry["inserted"], ""])
        present = outcomes.ALREADY_PRESENT
        writer.writerow([*base, present, outcomes.describe(present), entry["already_present"], ""])
        for code, count in entry["skipped"].items():
            sample = " ".join(str(ref) for ref in entry["samples"].get(code, []))
            writer.writerow([*base, code, outcomes.describe(code), count, sample])
    for check in data["invariants"]:
        sample = " ".join(str(ref) for ref in check.get("sample", []))
        status = check["status"]
        writer.writerow(["check", "", check["name"], status, status, check["detail"], "", sample])
    return out.getvalue()


def as_table(data: dict) -> str:
    """A terminal table: one line per step, then its skip reasons, then the checks."""
    lines = []
    kind = "Dry run" if data["dry_run"] else "Run"
    lines.append(f"{kind} {data['batch']} by {data['run_by']}, started {data['started']}")
    header = (
        f"{'step':<38} {'status':<11} {'candidates':>10} {'inserted':>9} "
        f"{'present':>8} {'skipped':>8}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for entry in data["steps"]:
        skipped = sum(entry["skipped"].values())
        label = f"{entry['step']}_{entry['name']}"
        lines.append(
            f"{label:<38} {entry['status']:<11} {entry['candidates']:>10} "
            f"{entry['inserted']:>9} {entry['already_present']:>8} {skipped:>8}"
        )
        for code, count in entry["skipped"].items():
            sample = entry["samples"].get(code, [])
            ids = f"  e.g. {', '.join(str(ref) for ref in sample[:5])}" if sample else ""
            lines.append(f"    {outcomes.describe(code):<60} {count:>8}{ids}")
        if entry.get("unchanged_since"):
            lines.append(f"    unchanged since run {entry['unchanged_since']}: nothing to do")
        if entry.get("narrowed_to"):
            lines.append(f"    {narrowed_text(entry['narrowed_to'])}")
        if entry["error"]:
            lines.append(f"    error: {entry['error']}")
    if data["invariants"]:
        lines.append("")
        lines.append("Checks:")
        for check in data["invariants"]:
            mark = STATUS_MARK.get(check["status"], check["status"])
            lines.append(f"  {mark}  {check['name']}: {check['detail']}")
            if check.get("sample") and check["status"] in ("fail", "warn"):
                lines.append(f"        e.g. {', '.join(str(ref) for ref in check['sample'])}")
    return "\n".join(lines)


RENDERERS = {"table": as_table, "json": as_json, "csv": as_csv}


def narrowed_text(narrowed: dict) -> str:
    """One line for a step run narrowed to the learners whose rows changed."""
    return (
        f"narrowed to {narrowed['learners']} learner(s) whose rows changed since run "
        f"{narrowed['since']} ({narrowed['buckets']} of {BUCKETS} learner buckets): "
        "the counts are of their rows only"
    )
