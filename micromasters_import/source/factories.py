"""factory-boy factories that write MicroMasters source rows with raw SQL.

The source tables are not Django models (the import only ever reads them through a mount),
so each factory INSERTs into `<SCHEMA>.<table>` through Django's connection and returns a
`Row` with the inserted values (`RETURNING *`), plus the related rows it was given or made
(e.g. `run.course.program`). Foreign keys are passed as rows: `user=<row>`, or `None` for a
nullable one. Every NOT NULL column gets a realistic value, because MicroMasters has no
database defaults. Values come from sequences and fixed dates so that runs are repeatable;
ids come from the tables' identity sequences.

A demo generator can write elsewhere with `writing_to(schema="public", using="demo")`.
"""

import hashlib
import json
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import factory
from django.db import connections

from micromasters_import.source.tables import TABLES, quote_ident

SCHEMA = "micromasters"
DATABASE = "default"

JOINED = datetime(2017, 3, 2, 14, 11, 9, tzinfo=UTC)
LAST_LOGIN = datetime(2023, 4, 2, 10, 11, 12, tzinfo=UTC)
CREATED = datetime(2016, 9, 1, 12, 0, tzinfo=UTC)
UPDATED = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
RUN_ENROLLMENT_START = datetime(2019, 8, 1, tzinfo=UTC)
RUN_START = datetime(2019, 9, 3, 15, 0, tzinfo=UTC)
RUN_ENROLLMENT_END = datetime(2019, 9, 30, tzinfo=UTC)
RUN_UPGRADE_DEADLINE = datetime(2019, 11, 30, tzinfo=UTC)
RUN_END = datetime(2019, 12, 20, 23, 59, tzinfo=UTC)
RUN_FREEZE = datetime(2020, 1, 5, tzinfo=UTC)
ENROLLED = datetime(2019, 9, 2, 12, 1, 2, tzinfo=UTC)
PAID = datetime(2019, 9, 1, 12, 0, tzinfo=UTC)
GRADED = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)
EXAM_DATE = datetime(2019, 12, 10, 14, 0, tzinfo=UTC)
EXAM_GRADES_AVAILABLE = datetime(2020, 1, 15, tzinfo=UTC)
COURSE_CERTIFIED = datetime(2020, 2, 1, 10, 0, tzinfo=UTC)
PROGRAM_CERTIFIED = datetime(2020, 6, 1, 10, 0, tzinfo=UTC)

FIRST_NAMES = ("Jane", "Arjun", "Mei", "Carlos", "Amara", "Yusuf", "Olga", "Kwame")
LAST_NAMES = ("Doe", "Sharma", "Chen", "Garcia", "Okafor", "Demir", "Ivanova", "Mensah")


_FROM_RUN = object()  # MMLineFactory: describe the line from its run


class Row(SimpleNamespace):
    """One inserted source row: its columns, plus the related rows used for its FKs."""


class FromId:
    """A column value MicroMasters derives from the row's own id after saving.

    Examples are `ecommerce_order.reference_number` (`MM-prod-<id>`) and
    `profiles_profile.student_id` (= id). The id is taken from the identity sequence before
    the INSERT so the row is written once, with both values consistent.
    """

    def __init__(self, compute):
        self.compute = compute


@contextmanager
def writing_to(schema=SCHEMA, using=DATABASE):
    """Make the factories write into another schema and/or database for a while.

    Tests use the `micromasters` schema of the test database; a demo generator fills the
    `public` schema of a separate MicroMasters-shaped database without copying the factories.
    """
    global SCHEMA, DATABASE  # the factories read these at insert time
    previous = SCHEMA, DATABASE
    SCHEMA, DATABASE = schema, using
    try:
        yield
    finally:
        SCHEMA, DATABASE = previous


def _sql_value(column_type, value):
    """A parameter placeholder and value; JSON goes as text cast to jsonb, driver-agnostic."""
    if column_type == "jsonb" and value is not None:
        return "%s::jsonb", json.dumps(value)
    return "%s", value


