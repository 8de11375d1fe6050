"""Step 004: MicroMasters financial aid requests become FlexiblePrice rows on mapped tiers."""

from datetime import UTC, date, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import connection

from courses.factories import ProgramFactory
from flexiblepricing.factories import FlexiblePriceTierFactory
from flexiblepricing.models import FlexiblePrice
from micromasters_import.models import ImportedRow, ProgramTierId
from micromasters_import.source.factories import (
    MMFinancialAidFactory,
    MMTierProgramFactory,
    MMUserFactory,
)
from micromasters_import.testing.reports import assert_only_skipped


def _tier(current=True, mapped=True):
    """A MicroMasters tier program and, if mapped, the MITx Online tier of a program."""
    tier_program = MMTierProgramFactory(current=current)
    tier = FlexiblePriceTierFactory(courseware_object=ProgramFactory())
    if mapped:
        ProgramTierId.objects.create(
            micromasters_tier_program_id=tier_program.id, flexible_price_tier=tier
        )
    return tier_program, tier


def _when(day):
    return datetime(2019, 8, day, 12, 0, tzinfo=UTC)


def test_imports_an_approved_request_with_every_value(run_step, learner):
    tier_program, tier = _tier()
    someone = learner()
    aid = MMFinancialAidFactory(
        user=someone.mm,
        tier_program=tier_program,
        status="approved",
        income_usd=8500.0,
        original_income=637500.0,
        original_currency="INR",
        country_of_income="IN",
        country_of_residence="IN",
        date_exchange_rate=_when(1),
        date_documents_sent=date(2019, 8, 5),
        justification="Documents in order",
        created_on=_when(1),
        updated_on=_when(6),
    )

    report = run_step("004")

    price = FlexiblePrice.objects.get()
    assert price.user == someone.user
    assert price.status == "approved"
    assert (price.income_usd, price.original_income) == (8500.0, 637500.0)
    assert (price.original_currency, price.country_of_income) == ("INR", "IN")
    assert price.country_of_residence == "IN"
    assert price.date_exchange_rate == _when(1)
    assert price.date_documents_sent == date(2019, 8, 5)
    assert price.justification == "Documents in order"
    assert price.tier == tier
    assert price.courseware_content_type == ContentType.objects.get(
        app_label="courses", model="program"
    )
    assert price.courseware_object_id == tier.courseware_object_id
    assert price.cms_submission_id is None
    assert (price.created_on, price.updated_on) == (aid.created_on, aid.updated_on)
    assert report["inserted"] == 1


def test_statuses_are_mapped_or_skipped(run_step, learner):
    imported = {
        "approved": "approved",
        "auto-approved": "auto-approved",
        "created": "created",
        "pending-manual-approval": "pending-manual-approval",
        "docs-sent": "pending-manual-approval",
        "pending-docs": "pending-manual-approval",
    }
    people = {}
    for status in [*imported, "skipped", "reset"]:
        tier_program, _ = _tier()
        people[status] = learner()
        MMFinancialAidFactory(user=people[status].mm, tier_program=tier_program, status=status)

    report = run_step("004")

    landed = dict(FlexiblePrice.objects.values_list("user__username", "status"))
    assert landed == {people[s].user.username: target for s, target in imported.items()}
    assert report["skipped"] == {"status_not_imported": 2}


def test_skips_non_current_and_unmapped_tiers_and_unlinked_learners(run_step, learner):
    someone = learner()
    old_tier, _ = _tier(current=False)
    unmapped_tier, _ = _tier(mapped=False)
    good_tier, _ = _tier()
    MMFinancialAidFactory(user=someone.mm, tier_program=old_tier)
    MMFinancialAidFactory(user=someone.mm, tier_program=unmapped_tier)
    MMFinancialAidFactory(user=MMUserFactory(), tier_program=good_tier)

    report = run_step("004")

    assert_only_skipped(
        report, FlexiblePrice, no_linked_account=1, tier_not_current=1, tier_not_mapped=1
    )


