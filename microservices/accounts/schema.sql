-- The accounts service's own database: the customers, as in the monolith's.

CREATE TABLE IF NOT EXISTS customers (
    id            integer PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    password_hash text NOT NULL
);
