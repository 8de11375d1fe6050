-- 006 order lines
-- Rule: one MITx Online line per MicroMasters line of an order imported by 005 (found by
-- reference_number), pointing at the latest reversion_version (highest id) of the run's
-- active product; quantity = 1; the purchased object is the run. The MicroMasters line
-- timestamps are kept. Two lines of one order for the same run become one line (the lowest
-- line id wins; the other is reported as superseded, on a rerun too).
-- A line of a learner whose mitxonline link is ambiguous is not imported, even when an
-- order with its reference number is in MITx Online (ambiguous_mitxonline_link). The step
-- copies no source value but the timestamps: nothing else to bound.
-- Writes: ecommerce_line
-- Source: ecommerce_line
-- Needs: 005
WITH courserun_type AS (
    SELECT id FROM django_content_type WHERE app_label = 'courses' AND model = 'courserun'
),
product_type AS (
    SELECT id FROM django_content_type WHERE app_label = 'ecommerce' AND model = 'product'
),
-- Each active run product with its latest version, found once per product by a grouped join
-- (a subquery per line ran once for every line, and again wherever its outcome was read).
product AS (
    SELECT p.id, p.object_id, max(v.id) AS version_id
      FROM ecommerce_product p
      LEFT JOIN reversion_version v
             ON v.content_type_id = (SELECT id FROM product_type) AND v.object_id = p.id::text
     WHERE p.is_active AND p.content_type_id = (SELECT id FROM courserun_type)
     GROUP BY p.id, p.object_id
),
line AS (
    SELECT li.id AS ref, li.*, l.ambiguous AS ambiguous_link, eo.id AS target_order_id,
           cr.id AS run_id, p.id AS product_id, p.version_id AS product_version_id
      FROM mm_line li
      JOIN mm_order o ON o.id = li.order_id
      LEFT JOIN mm_learner l ON l.mm_user_id = o.user_id
      LEFT JOIN ecommerce_order eo ON eo.reference_number = o.reference_number
      LEFT JOIN courses_courserun cr ON cr.courseware_id = li.course_key
      LEFT JOIN product p ON p.object_id = cr.id
),
classified AS (
    SELECT line.*,
           CASE
               WHEN ambiguous_link THEN 'ambiguous_mitxonline_link'
               WHEN target_order_id IS NULL THEN 'order_not_imported'
               WHEN run_id IS NULL THEN 'line_run_not_imported'
               WHEN product_id IS NULL THEN 'line_product_missing'
               WHEN product_version_id IS NULL THEN 'product_version_missing'
               ELSE 'eligible'
           END AS row_outcome
      FROM line
),
candidate AS (
    SELECT classified.*,
           CASE
               WHEN row_outcome <> 'eligible' THEN row_outcome
               WHEN row_number() OVER (PARTITION BY row_outcome, target_order_id, run_id ORDER BY ref) > 1
                   THEN 'superseded'
               WHEN EXISTS (SELECT 1 FROM ecommerce_line el
                             WHERE el.order_id = target_order_id
                               AND el.purchased_content_type_id = (SELECT id FROM courserun_type)
                               AND el.purchased_object_id = run_id) THEN 'already_present'
               ELSE 'eligible'
           END AS outcome
      FROM classified
),
inserted AS (
    INSERT INTO ecommerce_line (
        created_on, updated_on, order_id, product_version_id, quantity,
        purchased_content_type_id, purchased_object_id
    )
    SELECT created_at, modified_at, target_order_id, product_version_id, 1,
           (SELECT id FROM courserun_type), run_id
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(ecommerce_line::text) AS row_hash, order_id AS target_order_id, purchased_object_id AS run_id
)
