"""The MITx Online side of the demo: what already exists there before anyone imports.

The import never creates users, courses or programs: it only reaches them through usernames
and the ID mappings an operator fills in. So a demo needs, in MITx Online, what production
has: an account for every linked learner (except a few whose account is gone, which the run
report must show), the mapped programs and courses, the runs MicroMasters already ran on
MITx Online with their products (orders point at product versions), the financial-aid price
tiers with their discounts, and every mapping row. Everything here is idempotent: running it
twice creates nothing the second time, so the demo script can always call it.
"""

from decimal import Decimal

import reversion
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from micromasters_import.demo import catalog
from micromasters_import.demo.pseudorandom import (
    Rand,
    email_sql,
    first_name_sql,
    last_name_sql,
    linked_on_sql,
    linked_sql,
    missing_sql,
    uid_sql,
)
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ProgramId,
    ProgramTierId,
)

# MITx Online's models, through the registry: this app imports no other app's code.
Course = apps.get_model("courses", "Course")
CourseRun = apps.get_model("courses", "CourseRun")
Program = apps.get_model("courses", "Program")
Revision = apps.get_model("wagtailcore", "Revision")
Discount = apps.get_model("ecommerce", "Discount")
Product = apps.get_model("ecommerce", "Product")
FlexiblePriceTier = apps.get_model("flexiblepricing", "FlexiblePriceTier")


def users_sql(users: int, seed: int) -> str:
    """One INSERT of the MITx Online account of every linked learner but the missing ones.

    The usernames, e-mails and names are the same expressions the source generator used,
    evaluated on the same server, so they match the source's `mitxonline` uids without
    reading them back. Every NOT NULL column of users_user is supplied (no DB defaults).
    """
    r = Rand(seed)
    return f"""
        INSERT INTO users_user (
            password, last_login, is_superuser, created_on, updated_on, global_id, scim_id,
            scim_external_id, scim_username, username, email, name, is_staff, is_etl,
            is_active, hubspot_sync_datetime)
        SELECT '!' || substr(md5('demo-mitxonline-password:' || id::text)
                             || md5('demo-mitxonline-password-2:' || id::text), 1, 40),
               NULL, false, created, created,
               md5('demo-global-id:{r.seed}:' || id::text)::uuid::text, NULL, NULL, NULL,
               uid, email, first_name || ' ' || last_name, false, false, true, NULL
          FROM (
            SELECT id, {uid_sql(r, "id")} AS uid, {email_sql(r, "id")} AS email,
                   {first_name_sql(r, "id")} AS first_name, {last_name_sql(r, "id")} AS last_name,
                   {linked_on_sql(r, "id")} - interval '3 days' AS created
              FROM generate_series(1, {int(users)}) AS id
             WHERE {linked_sql(r, "id")} AND NOT {missing_sql("id")}
          ) learner
         ORDER BY id
        ON CONFLICT DO NOTHING
    """


def create_users(users: int, seed: int) -> int:
    """Create the linked learners' accounts; returns how many were new."""
    with connection.cursor() as cursor:
        cursor.execute(users_sql(users, seed))
        return cursor.rowcount


def _program(demo: catalog.Program, created: dict) -> Program:
    program, new = Program.objects.get_or_create(
        readable_id=demo.readable_id,
        defaults={"title": demo.title, "live": True, "program_type": "MicroMasters®"},
    )
    created["courses_program"] += new
    return program


def _course(demo: catalog.Course, created: dict) -> Course:
    course, new = Course.objects.get_or_create(
        readable_id=demo.readable_id, defaults={"title": demo.title, "live": True}
    )
    created["courses_course"] += new
    return course


def _revision(title: str, created: dict) -> Revision:
    created["wagtailcore_revision"] += 1
    return Revision.objects.create(object_str=title)


def _run(demo: catalog.Run, course: Course, created: dict) -> CourseRun:
    """A run MicroMasters already ran on MITx Online: it exists there under the same key."""
    run, new = CourseRun.all_objects.get_or_create(
        courseware_id=demo.key,
        defaults={
            "course": course,
            "title": demo.title,
            "run_tag": demo.run_tag,
            "start_date": demo.start,
            "end_date": demo.end,
            "enrollment_start": demo.enrollment_start,
            "enrollment_end": demo.enrollment_end,
            "upgrade_deadline": demo.upgrade_deadline,
            "certificate_available_date": demo.freeze_grade_date,
            "live": True,
        },
    )
    created["courses_courserun"] += new
    return run


