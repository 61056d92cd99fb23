"""The orders service: orders, the public idempotency keys, and the checkout saga across
inventory and payments (saga.py), finished by a recovery loop in its worker process."""
