"""Propose CourseId and ProgramId mappings, with the evidence for each, for an operator to tick.

Filling the mappings by hand meant looking up ids in two databases and guessing. MicroMasters
courses carry a course number (`14.100x`) and a course key (`MITx+14.100x`); MITx Online
courses carry a `readable_id` (`course-v1:MITx+14.100x`) and runs whose `courseware_id` is the
edX run key MicroMasters also knows. Programs have only titles (and MITx Online program ids
often end in the title's initials: `program-v1:MITx+DEDP`).

The matching (`course_proposals`, `program_proposals`) is pure: plain values in, proposals
out, each with its evidence in words and a confidence:

* high: the same course key, a shared run key, or the same course number with similar titles;
  or, for programs, the same title (ignoring "MicroMasters", "Program", punctuation, case);
* medium: the same course number alone, the course number somewhere in the readable id, a
  nearly identical title, or a program id made of the title's initials;
* low: only similar titles.

Nothing here creates a mapping on its own: `create` makes exactly the proposals the operator
ticked (in the admin, or confirmed one by one or with `--apply --noinput` in the command), and
validates each like the admin form does, against the source, when it is created.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.apps import apps

HIGH, MEDIUM, LOW = "high", "medium", "low"
CONFIDENCES = (HIGH, MEDIUM, LOW)
# A proposal's confidence from its score.
HIGH_SCORE = 0.85
MEDIUM_SCORE = 0.5
# Candidates scoring below this are not proposed at all.
MIN_SCORE = 0.3
# Two candidates for one source row within this margin are "equally good": less confidence.
AMBIGUOUS_MARGIN = 0.05

COURSE, PROGRAM = "course", "program"
GENERIC_WORDS = {"micromasters", "program", "programme", "mitx", "the", "in", "credential"}
ACRONYM_SKIP = {"and", "of", "the", "in", "for", "a", "an", "to", "on", "with", "&"}


@dataclass(frozen=True)
class Target:
    """A MITx Online course or program a MicroMasters one may have become."""

    id: int
    readable_id: str
    title: str
    run_keys: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        """`course-v1:MITx+14.100x | Microeconomics`."""
        return f"{self.readable_id} | {self.title}"


@dataclass(frozen=True)
class Source:
    """A MicroMasters course or program, as the matching needs it."""

    id: int
    title: str
    course_number: str | None = None
    edx_key: str | None = None
    run_keys: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        """`14.100x Microeconomics`."""
        return f"{self.course_number} {self.title}" if self.course_number else self.title


@dataclass(frozen=True)
class Proposal:
    """One mapping to create if the operator agrees: source id -> target id, and why."""

    kind: str  # COURSE or PROGRAM
    micromasters_id: int
    micromasters_label: str
    target_id: int
    target_label: str
    score: float
    evidence: tuple[str, ...] = field(default=())

    @property
    def confidence(self) -> str:
        """high, medium or low, from the score."""
        return confidence_of(self.score)

    @property
    def key(self) -> str:
        """What the operator ticks: `course:12:345` (MicroMasters id 12 -> MITx Online 345)."""
        return f"{self.kind}:{self.micromasters_id}:{self.target_id}"


def confidence_of(score: float) -> str:
    """The confidence word for a score."""
    if score >= HIGH_SCORE:
        return HIGH
    if score >= MEDIUM_SCORE:
        return MEDIUM
    return LOW


def at_least(confidence: str, threshold: str) -> bool:
    """Whether `confidence` is `threshold` or better."""
    return CONFIDENCES.index(confidence) <= CONFIDENCES.index(threshold)


def parse_key(key: str) -> tuple[str, int, int]:
    """`course:12:345` -> ("course", 12, 345); ValueError for anything else."""
    parts = key.strip().split(":")
    if (
        len(parts) != 3
        or parts[0] not in (COURSE, PROGRAM)
        or not all(part.isdigit() for part in parts[1:])
    ):
        raise ValueError(f"{key!r} is not a proposal id like course:12:345 or program:3:7")
    return parts[0], int(parts[1]), int(parts[2])


# --- text helpers -------------------------------------------------------------------------


def course_key_parts(key: str | None) -> tuple[str, str] | None:
    """(org, number) of `MITx+14.100x`, `course-v1:MITx+14.100x` or a run key; else None."""
    if not key:
        return None
    text = key.strip()
    if ":" in text:
        text = text.split(":", 1)[1]
    parts = text.split("+")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def words(title: str) -> list[str]:
    """Lower-case words of a title, `&` read as `and`."""
    return re.findall(r"[a-z0-9]+(?:\.[a-z0-9]+)*", title.lower().replace("&", " and "))


def normalize_title(title: str) -> str:
    """A title without case, punctuation or generic words (MicroMasters, Program, in, the)."""
    return " ".join(word for word in words(title) if word not in GENERIC_WORDS)


def title_similarity(left: str, right: str) -> float:
    """difflib's ratio of the normalized titles: 1.0 identical, 0.0 nothing in common."""
    a, b = normalize_title(left), normalize_title(right)
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def acronym(title: str) -> str:
    """`Data, Economics, and Design of Policy` -> `DEDP` (generic and small words skipped)."""
    return "".join(
        word[0] for word in words(title) if word not in GENERIC_WORDS | ACRONYM_SKIP
    ).upper()