def insert_row(table, values, schema=None, using=None):
    """INSERT one row into a source table and return it as a `Row`.

    `values` may hold related rows under the FK name without `_id` (`user=<row>`); they are
    stored as the FK column and kept on the returned row for convenient navigation.
    """
    schema = SCHEMA if schema is None else schema
    using = DATABASE if using is None else using
    columns = {column.name: column for column in TABLES[table]}
    values = dict(values)
    related = {}
    for key in [key for key in values if key not in columns and f"{key}_id" in columns]:
        if f"{key}_id" in values:
            raise TypeError(f"{table}: pass {key}=<row or None>, not both {key} and {key}_id")
        related[key] = values.pop(key)
        values[f"{key}_id"] = None if related[key] is None else related[key].id
    unknown = sorted(set(values) - set(columns))
    if unknown:
        raise TypeError(f"{table} has no column(s) {', '.join(unknown)}")
    qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
    with connections[using].cursor() as cursor:
        if any(isinstance(value, FromId) for value in values.values()):
            if values.get("id") is None:
                cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [qualified])
                values["id"] = cursor.fetchone()[0]
            for key, value in values.items():
                if isinstance(value, FromId):
                    values[key] = value.compute(values["id"])
        placeholders, params = [], []
        for key, value in values.items():
            placeholder, param = _sql_value(columns[key].type, value)
            placeholders.append(placeholder)
            params.append(param)
        names = ", ".join(quote_ident(key) for key in values)
        cursor.execute(
            f"INSERT INTO {qualified} ({names}) VALUES ({', '.join(placeholders)}) RETURNING *",
            params,
        )
        inserted = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    return Row(**decode_json(table, inserted), **related)


def decode_json(table, row):
    """Decode the jsonb values of a fetched row.

    Django's psycopg backend loads jsonb as text (its JSONField decodes it), so raw SQL gets
    strings back; rows should hold the same dicts that were inserted.
    """
    for column in TABLES[table]:
        if column.type == "jsonb" and isinstance(row.get(column.name), str):
            row[column.name] = json.loads(row[column.name])
    return row


