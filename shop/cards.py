"""Card rules and a fake in-process card processor (no real money ever moves)."""

import datetime
import enum
import re
from dataclasses import dataclass
from typing import Any

from shop.errors import ValidationError
from shop.numbers import whole_number


class Outcome(enum.StrEnum):
    """What the card processor answered."""

    APPROVED = "approved"
    DECLINED = "declined"
    PROCESSOR_ERROR = "processor_error"


# Magic numbers with a fixed answer, as real processors' sandboxes offer; all are
# Luhn-valid. Any other card that passes parse_card is approved.
TEST_CARDS: dict[str, Outcome] = {
    "4242424242424242": Outcome.APPROVED,
    "4000000000000002": Outcome.DECLINED,
    "4000000000000119": Outcome.PROCESSOR_ERROR,
}

# Approved, but the card processor answers only after its "late" delay, longer than a
# merchant's timeout: the charge is captured while the caller gives up, the unknown
# outcome that recovery must resolve without guessing. A test card, not shown to shoppers.
LATE_ANSWER_CARD = "4000000000000259"

_CARD_KEYS = ("number", "exp_month", "exp_year", "cvc", "holder")
_NUMBER = re.compile(r"[0-9]{12,19}")
_CVC = re.compile(r"[0-9]{3,4}")
_HOLDER_MAX = 100


@dataclass(frozen=True)
class Card:
    """A validated card; `number` holds digits only, `holder` is stripped."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str
    holder: str


def luhn_valid(number: str) -> bool:
    """Return True if a string of ASCII digits passes the Luhn checksum."""
    if not number or not number.isascii() or not number.isdigit():
        return False
    total = 0
    # From the right, every second digit is doubled; a two-digit result counts as its
    # digit sum, which for 10..18 is the value minus 9.
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(message, {"field": f"card.{field}"})


def parse_card(raw: Any, today: datetime.date) -> Card:
    """Validate untrusted decoded JSON as a card that is still valid on `today`.

    Raises ValidationError with details {"field": "card.<name>"} on the first problem.
    """
    if not isinstance(raw, dict):
        raise ValidationError("card must be an object", {"field": "card"})
    for key in _CARD_KEYS:
        if key not in raw:
            raise _invalid(key, f"card.{key} is required")
    extra = sorted(str(key) for key in raw.keys() - set(_CARD_KEYS))
    if extra:
        raise _invalid(extra[0], f"card has unknown field(s) {', '.join(extra)}")

    number = raw["number"]
    if not isinstance(number, str):
        raise _invalid("number", "card number must be a string")
    # People type card numbers in groups; the separators carry no meaning.
    number = number.replace(" ", "").replace("-", "")
    if not _NUMBER.fullmatch(number):
        raise _invalid("number", "card number must have 12 to 19 digits")
    if not luhn_valid(number):
        raise _invalid("number", "card number fails the Luhn check")

    exp_month = whole_number(raw["exp_month"])
    if exp_month is None or not 1 <= exp_month <= 12:
        raise _invalid("exp_month", "card expiry month must be an integer from 1 to 12")
    exp_year = whole_number(raw["exp_year"])
    if exp_year is None or not 1000 <= exp_year <= 9999:
        raise _invalid("exp_year", "card expiry year must be a 4-digit integer")

    cvc = raw["cvc"]
    if not isinstance(cvc, str) or not _CVC.fullmatch(cvc):
        raise _invalid("cvc", "card cvc must be a string of 3 or 4 digits")

    holder = raw["holder"]
    if not isinstance(holder, str) or not 1 <= len(holder.strip()) <= _HOLDER_MAX:
        raise _invalid("holder", f"card holder must be 1 to {_HOLDER_MAX} characters")

    # A card is valid through the last day of its expiry month.
    if (exp_year, exp_month) < (today.year, today.month):
        raise _invalid("exp_year" if exp_year < today.year else "exp_month", "card expired")

    return Card(
        number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc, holder=holder.strip()
    )


def authorize(card: Card, amount_cents: int) -> Outcome:
    """The card processor's rule: the answer depends on the card number only."""
    # amount_cents is part of the call so callers are written as for a real processor.
    return TEST_CARDS.get(card.number, Outcome.APPROVED)


def mask(number: str) -> str:
    """Show only the last four digits: "4242 4242 4242 4242" -> "•••• 4242"."""
    digits = "".join(char for char in number if char.isdigit())
    return f"•••• {digits[-4:]}"