def _number_in(number: str, readable_id: str) -> bool:
    pattern = rf"(?<![A-Za-z0-9.]){re.escape(number)}(?![A-Za-z0-9])"
    return re.search(pattern, readable_id, re.IGNORECASE) is not None


# --- scoring --------------------------------------------------------------------------------


def score_course(source: Source, target: Target) -> tuple[float, list[str]]:
    """How likely `target` is the MITx Online course `source` became, and the evidence."""
    evidence: list[str] = []
    score = 0.0
    similarity = title_similarity(source.title, target.title)
    shared_runs = sorted(source.run_keys & target.run_keys)
    if shared_runs:
        score = 1.0
        more = f" (and {len(shared_runs) - 1} more)" if len(shared_runs) > 1 else ""
        evidence.append(f"shared run key {shared_runs[0]}{more}")
    source_key = course_key_parts(source.edx_key)
    target_key = course_key_parts(target.readable_id)
    numbers = list(
        dict.fromkeys(n.strip() for n in (source.course_number, source_key and source_key[1]) if n)
    )
    same_number = next(
        (n for n in numbers if target_key and n.lower() == target_key[1].lower()), None
    )
    number_inside = next((n for n in numbers if _number_in(n, target.readable_id)), None)
    if (
        source_key
        and target_key
        and [p.lower() for p in source_key] == [p.lower() for p in target_key]
    ):
        score = max(score, 0.95)
        evidence.append(f"course key {source.edx_key} is the key of {target.readable_id}")
    elif same_number:
        score = max(score, 0.9 if similarity >= 0.6 else 0.75)
        org = f" (organisation {target_key[0]})" if source_key else ""
        evidence.append(f"course number {same_number} is the number in {target.readable_id}{org}")
    elif number_inside:
        score = max(score, 0.6)
        evidence.append(f"course number {number_inside} appears in {target.readable_id}")
    title_score = _title_score(similarity)
    if similarity >= 0.999:
        evidence.append("identical titles")
    elif similarity >= 0.6:
        evidence.append(f"similar titles ({similarity:.0%}): {source.title!r} / {target.title!r}")
    elif score and similarity < 0.4:
        evidence.append(f"but the titles differ: {source.title!r} / {target.title!r}")
        score -= 0.1
    if score and title_score >= MEDIUM_SCORE:
        score = min(1.0, score + 0.05)
    return max(score, title_score), evidence


