-- The invoices service's own database: one invoice per paid order, and the print spool
-- (the lab's stand-in for paper). order_id and customer_id name rows of the orders and
-- accounts services, which live in other databases: no foreign keys to them.
--
-- An invoice holds everything it shows, copied from the "order paid" event and the
-- customer's record when it was created, so rendering it never calls another service.
-- 'pending' invoices are retried from next_attempt_at on (the worker); 'printed' and
-- 'emailed' ones are delivered and never delivered again.

CREATE TABLE IF NOT EXISTS invoices (
    order_id        bigint PRIMARY KEY,
    customer_id     integer NOT NULL,
    customer_email  text NOT NULL,
    customer_name   text NOT NULL,
    -- The order's created_at: the invoice's date and the year in its number.
    placed_at       timestamptz NOT NULL,
    -- The order's lines as the public OrderLine (product_id, sku, name, quantity,
    -- unit_price_cents, line_total_cents).
    lines           jsonb NOT NULL,
    subtotal_cents  bigint NOT NULL,
    vat_cents       bigint NOT NULL,
    total_cents     bigint NOT NULL,
    card_last4      text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'printed', 'emailed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- When it was printed or e-mailed as its delivery.
    delivered_at    timestamptz,
    -- When it was last e-mailed: as the delivery, or a copy on the customer's request.
    emailed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS invoices_pending ON invoices (next_attempt_at)
    WHERE status = 'pending';

-- What the printer received.
CREATE TABLE IF NOT EXISTS print_spool (
    id         bigserial PRIMARY KEY,
    order_id   bigint NOT NULL REFERENCES invoices (order_id),
    document   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS print_spool_order ON print_spool (order_id);
