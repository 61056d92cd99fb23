-- The card processor's own database: one row per charge reference. The reference is
-- the merchant's idempotency key, so it is the primary key: a replayed charge finds its
-- row instead of charging again. A 'voided' row with amount 0 is a tombstone left by a
-- refund of a reference never charged, so that a charge still in flight captures nothing.

CREATE TABLE IF NOT EXISTS charges (
    reference     text PRIMARY KEY,
    amount_cents  bigint NOT NULL CHECK (amount_cents >= 0),
    card_last4    text NOT NULL,
    status        text NOT NULL
                  CHECK (status IN ('captured', 'declined', 'refunded', 'voided')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
