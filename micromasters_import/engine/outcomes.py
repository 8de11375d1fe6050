"""What became of each source row: the named outcomes the steps report, in words.

Every step classifies each candidate source row with one of these codes, so that a run can
say not only how many rows came over but why the others did not.
"""

INSERTED = "inserted"
ELIGIBLE = "eligible"
ALREADY_PRESENT = "already_present"
CONFLICT = "conflict"

DESCRIPTIONS = {
    INSERTED: "inserted",
    ALREADY_PRESENT: "already present in MITx Online",
    "no_linked_account": "no linked mitxonline account",
    "unknown_mitxonline_user": "linked uid matches no MITx Online user",
    "ambiguous_mitxonline_link": (
        "mitxonline link is ambiguous (a uid shared by several MicroMasters users, several "
        "uids for one user, or a uid matching several MITx Online users): imports nothing"
    ),
    "course_not_mapped": "course not mapped (CourseId)",
    "program_not_mapped": "program not mapped (ProgramId)",
    "tier_not_mapped": "tier program not mapped (ProgramTierId)",
    "tier_not_current": "tier program not current",
    "revision_not_mapped": "certificate revision mapping missing (CourseCertificateRevisionId)",
    "run_discontinued": "run discontinued",
    "run_not_on_edxorg": "run not on the edxorg backend",
    "run_without_course_key": "run has no course key",
    "run_not_imported": "run not in MITx Online",
    "course_has_no_exam": "course has no exam runs (combined grades are for exam courses)",
    "exam_not_passed": "no passed proctored exam for the course",
    "status_not_imported": "financial aid status not imported (skipped, reset)",
    "order_status_not_imported": "order status not imported (created, failed)",
    "order_without_reference_number": "order has no reference number",
    "order_without_lines": "order has no lines",
    "line_run_not_imported": "a line's course key is not a MITx Online run",
    "line_product_missing": "a line's run has no active product",
    "product_version_missing": "the product has no reversion version",
    "order_not_imported": "order not in MITx Online",
    "order_not_fulfilled": "order not fulfilled",
    "line_not_imported": "order line not in MITx Online",
    "receipt_without_order": "receipt belongs to no order",
    "receipt_without_transaction_id": "receipt has no transaction_id",
    "no_imported_grade": "no MITx Online grade for a run of the course",
    "invalid_hash": "certificate hash is not 32 hex digits",
    "superseded": "another source row for the same target row was chosen",
    # Values out of the bounds MITx Online or the rules set; each step's header says which.
    "invalid_grade": "final grade outside [0, 1] or not a number",
    "invalid_exam_score": "a passed exam score for the course outside [0, 100] or not a number",
    "invalid_enrollment_mode": (
        "enrollment mode is not an edX mode (audit, honor, verified, professional, "
        "no-id-professional, credit, masters)"
    ),
    "invalid_is_active": "is_active is present but not a boolean",
    "invalid_amount": "amount is not a number, negative, or too large for MITx Online",
    "invalid_run_dates": "the run's expiration (end date + 1 day) falls before its start",
    "text_too_long": "a text value is longer than its MITx Online column allows",
    CONFLICT: "conflicts with an existing row on a unique key",
}


def describe(code: str) -> str:
    """The operator-facing words for an outcome code (the code itself when unknown)."""
    return DESCRIPTIONS.get(code, code.replace("_", " "))


def summarize(rows) -> dict:
    """Turn a step's (outcome, rows, sample) result into the report stored in the ledger.

    Eligible rows that the INSERT did not keep lost to ON CONFLICT on some unique key, so
    they count as conflicts; that keeps `candidates = inserted + already present + skipped`.
    """
    counts: dict[str, int] = {}
    samples: dict[str, list[int]] = {}
    for outcome, count, sample in rows:
        counts[outcome] = counts.get(outcome, 0) + int(count)
        if sample:
            samples[outcome] = list(sample)
    inserted = counts.pop(INSERTED, 0)
    eligible = counts.pop(ELIGIBLE, 0)
    samples.pop(ELIGIBLE, None)
    if eligible > inserted:
        counts[CONFLICT] = counts.get(CONFLICT, 0) + eligible - inserted
    skipped = {code: n for code, n in counts.items() if code != ALREADY_PRESENT and n}
    return {
        "candidates": inserted + sum(counts.values()),
        "inserted": inserted,
        "already_present": counts.get(ALREADY_PRESENT, 0),
        "skipped": dict(sorted(skipped.items(), key=lambda item: (-item[1], item[0]))),
        "samples": samples,
    }