def score_program(source: Source, target: Target) -> tuple[float, list[str]]:
    """How likely `target` is the MITx Online program `source` became, and the evidence."""
    evidence: list[str] = []
    similarity = title_similarity(source.title, target.title)
    score = 0.0
    if similarity >= 0.999:
        score = 0.9
        evidence.append(f"same title: {source.title!r} / {target.title!r}")
    elif similarity >= 0.6:
        score = _title_score(similarity)
        evidence.append(f"similar titles ({similarity:.0%}): {source.title!r} / {target.title!r}")
    initials = acronym(source.title)
    last = re.split(r"[+:/]", target.readable_id)[-1]
    if len(initials) >= 2 and initials.lower() == last.lower():
        evidence.append(f"{target.readable_id} ends in the title's initials {initials}")
        score = min(1.0, max(score + 0.2, 0.6))
    return score, evidence


def _title_score(similarity: float) -> float:
    if similarity >= 0.999:
        return 0.7
    if similarity >= 0.9:
        return 0.6
    if similarity >= 0.8:
        return 0.45
    if similarity >= 0.6:
        return 0.3
    return 0.0


# How a pair of each kind is scored.
SCORES = {COURSE: score_course, PROGRAM: score_program}


def propose(
    kind: str,
    sources: Iterable[Source],
    targets: Iterable[Target],
    mapped_source_ids: Iterable[int] = (),
    mapped_target_ids: Iterable[int] = (),
) -> list[Proposal]:
    """`kind` (COURSE, PROGRAM) proposals for the MicroMasters and MITx Online objects not yet
    mapped: score every pair, then assign greedily from the best score, one target per source."""
    score = SCORES[kind]
    mapped_source_ids, mapped_target_ids = set(mapped_source_ids), set(mapped_target_ids)
    free_targets = [t for t in targets if t.id not in mapped_target_ids]
    scored: list[tuple[float, Source, Target, list[str]]] = []
    by_source: dict[int, list[tuple[float, Target]]] = {}
    for source in sources:
        if source.id in mapped_source_ids:
            continue
        for target in free_targets:
            value, evidence = score(source, target)
            if value >= MIN_SCORE and evidence:
                scored.append((value, source, target, evidence))
                by_source.setdefault(source.id, []).append((value, target))
    scored.sort(key=lambda item: (-item[0], item[1].id, item[2].id))
    taken_sources: set[int] = set()
    taken_targets: set[int] = set()
    proposals = []
    for value, source, target, evidence in scored:
        if source.id in taken_sources or target.id in taken_targets:
            continue
        taken_sources.add(source.id)
        taken_targets.add(target.id)
        rivals = [
            (other_value, other)
            for other_value, other in by_source[source.id]
            if other.id != target.id and other_value >= value - AMBIGUOUS_MARGIN
        ]
        evidence = list(evidence)
        if rivals:
            names = ", ".join(other.readable_id for _, other in rivals[:3])
            evidence.append(f"ambiguous: {names} match{'es' if len(rivals) == 1 else ''} as well")
            value = min(value, HIGH_SCORE - 0.01) if value >= HIGH_SCORE else value - 0.15
        proposals.append(
            Proposal(
                kind=kind,
                micromasters_id=source.id,
                micromasters_label=source.label,
                target_id=target.id,
                target_label=target.label,
                score=round(max(value, 0.0), 2),
                evidence=tuple(evidence),
            )
        )
    proposals.sort(key=lambda p: (-p.score, p.micromasters_id))
    return proposals


# CourseId and ProgramId proposals.
course_proposals = partial(propose, COURSE)
program_proposals = partial(propose, PROGRAM)


# --- reading both sides, and creating what was ticked ----------------------------------------


@dataclass(frozen=True)
class Suggestions:
    """Every proposal for the current state of both databases, or why there are none."""

    courses: list[Proposal]
    programs: list[Proposal]
    problem: str | None = None  # the source is not mounted or not readable

    @property
    def all(self) -> list[Proposal]:
        """Courses, then programs."""
        return [*self.courses, *self.programs]

    def find(self, key: str) -> Proposal | None:
        """The proposal with this key, if it is still proposed."""
        return next((p for p in self.all if p.key == key), None)


