"""Checks run after every import: the properties the migrated record must have as a whole.

Row counts per step cannot show a certificate without an enrollment, a learner holding two
certificates for one course, or an order whose money does not add up. These checks read the
target (and the staged source, which still exists when they run) and say pass or fail, with
the number of offending rows and a few of their ids, so an operator can look them up. A gap
that the import's own rules make (a row skipped under a named reason) is a warning that
names the reason; fail is kept for what should never happen.
"""

from dataclasses import asdict, dataclass, field

# The staged source tables the checks read, and the MITx Online tables they read.
STAGED_TABLES = {"mm_coursecert", "mm_programcert", "mm_order", "mm_receipt", "mm_learner"}
SOURCE_COPIES = {"mm_coursecert", "mm_programcert", "mm_order", "mm_receipt", "mm_mitxonline_uid"}
LOCAL_TABLES = {
    "courses_courseruncertificate",
    "courses_courserunenrollment",
    "courses_courserungrade",
    "courses_courserun",
    "courses_programcertificate",
    "ecommerce_order",
    "ecommerce_transaction",
    "users_user",
}

PASS = "pass"
FAIL = "fail"
WARN = "warn"  # a known gap the rules make, named with its reason
INFO = "info"
NOT_APPLICABLE = "n/a"


@dataclass
class Check:
    """The result of one invariant."""

    name: str
    status: str
    detail: str
    sample: list = field(default_factory=list)

    def as_dict(self) -> dict:
        """For the ledger (JSON)."""
        return asdict(self)


def _staged(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"pg_temp.{name}"])
    return cursor.fetchone()[0]


def _count_and_sample(cursor, query: str) -> tuple[int, list]:
    cursor.execute(f"SELECT count(*), (array_agg(id ORDER BY id))[1:10] FROM ({query}) AS bad")
    count, sample = cursor.fetchone()
    return count, list(sample or [])


def _none_of(cursor, name: str, query: str, found: str, passed: str) -> Check:
    """FAIL when `query` has rows (its `id`s): their count, then `found`, with a sample;
    otherwise PASS, saying `passed`."""
    count, sample = _count_and_sample(cursor, query)
    if count:
        return Check(name, FAIL, f"{count} {found}", sample)
    return Check(name, PASS, passed)


def certificates_have_enrollments(cursor) -> Check:
    """Every certificate that came from MicroMasters has an enrollment in its run (after 013)."""
    name = "every imported certificate has an enrollment"
    if not _staged(cursor, "mm_coursecert"):
        return Check(name, NOT_APPLICABLE, "course certificates were not part of this run")
    return _none_of(
        cursor,
        name,
        """
        SELECT cc.id FROM courses_courseruncertificate cc
          JOIN mm_coursecert c ON c.uuid = cc.uuid
         WHERE NOT EXISTS (SELECT 1 FROM courses_courserunenrollment e
                            WHERE e.user_id = cc.user_id AND e.run_id = cc.course_run_id)
        """,
        "certificate(s) without an enrollment (run 013)",
        "all imported certificates have an enrollment",
    )


def grades_have_runs(cursor) -> Check:
    """Every grade points at an existing run (a deferred FK could hide a dangling one)."""
    name = "every imported grade's run exists"
    return _none_of(
        cursor,
        name,
        """
        SELECT g.id FROM courses_courserungrade g
         WHERE NOT EXISTS (SELECT 1 FROM courses_courserun r WHERE r.id = g.course_run_id)
        """,
        "grade(s) point at a missing run",
        "every grade's run exists",
    )


def one_certificate_per_course(cursor) -> Check:
    """No learner holds two certificates for the same course (on different runs)."""
    name = "no user has two certificates for one course"
    return _none_of(
        cursor,
        name,
        """
        SELECT min(cc.user_id) AS id FROM courses_courseruncertificate cc
          JOIN courses_courserun r ON r.id = cc.course_run_id
         WHERE NOT cc.is_revoked
         GROUP BY cc.user_id, r.course_id HAVING count(*) > 1
        """,
        "(user, course) pair(s) with several certificates",
        "at most one certificate per user and course",
    )


