-- 007 transactions
-- Rule: one MITx Online transaction per MicroMasters receipt of an order imported by 005
-- (found by reference_number) that has data->>'transaction_id'. The type is `refund` for
-- refunded and partially_refunded orders, else `payment`; amount = the order's total;
-- reason = ''; data = the receipt; the receipt's timestamps are kept. This is how MITx
-- Online's already-imported orders were recorded; it is kept for consistency with them.
-- Receipts sharing one transaction id become one transaction (the lowest receipt id wins;
-- the others are reported as superseded, on a rerun too).
-- A receipt of a learner whose mitxonline link is ambiguous is not imported, even when an
-- order with its reference number is in MITx Online (ambiguous_mitxonline_link). Values are
-- checked before they land: the transaction id must fit transaction_id varchar(255)
-- (text_too_long), and the amount copied from the order must be a number, not negative
-- and below 10^15, what amount numeric(20,5) holds (invalid_amount).
-- Writes: ecommerce_transaction
-- Source: ecommerce_receipt
-- Needs: 005
WITH receipt AS (
    SELECT rc.id AS ref, rc.*, l.ambiguous AS ambiguous_link, eo.id AS target_order_id,
           eo.total_price_paid, eo.state
      FROM mm_receipt rc
      LEFT JOIN mm_order o ON o.id = rc.order_id
      LEFT JOIN mm_learner l ON l.mm_user_id = o.user_id
      LEFT JOIN ecommerce_order eo ON eo.reference_number = o.reference_number
),
classified AS (
    SELECT receipt.*,
           CASE
               WHEN order_id IS NULL THEN 'receipt_without_order'
               WHEN ambiguous_link THEN 'ambiguous_mitxonline_link'
               WHEN target_order_id IS NULL THEN 'order_not_imported'
               WHEN transaction_id IS NULL OR transaction_id = '' THEN 'receipt_without_transaction_id'
               WHEN char_length(transaction_id) > 255 THEN 'text_too_long'
               WHEN NOT coalesce(total_price_paid >= 0 AND total_price_paid < 1e15, false)
                   THEN 'invalid_amount'
               ELSE 'eligible'
           END AS row_outcome
      FROM receipt
),
candidate AS (
    SELECT classified.*,
           CASE
               WHEN row_outcome <> 'eligible' THEN row_outcome
               WHEN row_number() OVER (PARTITION BY row_outcome, transaction_id ORDER BY ref) > 1
                   THEN 'superseded'
               WHEN EXISTS (SELECT 1 FROM ecommerce_transaction t
                             WHERE t.transaction_id = classified.transaction_id)
               THEN CASE WHEN EXISTS (SELECT 1 FROM ecommerce_transaction t
                                       WHERE t.transaction_id = classified.transaction_id
                                         AND t.order_id = classified.target_order_id)
                         THEN 'already_present' ELSE 'conflict' END
               ELSE 'eligible'
           END AS outcome
      FROM classified
),
inserted AS (
    INSERT INTO ecommerce_transaction (
        created_on, updated_on, transaction_id, order_id, amount, data, transaction_type, reason
    )
    SELECT created_at, modified_at, transaction_id, target_order_id, total_price_paid, data,
           CASE WHEN state IN ('refunded', 'partially_refunded') THEN 'refund' ELSE 'payment' END,
           ''
      FROM candidate
     WHERE outcome = 'eligible'
     ORDER BY ref
        ON CONFLICT DO NOTHING
    RETURNING id AS target_id, md5(ecommerce_transaction::text) AS row_hash, transaction_id
)
