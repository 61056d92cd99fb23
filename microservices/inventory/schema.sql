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
