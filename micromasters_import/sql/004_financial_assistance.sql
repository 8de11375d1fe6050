-- 004 financial assistance
-- Rule: MicroMasters financial aid requests whose tier program is `current` and mapped by
-- ProgramTierId, with status approved, auto-approved, created, pending-manual-approval,
-- docs-sent or pending-docs (the last two become pending-manual-approval), become
-- FlexiblePrice rows on the mapped tier, with the tier's courseware content type and object.
-- One row per (user, program): among the requests that pass, the latest updated_on wins,
-- then the highest id; the others are reported as superseded. The MicroMasters timestamps
-- are kept. An existing request for the same user and program is "already present" when it
-- is this import's (same created_on), otherwise a conflict.
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- Values are checked before they land (before choosing the winner, so a bad request never
-- hides a good one): income_usd and original_income, when present, must be finite and not
-- negative (invalid_amount); original_currency and country_of_income must fit their columns,
-- varchar(10) and varchar(100) (text_too_long).
-- Writes: flexiblepricing_flexibleprice
-- Source: financialaid_financialaid
-- Needs: nothing
WITH request AS (
    SELECT f.*,
           f.id AS ref,
           l.mm_user_id AS linked_mm_user_id,
           l.ambiguous AS ambiguous_link,
           l.user_id AS target_user_id,
           tp.current AS tier_current,
           t.id AS tier_id,
           t.courseware_content_type_id,
           t.courseware_object_id,
           CASE WHEN f.status IN ('docs-sent', 'pending-docs') THEN 'pending-manual-approval'
                ELSE f.status END AS target_status,
           f.status IN ('approved', 'auto-approved', 'created', 'pending-manual-approval',
                        'docs-sent', 'pending-docs') AS status_imported
      FROM mm_financialaid f
      LEFT JOIN mm_tierprogram tp ON tp.id = f.tier_program_id
      LEFT JOIN micromasters_import_programtierid pt ON pt.micromasters_tier_program_id = f.tier_program_id
      LEFT JOIN flexiblepricing_flexiblepricetier t ON t.id = pt.flexible_price_tier_id
      LEFT JOIN mm_learner l ON l.mm_user_id = f.user_id
),
filtered AS (
    SELECT request.*,
           CASE
               WHEN linked_mm_user_id IS NULL THEN 'no_linked_account'
               WHEN ambiguous_link THEN 'ambiguous_mitxonline_link'
               WHEN target_user_id IS NULL THEN 'unknown_mitxonline_user'
               WHEN NOT coalesce(tier_current, false) THEN 'tier_not_current'
               WHEN tier_id IS NULL THEN 'tier_not_mapped'
               WHEN NOT status_imported THEN 'status_not_imported'
               WHEN NOT coalesce(income_usd >= 0 AND income_usd < 'Infinity', true)
                 OR NOT coalesce(original_income >= 0 AND original_income < 'Infinity', true)
                   THEN 'invalid_amount'
               WHEN char_length(original_currency) > 10 OR char_length(country_of_income) > 100
                   THEN 'text_too_long'
               ELSE 'eligible'
           END AS row_outcome
      FROM request
),
candidate AS (
    SELECT filtered.*,
           CASE
               WHEN row_outcome <> 'eligible' THEN row_outcome
               WHEN row_number() OVER (
                        PARTITION BY row_outcome, target_user_id, courseware_content_type_id, courseware_object_id
                        ORDER BY updated_on DESC, id DESC) > 1 THEN 'superseded'
               WHEN EXISTS (SELECT 1 FROM flexiblepricing_flexibleprice fp
                             WHERE fp.user_id = target_user_id
                               AND fp.courseware_content_type_id = filtered.courseware_content_type_id
                               AND fp.courseware_object_id = filtered.courseware_object_id)
               THEN CASE WHEN EXISTS (SELECT 1 FROM flexiblepricing_flexibleprice fp
                                       WHERE fp.user_id = target_user_id
                                         AND fp.courseware_content_type_id = filtered.courseware_content_type_id
                                         AND fp.courseware_object_id = filtered.courseware_object_id
                                         AND fp.created_on = filtered.created_on)
                         THEN 'already_present' ELSE 'conflict' END
               ELSE 'eligible'
           END AS outcome
      FROM filtered
),
inserted AS (
    INSERT INTO flexiblepricing_flexibleprice (
        created_on, updated_on, user_id, status, income_usd, original_income,
        original_currency, country_of_income, date_exchange_rate, date_documents_sent,
        justification, country_of_residence, cms_submission_id, courseware_content_type_id,
        courseware_object_id, tier_id
    )
    SELECT created_on, updated_on, target_user_id, target_status, income_usd, original_income,
           original_currency, country_of_income, date_exchange_rate, date_documents_sent,
           justification, country_of_residence, NULL, courseware_content_type_id,
           courseware_object_id, tier_id
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(flexiblepricing_flexibleprice::text) AS row_hash, user_id AS target_user_id, courseware_content_type_id, courseware_object_id
)
