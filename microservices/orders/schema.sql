-- The orders service's own database: orders with their lines, the public idempotency
-- keys (one order per customer and key), and the state of each order's checkout saga.
-- Products, stock and payments live in other services' databases: no foreign keys.

CREATE TABLE IF NOT EXISTS orders (
    id              bigserial PRIMARY KEY,
    customer_id     integer NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    status          text NOT NULL CHECK (status IN ('PENDING', 'PAID', 'FAILED')),
    -- The saga step recorded before it is called: reserve -> charge -> commit -> done,
    -- or release -> done on the way to FAILED.
    step            text NOT NULL CHECK (step IN ('reserve', 'charge', 'commit', 'release',
                                                  'done')),
    -- Who drives the saga: the request that created the order, or, after the deadline,
    -- the recovery loop. The request stops at its next step once recovery took over.
    owner           text NOT NULL DEFAULT 'request' CHECK (owner IN ('request', 'recovery')),
    deadline        timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    subtotal_cents  bigint NOT NULL,
    vat_cents       bigint NOT NULL,
    total_cents     bigint NOT NULL,
    card_last4      text NOT NULL,
    -- The final answer replayed for the key (201, 402 or 409); only final outcomes.
    answer_status   integer,
    answer          jsonb,
    UNIQUE (customer_id, idempotency_key),
    CHECK ((status = 'PENDING') = (answer_status IS NULL))
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id, id DESC);
CREATE INDEX IF NOT EXISTS orders_pending ON orders (deadline) WHERE status = 'PENDING';
CREATE INDEX IF NOT EXISTS orders_commit_pending ON orders (updated_at)
    WHERE status = 'PAID' AND step = 'commit';

CREATE TABLE IF NOT EXISTS order_lines (
    order_id         bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       integer NOT NULL,
    sku              text NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_price_cents integer NOT NULL,
    line_total_cents bigint NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- The outbox: an event written in the same transaction as the change it announces (an
-- order becoming PAID), delivered by the relay in the orders worker until its consumer
-- acknowledges it. Consumers are idempotent, so a redelivery changes nothing.
CREATE TABLE IF NOT EXISTS outbox (
    id              bigserial PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    topic           text NOT NULL CHECK (topic IN ('order_paid')),
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    UNIQUE (order_id, topic)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
