"""The run report as the admin draws it: a row and a stacked bar per step, the checks as badges.

The terminal table (`report.as_table`) is for a console; a page can show at a glance where
each step's candidates went. This module turns the report's plain data (`report.build`) into
what the templates draw: for each step its counts, the bar's segments (inserted, already
present, then every skip reason, most frequent first) as percentages, and each skip reason in
words with links to the sample source rows. No JavaScript: the bars are HTML boxes.
"""

from dataclasses import dataclass, field

from django.urls import reverse

from micromasters_import.engine import outcomes, report
from micromasters_import.engine.explain import CANDIDATE_TABLE

INSERTED_COLOUR = "#2e7d32"
PRESENT_COLOUR = "#78909c"
# A step's skip reasons take these colours in turn, most frequent first: distinct within a
# step, whose reasons are listed right under its bar with their colour.
REASON_COLOURS = [
    "#ef6c00",
    "#6a1b9a",
    "#00838f",
    "#c62828",
    "#f9a825",
    "#8d6e63",
    "#ad1457",
    "#283593",
    "#9e9d24",
    "#4dd0e1",
]
CHECK_BADGES = {
    "pass": "PASS",
    "warn": "WARN",
    "fail": "FAIL",
    "info": "INFO",
    "n/a": "N/A",
}


@dataclass
class Segment:
    """One part of a step's bar, and its line in the legend."""

    code: str
    label: str
    count: int
    percent: float
    colour: str
    samples: list = field(default_factory=list)  # (source id, url of its description)


@dataclass
class StepRow:
    """One step of the report, ready to draw."""

    step: str
    name: str
    status: str
    candidates: int
    inserted: int
    already_present: int
    skipped: int
    seconds: float | None
    error: str
    unchanged_since: str | None
    segments: list[Segment]
    reasons: list[Segment]
    source_table: str | None
    ledger_url: str | None = None
    narrowed: str = ""  # for a step narrowed to the learners whose rows changed

    @property
    def status_text(self) -> str:
        """The status in words: `rolled back`."""
        return self.status.replace("_", " ")

    @property
    def title(self) -> str:
        """The step's name in words: `enrollments behind certificates`."""
        return self.name.replace("_", " ")


def source_url(step: str, ref) -> str | None:
    """Where the admin describes the source row behind a sample id of this step."""
    if step not in CANDIDATE_TABLE:
        return None
    return reverse("admin:micromasters_import_source_row", args=[step, int(ref)])


def step_row(entry: dict, ledger_url: str | None = None) -> StepRow:
    """One report entry (`report.step_entry`) as a table row with its bar and reasons."""
    candidates = entry["candidates"]
    skipped = entry["skipped"]

    def percent(count: int) -> float:
        return round(100.0 * count / candidates, 2) if candidates else 0.0

    ranked = [
        (code, count)
        for code, count in sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
        if count
    ]
    reasons = [
        Segment(
            code=code,
            label=outcomes.describe(code),
            count=count,
            percent=percent(count),
            colour=REASON_COLOURS[rank % len(REASON_COLOURS)],
            samples=[
                (ref, source_url(entry["step"], ref)) for ref in entry["samples"].get(code, [])
            ],
        )
        for rank, (code, count) in enumerate(ranked)
    ]
    segments = [
        Segment(
            outcomes.INSERTED,
            "inserted",
            entry["inserted"],
            percent(entry["inserted"]),
            INSERTED_COLOUR,
        ),
        Segment(
            outcomes.ALREADY_PRESENT,
            outcomes.describe(outcomes.ALREADY_PRESENT),
            entry["already_present"],
            percent(entry["already_present"]),
            PRESENT_COLOUR,
        ),
        *reasons,
    ]
    return StepRow(
        step=entry["step"],
        name=entry["name"],
        status=entry["status"],
        candidates=candidates,
        inserted=entry["inserted"],
        already_present=entry["already_present"],
        skipped=sum(skipped.values()),
        seconds=entry["seconds"],
        error=entry["error"],
        unchanged_since=entry.get("unchanged_since"),
        segments=[segment for segment in segments if segment.count],
        reasons=reasons,
        source_table=CANDIDATE_TABLE.get(entry["step"]),
        ledger_url=ledger_url,
        narrowed=report.narrowed_text(entry["narrowed_to"]) if entry.get("narrowed_to") else "",
    )


def build(batch) -> dict:
    """Everything the run page draws, from the stored report of one import run."""
    data = report.build(batch)
    urls = {
        row.step: reverse("admin:micromasters_import_importrun_change", args=[row.pk])
        for row in batch.steps
    }
    rows = [step_row(entry, urls.get(entry["step"])) for entry in data["steps"]]
    checks = [
        {**check, "badge": CHECK_BADGES.get(check["status"], check["status"].upper())}
        for check in data["invariants"]
    ]
    counts: dict[str, int] = {}
    for check in checks:
        counts[check["status"]] = counts.get(check["status"], 0) + 1
    return {
        "data": data,
        "command": command_line(data["options"] or {}),
        "steps": rows,
        "checks": checks,
        "check_counts": counts,
        "inserted": sum(row.inserted for row in rows),
        "candidates": sum(row.candidates for row in rows),
    }


def command_line(options: dict) -> str:
    """The options a run was given, as the operator typed them: `--num 002,011 --dry-run`."""
    words = []
    if options.get("all"):
        words.append("--all")
    if options.get("num"):
        words.append(f"--num {','.join(options['num'])}")
    for key in ("dry_run", "single_transaction", "force", "recheck"):
        if options.get(key):
            words.append(f"--{key.replace('_', '-')}")
    return " ".join(words)
