"""The inventory service: stock per product (reservations come with the checkout saga)."""
