-- 005 orders
-- Rule: one MITx Online order per MicroMasters order (never one per line) whose status is
-- fulfilled, refunded or partially_refunded, that has a reference_number, and whose every
-- line's course key is a MITx Online run with an active product; otherwise the whole order
-- is skipped and reported. The order keeps reference_number, total_price_paid, the
-- MicroMasters timestamps and its status as `state`; gateway_type = 'CyberSource'. An order
-- whose reference number is already in MITx Online is already present (reference_number is
-- not unique in MITx Online, so this anti-join is what makes the step idempotent).
-- A learner whose mitxonline link is ambiguous imports nothing (ambiguous_mitxonline_link).
-- Values are checked before they land: total_price_paid must be a number, not negative, and
-- below 10^15, what total_price_paid numeric(20,5) holds (invalid_amount: 'NaN' or a
-- negative total); reference_number must fit its varchar(255) (text_too_long).
-- Writes: ecommerce_order
-- Source: ecommerce_order
-- Needs: 002
WITH courserun_type AS (
    SELECT id FROM django_content_type WHERE app_label = 'courses' AND model = 'courserun'
),
line_check AS (
    SELECT li.order_id,
           count(*) AS lines,
           count(*) FILTER (WHERE cr.id IS NULL) AS lines_without_run,
           count(*) FILTER (WHERE cr.id IS NOT NULL AND p.id IS NULL) AS lines_without_product
      FROM mm_line li
      LEFT JOIN courses_courserun cr ON cr.courseware_id = li.course_key
      LEFT JOIN ecommerce_product p
             ON p.object_id = cr.id AND p.is_active
            AND p.content_type_id = (SELECT id FROM courserun_type)
     GROUP BY li.order_id
),
candidate AS (
    SELECT o.id AS ref, o.*, l.user_id AS purchaser_id,
           CASE
               WHEN l.mm_user_id IS NULL THEN 'no_linked_account'
               WHEN l.ambiguous THEN 'ambiguous_mitxonline_link'
               WHEN l.user_id IS NULL THEN 'unknown_mitxonline_user'
               WHEN o.status NOT IN ('fulfilled', 'refunded', 'partially_refunded')
                   THEN 'order_status_not_imported'
               WHEN o.reference_number IS NULL THEN 'order_without_reference_number'
               WHEN NOT coalesce(o.total_price_paid >= 0 AND o.total_price_paid < 1e15, false)
                   THEN 'invalid_amount'
               WHEN char_length(o.reference_number) > 255 THEN 'text_too_long'
               WHEN EXISTS (SELECT 1 FROM ecommerce_order eo
                             WHERE eo.reference_number = o.reference_number)
                   THEN 'already_present'
               WHEN lc.order_id IS NULL THEN 'order_without_lines'
               WHEN lc.lines_without_run > 0 THEN 'line_run_not_imported'
               WHEN lc.lines_without_product > 0 THEN 'line_product_missing'
               ELSE 'eligible'
           END AS outcome
      FROM mm_order o
      LEFT JOIN mm_learner l ON l.mm_user_id = o.user_id
      LEFT JOIN line_check lc ON lc.order_id = o.id
),
inserted AS (
    INSERT INTO ecommerce_order (
        created_on, updated_on, state, purchaser_id, total_price_paid, reference_number,
        gateway_type
    )
    SELECT created_at, modified_at, status, purchaser_id, total_price_paid, reference_number,
           'CyberSource'
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
    RETURNING id AS target_id, md5(ecommerce_order::text) AS row_hash, reference_number
)