def order_totals_match_transactions(cursor) -> Check:
    """A fulfilled imported order's total equals its payments minus its refunds.

    The orders checked are those that have transactions, and (when the run staged receipts)
    those whose MicroMasters order had receipts: an order whose receipt did not become a
    transaction (e.g. its transaction id belongs to another order) has no payment at all,
    which is exactly the kind of lost money this check exists to show.

    One gap is made by the rules themselves, not by a fault: step 007 skips a receipt that
    has no transaction id ("receipt has no transaction_id"), so the order it paid for has no
    payment in MITx Online. Such orders are a WARN that names the reason and the orders;
    FAIL is kept for the orders nothing explains.

    Step 007 records every receipt of a refunded or partially refunded order as a refund of
    the whole total (the convention of MITx Online's earlier import), so the money of those
    orders cannot add up by construction; they are counted, not failed.
    """
    name = "imported order totals equal payments minus refunds"
    if not _staged(cursor, "mm_order"):
        return Check(name, NOT_APPLICABLE, "orders were not part of this run")
    has_receipts = _staged(cursor, "mm_receipt")
    had_receipts = (
        "OR EXISTS (SELECT 1 FROM mm_receipt r WHERE r.order_id = m.id)" if has_receipts else ""
    )
    # An order is explained when one of its MicroMasters receipts has no transaction id.
    explained = (
        "EXISTS (SELECT 1 FROM mm_receipt r WHERE r.order_id = m.id "
        "AND coalesce(r.transaction_id, '') = '')"
        if has_receipts and _has_column(cursor, "mm_receipt", "transaction_id")
        else "false"
    )
    cursor.execute(
        f"""
        SELECT o.id, o.reference_number, {explained} FROM ecommerce_order o
          JOIN mm_order m ON m.reference_number = o.reference_number
         WHERE o.state = 'fulfilled'
           AND (EXISTS (SELECT 1 FROM ecommerce_transaction t WHERE t.order_id = o.id)
                {had_receipts})
           AND o.total_price_paid <> coalesce(
                   (SELECT sum(CASE WHEN t.transaction_type = 'refund'
                                    THEN -t.amount ELSE t.amount END)
                      FROM ecommerce_transaction t WHERE t.order_id = o.id), 0)
         ORDER BY o.id
        """
    )
    mismatched = cursor.fetchall()
    unexplained = [order_id for order_id, _ref, why in mismatched if not why]
    receipt_gaps = [(order_id, ref) for order_id, ref, why in mismatched if why]
    cursor.execute(
        """
        SELECT count(DISTINCT o.id) FROM ecommerce_order o
          JOIN mm_order m ON m.reference_number = o.reference_number
          JOIN ecommerce_transaction t ON t.order_id = o.id
         WHERE o.state IN ('refunded', 'partially_refunded')
        """
    )
    refunded = cursor.fetchone()[0]
    note = f"; {refunded} refunded order(s) not checked (007 records full-total refunds)"
    gap_note = ""
    if receipt_gaps:
        refs = ", ".join(ref for _id, ref in receipt_gaps[:5])
        more = f" and {len(receipt_gaps) - 5} more" if len(receipt_gaps) > 5 else ""
        gap_note = (
            f"{len(receipt_gaps)} fulfilled order(s) have no payment because their MicroMasters "
            f"receipt has no transaction id, which step 007 skips as "
            f'"receipt has no transaction_id": {refs}{more}'
        )
    if unexplained:
        detail = f"{len(unexplained)} fulfilled order(s) do not add up"
        if gap_note:
            detail += f"; besides, {gap_note}"
        return Check(name, FAIL, detail + note, unexplained[:10])
    if receipt_gaps:
        sample = [order_id for order_id, _ref in receipt_gaps][:10]
        return Check(name, WARN, gap_note + note, sample)
    return Check(name, PASS, f"fulfilled orders add up{note}")


