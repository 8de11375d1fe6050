"""The demo's fixed catalogue: programs, courses, runs, exam runs and financial-aid tiers.

The catalogue is small and the same for every scale and seed, so it is plain Python data:
the source generator writes it into MicroMasters with explicit ids, and the MITx Online side
creates the mapped programs, courses, existing runs and tiers from the very same objects,
without reading the source back. It deliberately contains the awkward cases production has,
so the import's run report shows every reason a row can be skipped:

* a program nobody has mapped yet (its rows are reported as `course_not_mapped` /
  `program_not_mapped`), and courses without proctored exams (`course_has_no_exam`);
* runs on both courseware backends: `edxorg` runs are created by step 002, `mitxonline`
  runs already exist in MITx Online (with products, so their orders can be imported);
* legacy slash keys, one of which collides with a `course-v1:` key of the same term
  (`conflict`), discontinued runs, runs without an enrollment URL and a placeholder run
  without a course key;
* a mapped course without a certificate-revision mapping (`revision_not_mapped`), and
  tier programs that are no longer current (`tier_not_current`).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class Program:
    """A MicroMasters program; `mapped` ones exist in MITx Online with a ProgramId."""

    id: int
    code: str
    title: str
    price: int
    num_required_courses: int
    mapped: bool

    @property
    def readable_id(self) -> str:
        """The MITx Online program id, in MITx Online's format."""
        return f"program-v1:MITx+{self.code}"


@dataclass(frozen=True)
class Course:
    """A MicroMasters course; courses of mapped programs get a MITx Online course."""

    id: int
    program_id: int
    position: int
    number: str
    title: str
    has_exam: bool
    certificate_revision: bool = True

    @property
    def edx_key(self) -> str:
        """MicroMasters' course-level key (`ORG+NUMBER`)."""
        return f"MITx+{self.number}"

    @property
    def readable_id(self) -> str:
        """The MITx Online course id, in MITx Online's format."""
        return f"course-v1:MITxT+{self.number}"


@dataclass(frozen=True)
class Run:
    """A MicroMasters course run; the dates are None for a placeholder run."""

    id: int
    course_id: int
    key: str | None
    title: str
    backend: str
    start: datetime | None
    end: datetime | None
    fuzzy_start_date: str | None
    enrollment_url: str | None
    discontinued: bool = False

    @property
    def run_tag(self) -> str:
        """The key's last `+` or `/` segment, as step 002 and MITx Online compute it."""
        return (self.key or "").replace("/", "+").rsplit("+", 1)[-1]

    @property
    def enrollment_start(self) -> datetime | None:
        """Enrollment opens a month before the start."""
        return self.start and self.start - timedelta(days=30)

    @property
    def enrollment_end(self) -> datetime | None:
        """Enrollment closes a month after the start."""
        return self.start and self.start + timedelta(days=30)

    @property
    def upgrade_deadline(self) -> datetime | None:
        """The last day to pay for the verified track: three weeks before the end."""
        return self.end and self.end - timedelta(days=21)

    @property
    def freeze_grade_date(self) -> datetime | None:
        """When MicroMasters froze final grades: two weeks after the end."""
        return self.end and self.end + timedelta(days=14)


@dataclass(frozen=True)
class ExamRun:
    """A proctored exam window of one course."""

    id: int
    course_id: int
    series_code: str
    semester: str
    first_date: date
    last_date: date
    edx_exam_course_key: str


@dataclass(frozen=True)
class Tier:
    """A MicroMasters financial-aid tier (shared by the programs)."""

    id: int
    name: str
    description: str


@dataclass(frozen=True)
class TierProgram:
    """A tier of one program: its income threshold and discount; `current` or historic."""

    id: int
    program_id: int
    tier_id: int
    income_threshold: int
    discount_amount: int
    current: bool


PROGRAMS = (
    Program(1, "DEDP", "Data, Economics, and Design of Policy", 1000, 5, mapped=True),
    Program(2, "SCM", "Supply Chain Management", 1000, 5, mapped=True),
    Program(3, "SDS", "Statistics and Data Science", 1500, 4, mapped=False),
)

