"""The payments service: one card payment per order, charged at the external card processor,
every operation idempotent by order id."""
