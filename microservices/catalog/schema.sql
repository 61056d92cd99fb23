-- The catalog service's own database: categories and products, with the same
-- columns, generated search vector and indexes as the monolith's (stock lives in
-- the inventory service).

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
