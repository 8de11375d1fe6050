"""The numbered SQL steps: finding them, reading what each declares, choosing which to run.

The numbers are part of the interface (operators type `--num 009`), so a step is a file
`sql/NNN_name.sql`. Its header comment states its rule and declares, on `-- Writes:` and
`-- Needs:` lines, the table it fills and the steps that must have run before it; the
command reads those lines rather than keeping a second copy of the order in Python.
"""

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from micromasters_import.engine import staging

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
INSERT = re.compile(r"INSERT\s+INTO\s+([a-z_][a-z0-9_]*)\s*\(([^)]*)\)", re.IGNORECASE)
# The operator-filled ID mappings; every one ends in "id" (courseid, programtierid, ...), which
# the import's own tables (importrun, importedrow, ...) do not.
MAPPING_TABLE = re.compile(r"\bmicromasters_import_[a-z]+id\b")


class SelectionError(ValueError):
    """A `--num` value that names no step, or is not a number or range."""


@dataclass(frozen=True)
class Step:
    """One numbered SQL file and what its header declares."""

    num: str
    name: str
    path: Path

    @cached_property
    def sql(self) -> str:
        """The file's text, read once."""
        return self.path.read_text()

    @property
    def label(self) -> str:
        """How operators see the step: `009_course_certificates`."""
        return f"{self.num}_{self.name}"

    @property
    def checksum(self) -> str:
        """sha256 of the file, to tell whether a step changed since it last ran."""
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def _header(self, key: str) -> str:
        match = re.search(rf"^--\s*{key}:\s*(.*)$", self.sql, re.MULTILINE | re.IGNORECASE)
        return match.group(1).strip() if match else ""

    @property
    def rule(self) -> str:
        """The `Rule:` paragraph of the header, for `--list` and the report."""
        lines = []
        collecting = False
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            text = line[2:].strip()
            if text.lower().startswith("rule:"):
                collecting = True
                text = text[5:].strip()
            elif re.match(r"^(writes|needs):", text, re.IGNORECASE):
                collecting = False
            if collecting:
                lines.append(text)
        return " ".join(lines)

    @property
    def needs(self) -> tuple[str, ...]:
        """Steps that must be done before this one (`-- Needs: 005, 006`)."""
        return tuple(re.findall(r"\d{3}", self._header("needs")))

    @property
    def writes(self) -> str | None:
        """The MITx Online table the step inserts into, from its INSERT statement."""
        match = INSERT.search(self.sql)
        return match.group(1) if match else None

    @property
    def insert_columns(self) -> list[str]:
        """The columns the step's INSERT supplies, for the schema-drift check."""
        match = INSERT.search(self.sql)
        if not match:
            return []
        return [column.strip() for column in match.group(2).split(",") if column.strip()]

    @property
    def staged_tables(self) -> set[str]:
        """The staged MicroMasters copies (`mm_*`) the step reads."""
        return staging.referenced_tables(self.sql)

    @property
    def mapping_tables(self) -> set[str]:
        """The operator-filled mapping tables the step joins."""
        return set(MAPPING_TABLE.findall(self.sql))

    @property
    def reports_outcomes(self) -> bool:
        """Whether the step returns (outcome, rows, sample) rows; 001 returns nothing."""
        return self.writes is not None


def discover(directory: Path = SQL_DIR) -> list[Step]:
    """Every numbered step, in order; a file that does not follow `NNN_name.sql` is ignored."""
    steps = []
    for path in sorted(directory.iterdir()):
        match = FILE_NAME.match(path.name)
        if match:
            steps.append(Step(num=match.group(1), name=match.group(2), path=path))
    return steps


def _check_range(part: str, low: int, high: int, steps: list[Step]) -> None:
    """A range must lie within the steps that exist.

    `--num 1-999999999` once built a list of a billion numbers before failing; a range that
    reaches past the first or last step is a typo more often than a wish, so it is refused
    with the steps there are, before anything is built.
    """
    if not steps:
        raise SelectionError(f"--num {part}: there are no steps")
    first, last = int(steps[0].num), int(steps[-1].num)
    there = f"steps {steps[0].num} to {steps[-1].num}"
    if high < first or low > last:
        raise SelectionError(f"--num {part}: no step in that range (there are {there})")
    if low < first or high > last:
        raise SelectionError(
            f"--num {part}: the range reaches beyond the steps there are ({there}); "
            f"give a range within them, e.g. {steps[0].num}-{steps[-1].num}"
        )


def select(steps: list[Step], values: list[str]) -> list[Step]:
    """The steps named by `--num` values such as `9`, `009`, `2,3` or `002-009`, in order."""
    by_num = {step.num: step for step in steps}
    chosen: set[str] = set()
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            bounds = part.split("-")
            if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
                raise SelectionError(f"--num {part!r} is not a step number or a range like 002-009")
            low, high = (int(b) for b in (bounds[0], bounds[-1]))
            if low > high:
                raise SelectionError(f"--num {part!r}: the range is empty")
            if len(bounds) == 2:
                _check_range(part, low, high, steps)
            # Bounded by the steps that exist (checked above), so this list stays small.
            wanted = [f"{n:03d}" for n in range(low, high + 1)]
            unknown = [n for n in wanted if n not in by_num]
            if len(bounds) == 1 and unknown:
                known = ", ".join(by_num)
                raise SelectionError(
                    f"--num {part}: there is no step {unknown[0]} (steps: {known})"
                )
            if len(bounds) == 2 and len(unknown) == len(wanted):
                raise SelectionError(f"--num {part}: no step in that range")
            chosen.update(n for n in wanted if n in by_num)
    if not chosen:
        raise SelectionError(
            f"--num {','.join(values)!r} names no step: give a number like 009 or a range like "
            "002-009"
        )
    return [step for step in steps if step.num in chosen]