def test_one_row_per_user_and_program_latest_updated_on_then_highest_id(run_step, learner):
    tier_program, _ = _tier()
    latest, tie = learner(), learner()
    MMFinancialAidFactory(
        user=latest.mm, tier_program=tier_program, updated_on=_when(9), income_usd=1.0
    )
    latest_won = MMFinancialAidFactory(
        user=latest.mm, tier_program=tier_program, updated_on=_when(20), income_usd=2.0
    )
    MMFinancialAidFactory(
        user=latest.mm, tier_program=tier_program, updated_on=_when(10), income_usd=3.0
    )
    MMFinancialAidFactory(
        user=tie.mm, tier_program=tier_program, updated_on=_when(9), income_usd=4.0
    )
    tie_won = MMFinancialAidFactory(
        user=tie.mm, tier_program=tier_program, updated_on=_when(9), income_usd=5.0
    )
    MMFinancialAidFactory(
        user=tie.mm, tier_program=tier_program, updated_on=_when(9), status="reset", income_usd=6.0
    )

    report = run_step("004")

    landed = dict(FlexiblePrice.objects.values_list("user__username", "income_usd"))
    assert landed == {latest.user.username: 2.0, tie.user.username: 5.0}
    assert report["inserted"] == 2
    assert report["skipped"] == {"superseded": 3, "status_not_imported": 1}
    # Provenance names the request that won, not the lowest id of the learner's requests.
    price_ids = dict(FlexiblePrice.objects.values_list("income_usd", "id"))
    assert set(ImportedRow.objects.values_list("target_id", "source_table", "source_id")) == {
        (price_ids[2.0], "financialaid_financialaid", latest_won.id),
        (price_ids[5.0], "financialaid_financialaid", tie_won.id),
    }


def test_an_existing_request_is_already_present_or_a_conflict_and_rerun_inserts_nothing(
    run_steps, learner
):
    tier_program, _ = _tier()
    ours, theirs, fresh = learner(), learner(), learner()
    for person in (ours, theirs, fresh):
        MMFinancialAidFactory(user=person.mm, tier_program=tier_program, created_on=_when(1))
    run_steps("004")
    FlexiblePrice.objects.filter(user=theirs.user).update(created_on=_when(3))

    second = run_steps("004")

    assert second["004"]["inserted"] == 0
    assert second["004"]["already_present"] == 2
    assert second["004"]["skipped"] == {"conflict": 1}
    assert FlexiblePrice.objects.count() == 3


def test_impossible_amounts_and_overlong_text_are_skipped_by_id_and_never_hide_a_good_request(
    run_step, learner, mm
):
    with connection.cursor() as cursor:
        for column in ("original_currency", "country_of_income"):
            cursor.execute(
                f"ALTER TABLE {mm}.financialaid_financialaid ALTER COLUMN {column} TYPE text"
            )
    tier_program, _ = _tier()
    someone, other = learner(), learner()
    bad = [
        MMFinancialAidFactory(user=someone.mm, tier_program=tier_program, updated_on=_when(20), **f)
        for f in [
            {"income_usd": float("nan")},
            {"income_usd": -1.0},
            {"income_usd": float("inf")},
            {"original_income": -5.0},
            {"original_currency": "DOLLARS-USD"},  # 11 characters
            {"country_of_income": "C" * 101},
        ]
    ]
    # An older, valid request: the newer, invalid ones must not supersede it.
    MMFinancialAidFactory(
        user=someone.mm, tier_program=tier_program, updated_on=_when(2), income_usd=7000.0
    )
    MMFinancialAidFactory(
        user=other.mm, tier_program=tier_program, income_usd=None, original_income=None
    )

    report = run_step("004")

    landed = sorted(FlexiblePrice.objects.values_list("user_id", "income_usd", "original_income"))
    assert landed == sorted([(someone.user.id, 7000.0, 8500.0), (other.user.id, None, None)])
    assert report["skipped"] == {"invalid_amount": 4, "text_too_long": 2}
    assert report["samples"]["invalid_amount"] == [aid.id for aid in bad[:4]]
    assert report["samples"]["text_too_long"] == [aid.id for aid in bad[4:]]
