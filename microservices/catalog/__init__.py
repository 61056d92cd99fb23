"""The catalog service: categories and products (no stock - that is inventory's)."""