def iso(moment):
    """Format a datetime the way the edX APIs do in cached JSON (UTC, `Z`), None as null."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _md5(text):
    return hashlib.md5(text.encode()).hexdigest()  # an identifier, as MicroMasters made them


class MMFactory(factory.Factory):
    """Base: `Meta.model` is the table name; create INSERTs, build makes an unsaved Row."""

    class Meta:
        abstract = True

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        return Row(**kwargs)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return insert_row(model_class, kwargs)


class MMUserFactory(MMFactory):
    class Meta:
        model = "auth_user"

    password = factory.LazyAttribute(lambda o: "!" + hashlib.sha1(o.username.encode()).hexdigest())
    last_login = LAST_LOGIN
    is_superuser = False
    username = factory.Sequence(lambda n: f"mm_learner{n}")
    first_name = ""
    last_name = ""
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = False
    is_active = True
    date_joined = JOINED


class MMSocialAuthFactory(MMFactory):
    class Meta:
        model = "social_auth_usersocialauth"

    provider = "mitxonline"
    uid = factory.LazyAttribute(lambda o: o.user.username)
    user = factory.SubFactory(MMUserFactory)
    created = JOINED
    modified = UPDATED
    extra_data = factory.LazyAttribute(
        lambda o: {
            "access_token": _md5(f"access-{o.provider}-{o.uid}"),
            "refresh_token": _md5(f"refresh-{o.provider}-{o.uid}"),
            "token_type": "Bearer",
            "expires_in": 36000,
            "scope": "read write",
            "auth_time": 1704873600,
            "updated_at": 1704873600.12,
        }
    )


def linked_learner(username=None, *, uid=None, provider="mitxonline", **user_fields):
    """A MicroMasters user with a social identity (uid = username unless given).

    The import finds MITx Online users through `social_auth_usersocialauth.uid`, so almost
    every learner in a test needs both rows. The social row is on the user as `.social`.
    """
    if username is not None:
        user_fields["username"] = username
    user = MMUserFactory(**user_fields)
    user.social = MMSocialAuthFactory(
        user=user, provider=provider, uid=user.username if uid is None else uid
    )
    return user


class MMProfileFactory(MMFactory):
    class Meta:
        model = "profiles_profile"

    user = factory.SubFactory(MMUserFactory)
    first_name = factory.Sequence(lambda n: FIRST_NAMES[n % len(FIRST_NAMES)])
    last_name = factory.Sequence(lambda n: LAST_NAMES[n % len(LAST_NAMES)])
    preferred_name = factory.SelfAttribute("first_name")
    romanized_first_name = None
    romanized_last_name = None
    account_privacy = "public_to_mm"
    email_optin = False
    filled_out = True
    agreed_to_terms_of_service = True
    verified_micromaster_user = False
    fake_user = False
    country = "US"
    birth_country = "US"
    nationality = "US"
    state_or_territory = "US-MA"
    city = "Cambridge"
    address = "77 Massachusetts Ave"
    postal_code = "02139"
    phone_number = None
    date_of_birth = date(1990, 5, 1)
    gender = factory.Sequence(lambda n: ("f", "m", "o")[n % 3])
    preferred_language = "en"
    edx_level_of_education = "b"
    edx_name = factory.LazyAttribute(lambda o: f"{o.first_name} {o.last_name}")
    edx_bio = None
    edx_goals = None
    edx_mailing_address = None
    edx_employer = None
    edx_job_title = None
    edx_requires_parental_consent = False
    edx_language_proficiencies = factory.LazyFunction(lambda: [{"code": "en"}])
    about_me = None
    image = None
    image_small = None
    image_medium = None
    student_id = FromId(lambda id_: id_)
    mail_id = factory.Sequence(lambda n: uuid.uuid5(uuid.NAMESPACE_URL, f"mm-profile-{n}"))
    date_joined_micromasters = JOINED
    updated_on = UPDATED


class MMProgramFactory(MMFactory):
    class Meta:
        model = "courses_program"

    title = factory.Sequence(lambda n: f"MicroMasters Program {n}")
    live = True
    description = factory.LazyAttribute(lambda o: f"About {o.title}")
    financial_aid_availability = True
    ga_tracking_id = ""
    price = Decimal("1000.00")
    created_on = CREATED
    updated_on = UPDATED
    num_required_courses = 5
    exam_attempts_first_date = None
    exam_attempts_second_date = None


class MMCourseFactory(MMFactory):
    class Meta:
        model = "courses_course"

    title = factory.Sequence(lambda n: f"Course {n}")
    thumbnail = None
    description = factory.LazyAttribute(lambda o: f"About {o.title}")
    prerequisites = None
    program = factory.SubFactory(MMProgramFactory)
    position_in_program = factory.Sequence(lambda n: n + 1)
    contact_email = "micromasters@example.com"
    should_display_progress = True
    course_number = factory.Sequence(lambda n: f"14.{100 + n}x")
    edx_key = factory.LazyAttribute(lambda o: f"MITx+{o.course_number}")


class MMCourseRunFactory(MMFactory):
    class Meta:
        model = "courses_courserun"

    title = factory.LazyAttribute(lambda o: f"{o.course.title if o.course else 'Run'} - Fall 2019")
    edx_course_key = factory.LazyAttributeSequence(
        lambda o, n: f"course-v1:MITx+{o.course.course_number if o.course else 'X'}+{n + 1}T2019"
    )
    enrollment_start = RUN_ENROLLMENT_START
    start_date = RUN_START
    enrollment_url = None
    prerequisites = None
    course = factory.SubFactory(MMCourseFactory)
    fuzzy_start_date = "Fall 2019"
    end_date = RUN_END
    enrollment_end = RUN_ENROLLMENT_END
    fuzzy_enrollment_start_date = None
    upgrade_deadline = RUN_UPGRADE_DEADLINE
    freeze_grade_date = RUN_FREEZE
    courseware_backend = "edxorg"
    is_discontinued = False


def _cached_course_id(o):
    return o.course_run.edx_course_key


class MMCachedEnrollmentFactory(MMFactory):
    """An edX Enrollment API v1 payload; override `mode`, `is_active`, `username`, `created`."""

    class Meta:
        model = "dashboard_cachedenrollment"

    class Params:
        mode = "verified"
        is_active = True
        username = factory.LazyAttribute(lambda o: o.user.username)
        created = ENROLLED

    course_run = factory.SubFactory(MMCourseRunFactory)
    user = factory.SubFactory(MMUserFactory)
    data = factory.LazyAttribute(
        lambda o: {
            "user": o.username,
            "mode": o.mode,
            "is_active": o.is_active,
            "created": iso(o.created),
            "course_details": {
                "course_id": _cached_course_id(o),
                "course_start": iso(o.course_run.start_date),
                "course_end": iso(o.course_run.end_date),
                "enrollment_start": iso(o.course_run.enrollment_start),
                "enrollment_end": iso(o.course_run.enrollment_end),
                "invite_only": False,
                "course_modes": [
                    {
                        "slug": "verified",
                        "name": "Verified",
                        "min_price": 0,
                        "currency": "usd",
                        "expiration_datetime": None,
                        "description": None,
                        "sku": None,
                        "suggested_prices": "",
                    }
                ],
            },
        }
    )


class MMCachedCurrentGradeFactory(MMFactory):
    """An edX Grades API payload; override `passed`, `percent`, `username`."""

    class Meta:
        model = "dashboard_cachedcurrentgrade"

    class Params:
        passed = True
        percent = 0.8
        username = factory.LazyAttribute(lambda o: o.user.username)

    course_run = factory.SubFactory(MMCourseRunFactory)
    user = factory.SubFactory(MMUserFactory)
    data = factory.LazyAttribute(
        lambda o: {
            "course_id": _cached_course_id(o),
            "username": o.username,
            "email": o.user.email,
            "passed": o.passed,
            "percent": o.percent,
            "letter_grade": "Pass" if o.passed else None,
        }
    )


class MMCachedCertificateFactory(MMFactory):
    """An edX Certificates API payload (verified, downloadable); override `grade`, `status`."""

    class Meta:
        model = "dashboard_cachedcertificate"

    class Params:
        grade = "0.8"
        status = "downloadable"
        username = factory.LazyAttribute(lambda o: o.user.username)

    course_run = factory.SubFactory(MMCourseRunFactory)
    user = factory.SubFactory(MMUserFactory)
    data = factory.LazyAttribute(
        lambda o: {
            "username": o.username,
            "course_id": _cached_course_id(o),
            "certificate_type": "verified",
            "status": o.status,
            "grade": o.grade,
            "download_url": "https://courses.edx.org/certificates/"
            + _md5(f"{o.username}|{_cached_course_id(o)}"),
            "is_passing": True,
            "created": iso(RUN_FREEZE),
            "modified": iso(RUN_FREEZE),
        }
    )


class MMProgramEnrollmentFactory(MMFactory):
    class Meta:
        model = "dashboard_programenrollment"

    program = factory.SubFactory(MMProgramFactory)
    user = factory.SubFactory(MMUserFactory)
    share_hash = None


class MMFinalGradeFactory(MMFactory):
    class Meta:
        model = "grades_finalgrade"

    created_on = GRADED
    updated_on = GRADED
    grade = 0.8
    passed = True
    status = "complete"
    course_run = factory.SubFactory(MMCourseRunFactory)
    user = factory.SubFactory(MMUserFactory)
    course_run_paid_on_edx = False


class MMExamRunFactory(MMFactory):
    class Meta:
        model = "exams_examrun"

    created_on = CREATED
    updated_on = CREATED
    exam_series_code = factory.Sequence(lambda n: f"{n:04d}_MicroMasters")
    date_first_schedulable = datetime(2019, 11, 1, tzinfo=UTC)
    date_last_schedulable = datetime(2019, 12, 15, tzinfo=UTC)
    date_first_eligible = date(2019, 12, 1)
    date_last_eligible = date(2019, 12, 20)
    authorized = True
    course = factory.SubFactory(MMCourseFactory)
    date_grades_available = EXAM_GRADES_AVAILABLE
    description = None
    semester = "Fall 2019"
    passing_score = 60.0
    edx_exam_course_key = None


class MMProctoredExamGradeFactory(MMFactory):
    class Meta:
        model = "grades_proctoredexamgrade"

    created_on = EXAM_GRADES_AVAILABLE
    updated_on = EXAM_GRADES_AVAILABLE
    passing_score = 60.0
    score = 80.0
    grade = factory.LazyAttribute(lambda o: "pass" if o.passed else "fail")
    client_authorization_id = None
    row_data = factory.LazyFunction(dict)
    passed = True
    percentage_grade = factory.LazyAttribute(lambda o: o.score / 100)
    course = factory.SubFactory(MMCourseFactory)
    user = factory.SubFactory(MMUserFactory)
    exam_date = EXAM_DATE
    exam_run = factory.SubFactory(MMExamRunFactory, course=factory.SelfAttribute("..course"))


class MMCourseCertificateFactory(MMFactory):
    class Meta:
        model = "grades_micromasterscoursecertificate"

    created_on = COURSE_CERTIFIED
    updated_on = COURSE_CERTIFIED
    hash = factory.Sequence(lambda n: _md5(f"mm-course-certificate-{n}"))
    course = factory.SubFactory(MMCourseFactory)
    user = factory.SubFactory(MMUserFactory)


class MMProgramCertificateFactory(MMFactory):
    class Meta:
        model = "grades_micromastersprogramcertificate"

    created_on = PROGRAM_CERTIFIED
    updated_on = PROGRAM_CERTIFIED
    hash = factory.Sequence(lambda n: _md5(f"mm-program-certificate-{n}"))
    program = factory.SubFactory(MMProgramFactory)
    user = factory.SubFactory(MMUserFactory)


class MMTierFactory(MMFactory):
    class Meta:
        model = "financialaid_tier"

    name = factory.Sequence(lambda n: f"Tier {n + 1}")
    description = factory.Sequence(lambda n: f"Income ${25000 * n:,}-${25000 * (n + 1):,}")
    created_on = CREATED
    updated_on = CREATED


class MMTierProgramFactory(MMFactory):
    class Meta:
        model = "financialaid_tierprogram"

    discount_amount = 750
    current = True
    program = factory.SubFactory(MMProgramFactory)
    tier = factory.SubFactory(MMTierFactory)
    income_threshold = 0
    created_on = CREATED
    updated_on = CREATED


class MMFinancialAidFactory(MMFactory):
    class Meta:
        model = "financialaid_financialaid"

    status = "approved"
    income_usd = 8500.0
    original_income = 8500.0
    original_currency = "USD"
    country_of_income = "US"
    date_exchange_rate = datetime(2019, 8, 1, tzinfo=UTC)
    user = factory.SubFactory(MMUserFactory)
    tier_program = factory.SubFactory(MMTierProgramFactory)
    created_on = datetime(2019, 8, 1, 12, 0, tzinfo=UTC)
    updated_on = datetime(2019, 8, 5, 12, 0, tzinfo=UTC)
    date_documents_sent = date(2019, 8, 5)
    justification = "Documents in order"
    country_of_residence = "US"


class MMOrderFactory(MMFactory):
    class Meta:
        model = "ecommerce_order"

    status = "fulfilled"
    created_at = PAID
    modified_at = PAID
    total_price_paid = Decimal("250.00")
    user = factory.SubFactory(MMUserFactory)
    reference_number = FromId(lambda id_: f"MM-prod-{id_}")


class MMLineFactory(MMFactory):
    """One seat in an order, for `course_run` (made if neither it nor `course_key` is given).

    ecommerce_line joins runs by text, not by FK, so a line may carry any `course_key`; a
    run is only made when the key has to come from somewhere.
    """

    class Meta:
        model = "ecommerce_line"

    course_run = None
    course_key = None
    price = factory.LazyAttribute(lambda o: o.order.total_price_paid)
    description = _FROM_RUN
    created_at = PAID
    modified_at = PAID
    order = factory.SubFactory(MMOrderFactory)

    @classmethod
    def _line_values(cls, kwargs):
        run = kwargs.pop("course_run")
        if kwargs["course_key"] is None:
            run = run or MMCourseRunFactory()
            kwargs["course_key"] = run.edx_course_key
        if kwargs["description"] is _FROM_RUN:
            kwargs["description"] = f"Seat for {run.title if run else kwargs['course_key']}"
        return run, kwargs

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        run, kwargs = cls._line_values(kwargs)
        return Row(**kwargs, course_run=run)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        run, kwargs = cls._line_values(kwargs)
        row = insert_row(model_class, kwargs)
        row.course_run = run
        return row


class MMReceiptFactory(MMFactory):
    """A CyberSource Secure Acceptance POST; override `decision`, `transaction_id`."""

    class Meta:
        model = "ecommerce_receipt"

    class Params:
        decision = "ACCEPT"
        transaction_id = factory.Sequence(lambda n: str(5678000000000000000000 + n))

    data = factory.LazyAttribute(
        lambda o: {
            "decision": o.decision,
            "reason_code": "100" if o.decision == "ACCEPT" else "481",
            "message": "Request was processed successfully."
            if o.decision == "ACCEPT"
            else "Decline",
            "transaction_id": o.transaction_id,
            "req_reference_number": o.order.reference_number if o.order else None,
            "req_amount": str(o.order.total_price_paid) if o.order else "0.00",
            "auth_amount": str(o.order.total_price_paid) if o.order else "0.00",
            "req_currency": "USD",
            "req_transaction_type": "sale",
            "req_transaction_uuid": _md5(f"transaction-{o.transaction_id}"),
            "req_card_number": "xxxxxxxxxxxx1111",
            "req_card_type": "001",
            "auth_code": "888888",
            "auth_time": PAID.strftime("%Y-%m-%dT%H%M%SZ"),
            "signature": _md5(f"signature-{o.transaction_id}"),
        }
    )
    created_at = PAID
    modified_at = PAID
    order = factory.SubFactory(MMOrderFactory)
