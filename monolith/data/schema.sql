-- The monolith's one database. Every table the shop needs lives here, so checkout
-- is one ACID transaction: stock, order, payment, idempotency key and invoice.

CREATE TABLE IF NOT EXISTS categories (
    slug        text PRIMARY KEY,
    name        text NOT NULL,
    position    integer NOT NULL
);

CREATE TABLE IF NOT EXISTS products (
    id          integer PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    category    text NOT NULL REFERENCES categories (slug),
    description text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    -- Weighted for relevance ranking (ts_rank in shopdata/catalog.py): the category
    -- slug first (the english config stems "racks" to "rack", as in a query), then the
    -- name, the description, the SKU.
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', category), 'A')
                    || setweight(to_tsvector('english', name), 'B')
                    || setweight(to_tsvector('english', description), 'C')
                    || setweight(to_tsvector('english', sku), 'D')) STORED
);
CREATE INDEX IF NOT EXISTS products_category_id ON products (category, id);
CREATE INDEX IF NOT EXISTS products_search ON products USING gin (search);

-- The monolith never reserves (its checkout is one transaction), so the stock
-- invariant initial = available + sold is a constraint the database enforces.
CREATE TABLE IF NOT EXISTS stock (
    product_id  integer PRIMARY KEY REFERENCES products (id),
    initial     bigint NOT NULL,
    available   bigint NOT NULL CHECK (available >= 0),
    sold        bigint NOT NULL CHECK (sold >= 0),
    CHECK (initial = available + sold)
);

CREATE TABLE IF NOT EXISTS customers (
    id            integer PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    password_hash text NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    id             bigserial PRIMARY KEY,
    customer_id    integer NOT NULL REFERENCES customers (id),
    status         text NOT NULL CHECK (status IN ('PENDING', 'PAID', 'FAILED')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    subtotal_cents bigint NOT NULL,
    vat_cents      bigint NOT NULL,
    total_cents    bigint NOT NULL,
    card_last4     text NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id, id DESC);

CREATE TABLE IF NOT EXISTS order_lines (
    order_id         bigint NOT NULL REFERENCES orders (id),
    product_id       integer NOT NULL REFERENCES products (id),
    sku              text NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_price_cents integer NOT NULL,
    line_total_cents bigint NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- `reference` is the charge's merchant reference at the card processor: the audit
-- reconciles the two records by it.
CREATE TABLE IF NOT EXISTS payments (
    id           bigserial PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES orders (id),
    status       text NOT NULL CHECK (status IN ('captured')),
    amount_cents bigint NOT NULL,
    card_last4   text NOT NULL,
    reference    text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_order ON payments (order_id);

-- One row per charge the checkout sends to the card processor, committed before the
-- charge goes out and locked by the checkout's transaction while it runs. A capture is
-- either committed with its order ('captured', order_id) or, when that transaction
-- never commits (a timeout, a crash), the row stays 'started' and the worker settles it
-- at the processor: refunds the capture, or leaves a tombstone ('void').
CREATE TABLE IF NOT EXISTS charge_attempts (
    reference   text PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    status      text NOT NULL
                CHECK (status IN ('started', 'captured', 'declined', 'refunded', 'void')),
    order_id    bigint REFERENCES orders (id),
    -- The worker's tries to settle an abandoned attempt, and why the last one failed.
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    -- Set when a worker claims the attempt as abandoned: a checkout that locks it later
    -- must not charge, and another worker takes it over once the lease has run out.
    lease_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS charge_attempts_started ON charge_attempts (created_at)
    WHERE status = 'started';

-- Keys are scoped per customer and written in the same transaction as the order;
-- only final outcomes are stored, so only final outcomes are replayed.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    customer_id  integer NOT NULL REFERENCES customers (id),
    key          text NOT NULL,
    request_hash text NOT NULL,
    status_code  integer NOT NULL,
    response     jsonb NOT NULL,
    order_id     bigint REFERENCES orders (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_order ON idempotency_keys (order_id);

CREATE TABLE IF NOT EXISTS invoices (
    order_id        bigint PRIMARY KEY REFERENCES orders (id),
    status          text NOT NULL CHECK (status IN ('pending', 'printed', 'emailed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    -- When it was last e-mailed: as the delivery, or on the customer's request (which
    -- leaves `status` as it is).
    emailed_at      timestamptz
);
CREATE INDEX IF NOT EXISTS invoices_pending ON invoices (next_attempt_at)
    WHERE status = 'pending';

-- What the printer and the mailer received: the lab's stand-ins for paper and SMTP.
-- The audit counts deliveries per order from these two tables, and the customer's
-- e-mails are read through their orders: both look rows up by order.
CREATE TABLE IF NOT EXISTS print_spool (
    id         bigserial PRIMARY KEY,
    order_id   bigint NOT NULL REFERENCES orders (id),
    document   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS print_spool_order ON print_spool (order_id);

-- `kind`: 'invoice' is the delivery (printing failed), 'invoice_copy' one the customer
-- asked for; only the first counts as delivering the invoice.
CREATE TABLE IF NOT EXISTS mailbox (
    id         bigserial PRIMARY KEY,
    order_id   bigint NOT NULL REFERENCES orders (id),
    kind       text NOT NULL CHECK (kind IN ('invoice', 'invoice_copy')),
    recipient  text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mailbox_order ON mailbox (order_id, created_at);
