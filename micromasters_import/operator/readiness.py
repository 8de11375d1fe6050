"""Can each step run now, and what MicroMasters learner data has no mapping yet?

The readiness page answers an operator's two questions before a run. The first is answered
by the command's own preflight (`preflight.py`) and ledger (`ledger.step_states`), one step at
a time, so the page and `import_micromasters_data` never disagree. The second counts, in
MicroMasters, the courses, programs and tier programs that have enrollments, certificates or
financial aid requests but no mapping: the rows the import would skip as "not mapped".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from micromasters_import.engine import preflight
from micromasters_import.engine.ledger import StepState, step_states
from micromasters_import.engine.steps import Step, discover
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ProgramId,
    ProgramTierId,
)
from micromasters_import.operator import source_lookup

# How many unmapped rows of each kind the page lists (the counts are always complete).
LIST_LIMIT = 100


@dataclass(frozen=True)
class StepReadiness:
    """One step: its ledger state and what stops it from running now (nothing: it can run)."""

    step: Step
    state: StepState
    problems: tuple[str, ...]

    @property
    def runnable(self) -> bool:
        """Whether `import_micromasters_data --num NNN` would pass its preflight now."""
        return not self.problems


@dataclass(frozen=True)
class Gap:
    """A MicroMasters course, program or tier program with learner data and a missing mapping."""

    micromasters_id: int
    label: str
    data: source_lookup.LearnerData
    note: str = ""
    target_id: int | None = None  # the MITx Online object, for an incomplete mapping


@dataclass
class Readiness:
    """Everything the readiness page shows."""

    schema: str
    source_problem: str | None
    steps: list[StepReadiness]
    unmapped_courses: list[Gap] = field(default_factory=list)
    unmapped_programs: list[Gap] = field(default_factory=list)
    unmapped_tiers: list[Gap] = field(default_factory=list)
    ignored_tiers: list[Gap] = field(default_factory=list)  # not current: step 004 skips them
    courses_without_revision: list[Gap] = field(default_factory=list)
    programs_without_revision: list[Gap] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def runnable_count(self) -> int:
        """How many steps would pass their preflight now."""
        return sum(1 for item in self.steps if item.runnable)


def step_readiness(steps: list[Step], schema: str, source_problem: str | None):
    """Preflight each step on its own, exactly as `--num NNN` without --force would.

    When the source cannot be read at all, the checks that would read it are left out (an
    unreachable server would otherwise be waited for once per step) and its problem is shown
    instead; the others (mappings, dependencies, schema drift) still run.
    """
    states = step_states(steps)
    result = []
    with connection.cursor() as cursor:
        for step in steps:
            if source_problem:
                problems = [
                    source_problem,
                    *preflight.mapping_problems(cursor, [step]),
                    *preflight.drift_problems(cursor, [step]),
                    *preflight.dependency_problems(steps, [step]),
                ]
            else:
                problems = preflight.run_preflight(cursor, steps, [step], schema, force=False)
            result.append(StepReadiness(step, states[step.num], tuple(problems)))
    return result


def _ordered(ids, data) -> list[int]:
    """Most learner data first, then by id."""
    return sorted(ids, key=lambda i: (-data[i].total, i))


def _gaps(ids, rows, data, notes=None, targets=None) -> list[Gap]:
    gaps = []
    for mm_id in _ordered(ids, data)[:LIST_LIMIT]:
        row = (rows or {}).get(mm_id)
        gaps.append(
            Gap(
                micromasters_id=mm_id,
                label=row.label if row else "(not found in MicroMasters)",
                data=data[mm_id],
                note=(notes or {}).get(mm_id, ""),
                target_id=(targets or {}).get(mm_id),
            )
        )
    return gaps


def _mapping_gaps(data, mapped, no_revision, lookup, schema) -> tuple[list[Gap], list[Gap]]:
    """Courses or programs: those with learner data and no mapping, and the mapped ones whose
    certificates have no revision (`no_revision`: MicroMasters id to MITx Online id), each
    labelled from one MicroMasters lookup of the listed ids."""
    unmapped = _ordered([i for i in data if i not in mapped], data)
    rows = lookup(
        [*unmapped[:LIST_LIMIT], *_ordered(no_revision, data)[:LIST_LIMIT]], schema=schema
    )
    return _gaps(unmapped, rows, data), _gaps(no_revision, rows, data, targets=no_revision)


def build(schema: str | None = None) -> Readiness:
    """Read the ledger, the mappings and (if mounted) MicroMasters; see `Readiness`."""
    schema = schema or source_lookup.default_schema()
    source_problem = source_lookup.problem(schema)
    steps = discover()
    readiness = Readiness(schema, source_problem, step_readiness(steps, schema, source_problem))
    if source_problem:
        return readiness
    data = source_lookup.learner_data(schema)
    if data is None:
        readiness.source_problem = "The MicroMasters learner data could not be read."
        return readiness

    course_map = dict(CourseId.objects.values_list("micromasters_id", "course_id"))
    with_revision = set(CourseCertificateRevisionId.objects.values_list("course_id", flat=True))
    no_course_revision = {
        mm_id: course_map[mm_id]
        for mm_id, counts in data.courses.items()
        if mm_id in course_map and counts.certificates and course_map[mm_id] not in with_revision
    }
    readiness.unmapped_courses, readiness.courses_without_revision = _mapping_gaps(
        data.courses, course_map, no_course_revision, source_lookup.courses, schema
    )

    program_map = {
        mm_id: (program_id, revision)
        for mm_id, program_id, revision in ProgramId.objects.values_list(
            "micromasters_id", "program_id", "program_certificate_revision_id"
        )
    }
    no_revision = {
        mm_id: program_map[mm_id][0]
        for mm_id, counts in data.programs.items()
        if mm_id in program_map and counts.certificates and program_map[mm_id][1] is None
    }
    readiness.unmapped_programs, readiness.programs_without_revision = _mapping_gaps(
        data.programs, program_map, no_revision, source_lookup.programs, schema
    )

    tier_mapped = set(ProgramTierId.objects.values_list("micromasters_tier_program_id", flat=True))
    unmapped = [i for i in data.tier_programs if i not in tier_mapped]
    tiers = source_lookup.tier_programs(unmapped, schema=schema) or {}  # unmapped: few
    current = [i for i in unmapped if i in tiers and tiers[i].current]
    readiness.unmapped_tiers = _gaps(current, tiers, data.tier_programs)
    readiness.ignored_tiers = _gaps(
        [i for i in unmapped if i not in current],
        tiers,
        data.tier_programs,
        notes={i: "not current: step 004 skips its requests anyway" for i in tiers},
    )
    readiness.counts = {
        "courses": len([i for i in data.courses if i not in course_map]),
        "programs": len([i for i in data.programs if i not in program_map]),
        "tiers": len(current),
        "ignored_tiers": len(unmapped) - len(current),
        "courses_without_revision": len(no_course_revision),
        "programs_without_revision": len(no_revision),
    }
    return readiness
