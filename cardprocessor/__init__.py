"""The card processor simulator: the external payment processor both architectures call.

It stands in for a real processor's sandbox (think Stripe's): a small Flask app with
its own PostgreSQL database, served by gunicorn as `cardprocessor.wsgi:app`, outside
both builds, so each pays the same price for a payment. `cardprocessor.client` is the
client both use; no auth (a loopback sandbox).

HTTP API (answers are JSON; a charge record is {"reference", "status", "amount_cents",
"card_last4", "created_at"}, status "captured", "declined", "refunded" or "voided"):

- `POST /v1/charges` {"reference", "amount_cents", "card": {number, exp_month, exp_year,
  cvc, holder}} -> 200 record. Idempotent by reference: a replay with the same amount
  answers the first record and charges nothing more; another amount is 422
  `reference_reused`; a voided reference is answered "voided" (nothing captured).
  422 `validation_error` for a malformed body or card, 503 `processor_error` (nothing
  recorded, nothing charged).
- `POST /v1/charges/{reference}/refund` -> 200 record: captured -> refunded; declined,
  refunded and voided stay as they are; an unknown reference is recorded "voided" (a
  tombstone, amount 0), so a charge request with it still in flight captures nothing.
- `GET /v1/charges/{reference}` -> 200 record, or 404 `not_found`.
- `GET /v1/charges` -> 200 {"items": [every record, oldest first]}, for audits.
- `GET /healthz`, `GET /readyz` (503 while its database does not answer).

Every charge and refund answers after CARD_PROCESSOR_LATENCY_MS (default 30 ms), the
processor's network and processing time, the same for both architectures.

Test cards (the rules of `shop.cards.authorize`): 4242 4242 4242 4242 is approved,
4000 0000 0000 0002 declined, 4000 0000 0000 0119 a processor error, any other valid card
approved. 4000 0000 0000 0259 (`shop.cards.LATE_ANSWER_CARD`) is approved and captured at
once, but its first answer comes only after CARD_PROCESSOR_LATE_SECONDS (default 6 s),
past a merchant's timeout: the unknown outcome a merchant must resolve by looking the
reference up. A replay of it is answered at once.
"""
