-- The notifications service's own database: the shop's outgoing mailbox. Nothing leaves
-- the machine: a message "sent" is a row here, and a customer's e-mail page lists them.
-- customer_id and order_id name a customer (accounts) and an order (orders) that live in
-- other databases, so there are no foreign keys.
--
-- key is the sender's idempotency key: a message is stored once per key, so a sender that
-- delivers again (after a timeout, from a retried outbox event) changes nothing.
-- kind 'invoice' is an order's invoice e-mailed because printing failed - the delivery
-- the audit counts per order, so it always names its order; 'invoice_copy' is a copy
-- the customer asked for.

CREATE TABLE IF NOT EXISTS messages (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    customer_id integer NOT NULL,
    order_id    bigint NULL,
    kind        text NOT NULL CHECK (kind IN ('invoice', 'invoice_copy')),
    recipient   text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'invoice' OR order_id IS NOT NULL)
);

-- A customer's mailbox, newest first.
CREATE INDEX IF NOT EXISTS messages_customer ON messages (customer_id, id DESC);
-- The audit's invoice deliveries per order.
CREATE INDEX IF NOT EXISTS messages_invoice_order ON messages (order_id) WHERE kind = 'invoice';
