"""The inventory service: stock per product, and the reservations the checkout saga
holds, commits and releases (each idempotent by order id)."""