def _has_column(cursor, table: str, column: str) -> bool:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attname = %s AND NOT attisdropped)",
        [f"pg_temp.{table}", column],
    )
    return cursor.fetchone()[0]


# Where a MicroMasters record's owner can be read back from MITx Online: the rows that keep a
# MicroMasters key (a certificate's uuid is its hash, an order keeps its reference number).
# (staged table, SQL giving (MITx Online user, MicroMasters user) for each such row)
PROVENANCE = [
    (
        "mm_coursecert",
        "SELECT cc.user_id AS account, c.user_id AS owner FROM courses_courseruncertificate cc"
        " JOIN mm_coursecert c ON c.uuid = cc.uuid",
    ),
    (
        "mm_programcert",
        "SELECT pc.user_id AS account, c.user_id AS owner FROM courses_programcertificate pc"
        " JOIN mm_programcert c ON c.uuid = pc.uuid",
    ),
    (
        "mm_order",
        "SELECT o.purchaser_id AS account, m.user_id AS owner FROM ecommerce_order o"
        " JOIN mm_order m ON m.reference_number = o.reference_number",
    ),
]


def one_learner_per_account(cursor) -> Check:
    """No MITx Online user received rows from two MicroMasters users.

    Every step reaches a MITx Online account through the run's identity map (`mm_learner`),
    so an account that map gives to two MicroMasters users would receive both records. The
    rows that keep their MicroMasters key (certificates, orders) also name their owner, so
    they are checked as they are in MITx Online, whichever run wrote them: an earlier run
    that mixed two learners is found too.
    """
    name = "no MITx Online user holds the rows of two MicroMasters users"
    if not _staged(cursor, "mm_learner"):
        return Check(name, NOT_APPLICABLE, "no step of this run reads learners")
    sources = [
        "SELECT user_id AS account, mm_user_id AS owner FROM mm_learner WHERE user_id IS NOT NULL"
    ]
    sources += [query for table, query in PROVENANCE if _staged(cursor, table)]
    return _none_of(
        cursor,
        name,
        f"""
        SELECT account AS id FROM ({" UNION ALL ".join(sources)}) AS owned
         GROUP BY account HAVING min(owner) <> max(owner)
        """,
        "MITx Online user(s) hold rows of several MicroMasters users",
        "every MITx Online user holds the rows of one MicroMasters user",
    )


def linked_users_found(cursor) -> Check:
    """How many linked MicroMasters learners have a MITx Online account to receive their record.

    The sample lists those who have none: not found, or whose link is ambiguous.
    """
    name = "linked MicroMasters users found in MITx Online"
    if not _staged(cursor, "mm_learner"):
        return Check(name, NOT_APPLICABLE, "no step of this run reads learners")
    cursor.execute(
        """
        SELECT count(*), count(user_id), count(*) FILTER (WHERE ambiguous),
               (array_agg(mm_user_id ORDER BY mm_user_id) FILTER (WHERE user_id IS NULL))[1:10]
          FROM mm_learner
        """
    )
    linked, found, ambiguous, sample = cursor.fetchone()
    detail = (
        f"{linked} linked in MicroMasters, {found} found, {linked - found - ambiguous} not found"
    )
    if ambiguous:
        detail += f", {ambiguous} with an ambiguous link (nothing imported)"
    return Check(name, INFO, detail, list(sample or []))


CHECKS = [
    certificates_have_enrollments,
    grades_have_runs,
    one_certificate_per_course,
    order_totals_match_transactions,
    one_learner_per_account,
    linked_users_found,
]


def run_checks(cursor) -> list[Check]:
    """Every invariant, in a fixed order."""
    return [check(cursor) for check in CHECKS]
