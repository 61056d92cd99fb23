-- The payments service's own database: one payment per order. order_id names an order of
-- the orders service, which lives in another database, so there is no foreign key.
-- reference is the merchant's reference at the card processor (rackshop-order-<order id>):
-- one per order, so a charge driven again is the same charge there, never a second one.
--
-- A row is written before the processor is called ('charging'), so a charge whose answer
-- is lost can be looked up later. 'failed' means the processor said nothing was charged;
-- 'void' is a cancelled payment (a tombstone when no charge came first, amount 0), which
-- this service never charges again.

CREATE TABLE IF NOT EXISTS payments (
    order_id      bigint PRIMARY KEY,
    reference     text NOT NULL UNIQUE,
    amount_cents  bigint NOT NULL CHECK (amount_cents >= 0),
    card_last4    text NOT NULL DEFAULT '',
    status        text NOT NULL
                  CHECK (status IN ('charging', 'captured', 'declined', 'failed', 'void',
                                    'refunded')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
