"""Take a run back: delete exactly the rows it inserted into MITx Online, and nothing else.

Every row a step inserts is recorded with the md5 of its text as inserted (`ImportedRow`).
A revert walks the run's steps in reverse order and deletes those rows, except:

- a row that changed since the run inserted it (its text no longer hashes the same: an
  operator or MITx Online updated it) is kept and listed;
- a row that a row not deleted by this revert now references (an audit row, an enrollment
  another process added, or a row of this run that is kept) is kept and listed.

Rows of later steps go first, so a kept child keeps its parents too. All of it happens in
the caller's transaction: a dry run rolls it back and so lists exactly what a real revert
would delete and keep. Deleting goes through plain SQL, like the import: MITx Online's
database has no ON DELETE actions, and the referencing check is what stands in for them.
"""

from dataclasses import dataclass, field

from django.db import connection, models
from django.utils import timezone
from psycopg import sql

from micromasters_import.models import ImportBatch, ImportedRow, ImportRun

CHANGED = "changed since the import"
GONE = "already deleted by someone else"


@dataclass
class Kept:
    """A row the run inserted that the revert leaves in place, and why."""

    table: str
    id: int
    reason: str


@dataclass
class Reverted:
    """What a revert deleted per table, and what it kept."""

    deleted: dict[str, int] = field(default_factory=dict)
    kept: list[Kept] = field(default_factory=list)

    def summary(self, limit: int = 1000) -> dict:
        """The ledger's copy: counts per table, and the kept rows (the first `limit`)."""
        return {
            "deleted": self.deleted,
            "kept": [[k.table, k.id, k.reason] for k in self.kept[:limit]],
            "kept_total": len(self.kept),
        }


def ledger_rows(batch: ImportBatch) -> list[ImportRun]:
    """The run's steps that inserted rows and were not reverted yet, last step first."""
    return list(
        ImportRun.objects.filter(batch=batch.batch, status=ImportRun.DONE)
        .exclude(rows_inserted=0)
        .order_by("-step", "-id")
    )


def inserted_counts(batch: ImportBatch) -> dict[str, int]:
    """How many rows the run inserted per table that provenance still attributes to it."""
    rows = ImportedRow.objects.filter(ledger__in=ledger_rows(batch))
    counts = rows.values_list("target_table").annotate(count=models.Count("id"))
    return dict(sorted(counts))


def revert(batch: ImportBatch) -> Reverted:
    """Delete the rows `batch` inserted, as the module docstring says, in this transaction.

    The caller holds the import lock and the transaction; it decides to commit or, for a dry
    run, roll back.
    """
    result = Reverted()
    with connection.cursor() as cursor:
        for row in ledger_rows(batch):
            tables = (
                ImportedRow.objects.filter(ledger=row)
                .values_list("target_table", flat=True)
                .distinct()
            )
            for table in sorted(tables):
                referencing = _referencing(cursor, table)
                result.kept.extend(_keep(cursor, row, table, referencing))
                deleted = _delete(cursor, row, table, referencing)
                result.deleted[table] = result.deleted.get(table, 0) + deleted
    return result


def mark_reverted(batch: ImportBatch) -> None:
    """Record in the ledger that the run was taken back, so no step counts as done from it."""
    ImportRun.objects.filter(batch=batch.batch, status=ImportRun.DONE).update(
        status=ImportRun.REVERTED, fingerprint=""
    )
    batch.reverted_on = timezone.now()
    batch.save(update_fields=["reverted_on", "updated_on"])


def _referencing(cursor, table: str) -> list[tuple[str, str]]:
    """Every (table, column) whose foreign key points at `table`'s id."""
    cursor.execute(
        """
        SELECT r.relname, a.attname
          FROM pg_constraint c
          JOIN pg_class r ON r.oid = c.conrelid
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.confrelid = %s::regclass AND cardinality(c.conkey) = 1
         ORDER BY 1, 2
        """,
        [table],
    )
    return cursor.fetchall()


def _keep(cursor, row: ImportRun, table: str, referencing: list) -> list[Kept]:
    """The rows of this step and table that must stay, with the reason for each."""
    target = sql.Identifier(table)
    cursor.execute(
        sql.SQL(
            """
            SELECT p.target_id, CASE WHEN t.id IS NULL THEN %s ELSE %s END
              FROM micromasters_import_importedrow p
              LEFT JOIN {target} t ON t.id = p.target_id
             WHERE p.ledger_id = %s AND p.target_table = %s
               AND (t.id IS NULL OR md5(t::text) <> p.row_hash)
             ORDER BY 1
            """
        ).format(target=target),
        [GONE, CHANGED, row.id, table],
    )
    kept = [Kept(table, target_id, reason) for target_id, reason in cursor.fetchall()]
    for source, column in referencing:
        cursor.execute(
            sql.SQL(
                """
                SELECT DISTINCT p.target_id
                  FROM micromasters_import_importedrow p
                  JOIN {referencing} r ON r.{column} = p.target_id
                 WHERE p.ledger_id = %s AND p.target_table = %s
                 ORDER BY 1
                """
            ).format(referencing=sql.Identifier(source), column=sql.Identifier(column)),
            [row.id, table],
        )
        reason = f"referenced by {source}.{column}"
        kept.extend(Kept(table, target_id, reason) for (target_id,) in cursor.fetchall())
    return kept


def _delete(cursor, row: ImportRun, table: str, referencing: list) -> int:
    """Delete the step's unchanged, unreferenced rows of `table`, and their provenance."""
    references = [
        sql.SQL("NOT EXISTS (SELECT 1 FROM {} r WHERE r.{} = t.id)").format(
            sql.Identifier(source), sql.Identifier(column)
        )
        for source, column in referencing
    ]
    unreferenced = sql.SQL(" AND ").join(references) if references else sql.SQL("true")
    cursor.execute(
        sql.SQL(
            """
            WITH deleted AS (
                DELETE FROM {target} t
                 USING micromasters_import_importedrow p
                 WHERE p.ledger_id = %s AND p.target_table = %s AND t.id = p.target_id
                   AND md5(t::text) = p.row_hash AND {unreferenced}
             RETURNING t.id
            ), forgotten AS (
                DELETE FROM micromasters_import_importedrow p
                 USING deleted d
                 WHERE p.ledger_id = %s AND p.target_table = %s AND p.target_id = d.id
            )
            SELECT count(*) FROM deleted
            """
        ).format(target=sql.Identifier(table), unreferenced=unreferenced),
        [row.id, table, row.id, table],
    )
    return cursor.fetchone()[0]
