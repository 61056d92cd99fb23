-- The inventory service's own database: stock per product. product_id names a
-- product of the catalog service, which lives in another database, so there is no
-- foreign key. Units move available -> reserved -> sold in the checkout saga; the
-- invariant initial = available + reserved + sold is a constraint the database enforces.

CREATE TABLE IF NOT EXISTS stock (
    product_id  integer PRIMARY KEY,
    initial     bigint NOT NULL,
    available   bigint NOT NULL CHECK (available >= 0),
    reserved    bigint NOT NULL CHECK (reserved >= 0),
    sold        bigint NOT NULL CHECK (sold >= 0),
    CHECK (initial = available + reserved + sold)
);

-- Reservations for the checkout saga, one per order (order_id names an order of the
-- orders service: no foreign key). The row is the idempotency record of every step:
-- a replayed reserve, commit or release finds it and changes nothing. A release that
-- comes first leaves a 'released' tombstone, so a reserve still in flight holds nothing;
-- an 'out_of_stock' row keeps the refusal (and which products were short) for replays.
CREATE TABLE IF NOT EXISTS reservations (
    order_id           bigint PRIMARY KEY,
    status             text NOT NULL
                       CHECK (status IN ('reserved', 'committed', 'released', 'out_of_stock')),
    short_product_ids  integer[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Stock held for undecided orders, oldest first: what recovery and the audit look at.
CREATE INDEX IF NOT EXISTS reservations_held_created_at
    ON reservations (created_at) WHERE status = 'reserved';

-- The units a reservation holds per product; they stay after a commit or release so
-- the reservation still says what it moved.
CREATE TABLE IF NOT EXISTS reservation_lines (
    order_id    bigint NOT NULL REFERENCES reservations,
    product_id  integer NOT NULL,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    PRIMARY KEY (order_id, product_id)
);