# (number, title, has proctored exams); positions follow the order.
_COURSES = {
    1: (
        ("14.100x", "Microeconomics", True),
        ("14.310x", "Data Analysis for Social Scientists", True),
        ("14.73x", "The Challenges of Global Poverty", False),
        ("14.740x", "Foundations of Development Policy", True),
        ("JPAL102x", "Designing and Running Randomized Evaluations", True),
    ),
    2: (
        ("CTL.SC0x", "Supply Chain Analytics", True),
        ("CTL.SC1x", "Supply Chain Fundamentals", True),
        ("CTL.SC2x", "Supply Chain Design", True),
        ("CTL.SC3x", "Supply Chain Dynamics", False),
        ("CTL.SC4x", "Supply Chain Technology and Systems", True),
    ),
    3: (
        ("6.431x", "Probability - The Science of Uncertainty and Data", True),
        ("18.6501x", "Fundamentals of Statistics", True),
        ("6.86x", "Machine Learning with Python: from Linear Models to Deep Learning", True),
        ("6.419x", "Data Analysis: Statistical Modeling and Computation in Applications", False),
    ),
}
# The mapped course an operator has not given a certificate page yet: its certificates
# are reported as `revision_not_mapped` by step 009.
COURSE_WITHOUT_REVISION = "CTL.SC4x"

EDXORG_TERMS = ("3T2018", "1T2019", "3T2019", "1T2020", "3T2020", "1T2021")
MITXONLINE_TERMS = ("1T2023", "3T2023", "1T2024")
# Old runs with slash keys: (course number, key, term); the 14.310x one has the same run tag
# as a course-v1 run of that course, so step 002 reports the later one as a conflict.
LEGACY_RUNS = (
    ("14.100x", "MITx/14.100x/2T2017", "2T2017"),
    ("14.310x", "MITx/14.310x/1T2019", "1T2019"),
    ("CTL.SC1x", "MITx/CTL.SC1x_1/3T2017", "3T2017"),
)
# (course number, term) of runs MicroMasters marked discontinued.
DISCONTINUED = {("14.740x", "1T2020"), ("CTL.SC2x", "3T2020"), ("6.86x", "1T2021")}
# A run announced without a course key yet (step 002: `run_without_course_key`).
PLACEHOLDER_RUN_COURSE = "14.100x"

_TERM_DATES = {"1T": ((2, 1), (5, 20), "Spring"), "2T": ((6, 1), (8, 25), "Summer")}
_TERM_DATES["3T"] = ((9, 5), (12, 20), "Fall")


def _term(tag: str) -> tuple[datetime, datetime, str]:
    """Start, end and season name of a run tag like `3T2019`."""
    (start_month, start_day), (end_month, end_day), season = _TERM_DATES[tag[:2]]
    year = int(tag[2:])
    start = datetime(year, start_month, start_day, 15, 0, tzinfo=UTC)
    end = datetime(year, end_month, end_day, 23, 59, tzinfo=UTC)
    return start, end, f"{season} {year}"


def _build_courses() -> tuple[Course, ...]:
    courses = []
    for program in PROGRAMS:
        for position, (number, title, has_exam) in enumerate(_COURSES[program.id], start=1):
            courses.append(
                Course(
                    id=len(courses) + 1,
                    program_id=program.id,
                    position=position,
                    number=number,
                    title=title,
                    has_exam=has_exam,
                    certificate_revision=number != COURSE_WITHOUT_REVISION,
                )
            )
    return tuple(courses)


COURSES = _build_courses()