def _product(run: CourseRun, price: int, created: dict) -> None:
    """An active product with a reversion version: step 006 points order lines at it."""
    run_type = ContentType.objects.get_for_model(CourseRun)
    if Product.all_objects.filter(content_type=run_type, object_id=run.id).exists():
        return
    with reversion.create_revision():
        Product.objects.create(
            content_type=run_type,
            object_id=run.id,
            price=Decimal(price),
            description=run.title,
            is_active=True,
        )
    created["ecommerce_product"] += 1


def _tier(demo: catalog.TierProgram, program: Program, created: dict) -> None:
    """A current MicroMasters tier becomes a flexible price tier with its discount."""
    if ProgramTierId.objects.filter(micromasters_tier_program_id=demo.id).exists():
        return
    code = catalog.program(demo.program_id).code
    discount = Discount.objects.create(
        amount=Decimal(demo.discount_amount),
        automatic=False,
        discount_type="dollars-off",
        redemption_type="unlimited",
        payment_type="financial-assistance",
        max_redemptions=0,
        discount_code=f"{code}-financial-assistance-tier-{demo.tier_id}",
    )
    tier = FlexiblePriceTier.objects.create(
        courseware_content_type=ContentType.objects.get_for_model(Program),
        courseware_object_id=program.id,
        discount=discount,
        current=True,
        income_threshold_usd=float(demo.income_threshold),
    )
    ProgramTierId.objects.create(micromasters_tier_program_id=demo.id, flexible_price_tier=tier)
    created["ecommerce_discount"] += 1
    created["flexiblepricing_flexiblepricetier"] += 1
    created["micromasters_import_programtierid"] += 1


def build_target(users: int, seed: int) -> dict[str, int]:
    """Create whatever is missing of the MITx Online side; returns rows created per table.

    One transaction, so an interrupted run leaves nothing half made. The catalogue comes from
    `catalog`, whose MicroMasters ids the source generator wrote explicitly, so the mappings
    can be made without reading the source.
    """
    created = dict.fromkeys(
        [
            "users_user",
            "courses_program",
            "courses_course",
            "courses_courserun",
            "ecommerce_product",
            "ecommerce_discount",
            "flexiblepricing_flexiblepricetier",
            "wagtailcore_revision",
            "micromasters_import_courseid",
            "micromasters_import_programid",
            "micromasters_import_programtierid",
            "micromasters_import_coursecertificaterevisionid",
        ],
        0,
    )
    with transaction.atomic():
        created["users_user"] = create_users(users, seed)
        programs = {}
        for demo in catalog.PROGRAMS:
            if not demo.mapped:
                continue
            program = programs[demo.id] = _program(demo, created)
            if not ProgramId.objects.filter(micromasters_id=demo.id).exists():
                ProgramId.objects.create(
                    micromasters_id=demo.id,
                    program=program,
                    program_certificate_revision=_revision(
                        f"{demo.title} program certificate", created
                    ),
                )
                created["micromasters_import_programid"] += 1
        for demo in catalog.mapped_courses():
            course = _course(demo, created)
            _, new = CourseId.objects.get_or_create(
                micromasters_id=demo.id, defaults={"course": course}
            )
            created["micromasters_import_courseid"] += new
            if (
                demo.certificate_revision
                and not CourseCertificateRevisionId.objects.filter(course=course).exists()
            ):
                CourseCertificateRevisionId.objects.create(
                    course=course,
                    certificate_page_revision=_revision(
                        f"{demo.number} course certificate", created
                    ),
                )
                created["micromasters_import_coursecertificaterevisionid"] += 1
            price = catalog.program(demo.program_id).price
            for run in catalog.existing_mitxonline_runs():
                if run.course_id == demo.id:
                    _product(_run(run, course, created), price, created)
        for demo in catalog.TIER_PROGRAMS:
            if demo.current and demo.program_id in programs:
                _tier(demo, programs[demo.program_id], created)
    return created
