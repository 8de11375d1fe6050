"""The numbered SQL steps: finding them, reading what each declares, choosing which to run.

The numbers are part of the interface (operators type `--num 009`), so a step is a file
`sql/NNN_name.sql`. Its header comment states its rule and declares, on `-- Writes:`,
`-- Source:` and `-- Needs:` lines, the table it fills, the MicroMasters table whose rows it
classifies and the steps that must have run before it; the command reads those lines rather
than keeping a second copy of them in Python.

A step that names a source ends where its rule ends: a `candidate` CTE (one row per source
row: its id `ref` and its `outcome`) and the `inserted` CTE, whose INSERT returns
`id AS target_id`, `md5(<table>::text) AS row_hash` and then the columns that find the
candidate an inserted row came from, named as in `candidate` (`user_id, run_id`,
`order_id AS target_order_id`). What every such step does after that, record the provenance
rows and return the outcome counts and samples, is written once here (`TAIL`) and appended
when the step is loaded, so that it cannot drift between steps.
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
SOURCE = re.compile(r"^--\s*Source:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE | re.IGNORECASE)

# What every step with a `-- Source:` does after its own CTEs. Provenance: each inserted row,
# the source row the rule chose for it (the lowest `ref` among the eligible candidates that
# share the columns `inserted` returns after target_id and row_hash, hence the NATURAL JOIN)
# and the row's hash as inserted, in the step's own transaction, only when a run's ledger row
# is set (`explain` and `skipped` set none); see micromasters_import.revert. The final SELECT
# is the step's report: per outcome, the number of source rows and the first ids
# (`micromasters_import.sample_limit`, 10 unless set), and the number of rows inserted.
# It reads the candidates once, hashing them by outcome (a handful of groups) while gathering
# each outcome's ids, and then keeps the first ones with a bounded (top-N) sort per outcome:
# sorting a million candidates by outcome (on disk) and then each outcome's ids again cost
# 1.5-2 times as much at 200,000 learners, and sorting them once by (outcome, ref) more still.
TAIL = """\
-- The shared tail of every step (micromasters_import/engine/steps.py TAIL).
provenance AS (
    INSERT INTO micromasters_import_importedrow (
        ledger_id, target_table, target_id, source_table, source_id, row_hash
    )
    SELECT NULLIF(current_setting('micromasters_import.ledger_id', true), '')::bigint,
           '{target}', target_id, '{source}', min(ref), row_hash
      FROM inserted
      NATURAL JOIN (SELECT * FROM candidate WHERE outcome = 'eligible') AS eligible
     WHERE NULLIF(current_setting('micromasters_import.ledger_id', true), '') IS NOT NULL
     GROUP BY target_id, row_hash
)
(SELECT outcome, count(*) AS rows,
        ARRAY(SELECT member FROM unnest(array_agg(ref)) AS member ORDER BY member
               LIMIT greatest(COALESCE(
                 NULLIF(current_setting('micromasters_import.sample_limit', true), '')::int, 10
               ), 0)) AS sample
   FROM candidate GROUP BY outcome ORDER BY outcome)
UNION ALL
SELECT 'inserted', count(*), NULL FROM inserted;
"""


class SelectionError(ValueError):
    """A `--num` value that names no step, or is not a number or range."""


@dataclass(frozen=True)
class Step:
    """One numbered SQL file and what its header declares."""

    num: str
    name: str
    path: Path

    @cached_property
    def text(self) -> str:
        """The file as written, read once: the header and the step's own CTEs."""
        return self.path.read_text()

    @cached_property
    def sql(self) -> str:
        """The statement that runs: the file, then `TAIL` when the file names a source.

        A file without a `-- Source:` line (001, which writes nothing) is its own statement.
        """
        if self.source is None:
            return self.text
        return self.text.rstrip() + ",\n" + TAIL.format(target=self.writes, source=self.source)

    @property
    def label(self) -> str:
        """How operators see the step: `009_course_certificates`."""
        return f"{self.num}_{self.name}"

    @property
    def checksum(self) -> str:
        """sha256 of the statement, to tell whether a step (or the shared tail) changed since
        it last ran."""
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def _header(self, key: str) -> str:
        match = re.search(rf"^--\s*{key}:\s*(.*)$", self.text, re.MULTILINE | re.IGNORECASE)
        return match.group(1).strip() if match else ""

    @property
    def rule(self) -> str:
        """The `Rule:` paragraph of the header, for `--list` and the report."""
        lines = []
        collecting = False
        for line in self.text.splitlines():
            if not line.startswith("--"):
                break
            text = line[2:].strip()
            if text.lower().startswith("rule:"):
                collecting = True
                text = text[5:].strip()
            elif re.match(r"^(writes|source|needs):", text, re.IGNORECASE):
                collecting = False
            if collecting:
                lines.append(text)
        return " ".join(lines)

    @property
    def needs(self) -> tuple[str, ...]:
        """Steps that must be done before this one (`-- Needs: 005, 006`)."""
        return tuple(re.findall(r"\d{3}", self._header("needs")))

    @property
    def source(self) -> str | None:
        """The MicroMasters table whose rows the step classifies (`-- Source: ecommerce_line`):
        the ids its report and provenance name."""
        match = SOURCE.search(self.text)
        return match.group(1) if match else None

    @property
    def writes(self) -> str | None:
        """The MITx Online table the step inserts into, from its INSERT statement."""
        match = INSERT.search(self.text)
        return match.group(1) if match else None

    @property
    def insert_columns(self) -> list[str]:
        """The columns the step's INSERT supplies, for the schema-drift check."""
        match = INSERT.search(self.text)
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