def _build_runs() -> tuple[Run, ...]:
    """Every run, ids in the order MicroMasters would have created them per course."""
    runs: list[Run] = []

    def add(course, key, tag, backend, url):
        start, end, season = _term(tag)
        runs.append(
            Run(
                id=len(runs) + 1,
                course_id=course.id,
                key=key,
                title=f"{course.title} - {season}",
                backend=backend,
                start=start,
                end=end,
                fuzzy_start_date=season,
                enrollment_url=url,
                discontinued=(course.number, tag) in DISCONTINUED,
            )
        )

    for course in COURSES:
        for number, key, tag in LEGACY_RUNS:
            if number == course.number:
                add(course, key, tag, "edxorg", None)
        for tag in EDXORG_TERMS:
            key = f"course-v1:MITx+{course.number}+{tag}"
            # The oldest runs predate MicroMasters storing enrollment URLs.
            url = None if tag == EDXORG_TERMS[0] else f"https://courses.edx.org/courses/{key}/"
            add(course, key, tag, "edxorg", url)
        for tag in MITXONLINE_TERMS:
            key = f"course-v1:MITxT+{course.number}+{tag}"
            add(
                course,
                key,
                tag,
                "mitxonline",
                f"https://courses.mitxonline.mit.edu/learn/course/{key}/home",
            )
        if course.number == PLACEHOLDER_RUN_COURSE:
            runs.append(
                Run(
                    id=len(runs) + 1,
                    course_id=course.id,
                    key=None,
                    title=f"{course.title} - Spring 2026",
                    backend="edxorg",
                    start=None,
                    end=None,
                    fuzzy_start_date="Spring 2026",
                    enrollment_url=None,
                )
            )
    return tuple(runs)


RUNS = _build_runs()


def _build_exam_runs() -> tuple[ExamRun, ...]:
    exam_runs = []
    for course in COURSES:
        if not course.has_exam:
            continue
        for number, tag in enumerate(("1T2020", "3T2020", "1T2023"), start=1):
            _start, end, season = _term(tag)
            exam_runs.append(
                ExamRun(
                    id=len(exam_runs) + 1,
                    course_id=course.id,
                    series_code=f"MM-{course.number}-{number}",
                    semester=season,
                    first_date=(end - timedelta(days=25)).date(),
                    last_date=(end - timedelta(days=5)).date(),
                    edx_exam_course_key=f"course-v1:MITx+{course.number}_exam+{tag}",
                )
            )
    return tuple(exam_runs)


EXAM_RUNS = _build_exam_runs()

TIERS = (
    Tier(1, "Tier 1", "Income below $25,000"),
    Tier(2, "Tier 2", "Income $25,000 to $50,000"),
    Tier(3, "Tier 3", "Income $50,000 to $75,000"),
    Tier(4, "Tier 4", "Income $75,000 and above"),
    Tier(5, "2016 Tier A", "Original tier, replaced in 2018"),
    Tier(6, "2016 Tier B", "Original tier, replaced in 2018"),
)
# (tier id, income threshold, share of the program price taken off)
_CURRENT_TIERS = ((1, 0, 0.75), (2, 25000, 0.5), (3, 50000, 0.25), (4, 75000, 0.0))
_HISTORIC_TIERS = ((5, 0, 0.6), (6, 40000, 0.3))


def _build_tier_programs() -> tuple[TierProgram, ...]:
    rows = []
    for program in PROGRAMS:
        for tier_id, threshold, share in _CURRENT_TIERS:
            amount = int(program.price * share)
            rows.append(TierProgram(len(rows) + 1, program.id, tier_id, threshold, amount, True))
        if program.mapped:
            for tier_id, threshold, share in _HISTORIC_TIERS:
                amount = int(program.price * share)
                rows.append(
                    TierProgram(len(rows) + 1, program.id, tier_id, threshold, amount, False)
                )
    return tuple(rows)


TIER_PROGRAMS = _build_tier_programs()


def program(program_id: int) -> Program:
    """The catalogue program with this id."""
    return next(p for p in PROGRAMS if p.id == program_id)


def course(course_id: int) -> Course:
    """The catalogue course with this id."""
    return next(c for c in COURSES if c.id == course_id)


def mapped_courses() -> list[Course]:
    """Courses of mapped programs: each becomes a MITx Online course with a CourseId."""
    mapped = {p.id for p in PROGRAMS if p.mapped}
    return [c for c in COURSES if c.program_id in mapped]


def existing_mitxonline_runs() -> list[Run]:
    """The `mitxonline` runs of mapped courses: they already exist in MITx Online."""
    ids = {c.id for c in mapped_courses()}
    return [r for r in RUNS if r.backend == "mitxonline" and r.course_id in ids]