def gather(schema: str | None = None) -> Suggestions:
    """Read MicroMasters (through the mount) and MITx Online, and propose mappings."""
    from micromasters_import.models import CourseId, ProgramId
    from micromasters_import.operator import source_lookup

    Course = apps.get_model("courses", "Course")
    CourseRun = apps.get_model("courses", "CourseRun")
    Program = apps.get_model("courses", "Program")
    schema = schema or source_lookup.default_schema()
    problem = source_lookup.problem(schema)
    mm_courses = source_lookup.courses(schema=schema) if problem is None else None
    mm_programs = source_lookup.programs(schema=schema) if problem is None else None
    mm_runs = source_lookup.course_run_keys(schema=schema) if problem is None else None
    if mm_courses is None or mm_programs is None:
        return Suggestions([], [], problem or source_lookup.not_mounted_message(schema))
    mm_runs = mm_runs or {}
    run_keys: dict[int, set[str]] = {}
    for course_id, key in CourseRun.all_objects.values_list("course_id", "courseware_id"):
        run_keys.setdefault(course_id, set()).add(key)
    course_sources = [
        Source(c.id, c.title, c.course_number, c.edx_key, frozenset(mm_runs.get(c.id, ())))
        for c in mm_courses.values()
    ]
    course_targets = [
        Target(c.id, c.readable_id, c.title, frozenset(run_keys.get(c.id, ())))
        for c in Course.objects.only("id", "readable_id", "title")
    ]
    program_sources = [Source(p.id, p.title) for p in mm_programs.values()]
    program_targets = [
        Target(p.id, p.readable_id, p.title)
        for p in Program.objects.only("id", "readable_id", "title")
    ]
    return Suggestions(
        courses=course_proposals(
            course_sources,
            course_targets,
            CourseId.objects.values_list("micromasters_id", flat=True),
            CourseId.objects.values_list("course_id", flat=True),
        ),
        programs=program_proposals(
            program_sources,
            program_targets,
            ProgramId.objects.values_list("micromasters_id", flat=True),
            ProgramId.objects.values_list("program_id", flat=True),
        ),
    )


@dataclass(frozen=True)
class Outcome:
    """What became of one ticked proposal."""

    key: str
    created: object | None  # the new CourseId or ProgramId
    errors: tuple[str, ...] = ()


def create(keys: Iterable[str], schema: str | None = None) -> list[Outcome]:
    """Create the mappings the operator ticked, each validated like the admin form validates.

    A key names both ids (`course:12:345`), so what is created is exactly what was shown,
    even if the proposals changed since. Each is checked again (the MicroMasters id exists in
    the source, neither side is mapped yet) and saved in its own transaction; one that fails
    is reported and does not stop the others. Nothing is created while the source cannot be
    read, since nothing could be checked.
    """
    from django.db import transaction

    from micromasters_import.operator import forms, source_lookup

    schema = schema or source_lookup.default_schema()
    problem = source_lookup.problem(schema)
    outcomes = []
    for key in keys:
        try:
            kind, mm_id, target_id = parse_key(key)
        except ValueError as error:
            outcomes.append(Outcome(key, None, (str(error),)))
            continue
        if problem:
            outcomes.append(Outcome(key, None, (problem,)))
            continue
        if kind == COURSE:
            form = forms.CourseIdForm(
                data={"micromasters_id": mm_id, "course": target_id}, source_schema=schema
            )
        else:
            form = forms.ProgramIdForm(
                data={"micromasters_id": mm_id, "program": target_id}, source_schema=schema
            )
        if not form.is_valid():
            errors = tuple(
                f"{'' if name == '__all__' else name + ': '}{message}"
                for name, messages in form.errors.items()
                for message in messages
            )
            outcomes.append(Outcome(key, None, errors))
            continue
        with transaction.atomic():
            outcomes.append(Outcome(key, form.save()))
    return outcomes
