import datetime

import pytest

from shop.cards import (
    TEST_CARDS,
    Card,
    Outcome,
    authorize,
    luhn_valid,
    mask,
    parse_card,
)
from shop.errors import ValidationError

TODAY = datetime.date(2026, 11, 25)


def card(**changes):
    raw = {
        "number": "4242 4242 4242 4242",
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "123",
        "holder": "Ada Lovelace",
    }
    return {**raw, **changes}


def rejected_field(raw, today=TODAY):
    with pytest.raises(ValidationError) as caught:
        parse_card(raw, today)
    assert caught.value.code == "validation_error"
    return caught.value.details["field"]


@pytest.mark.parametrize(
    "number", [*TEST_CARDS, "5555555555554444", "378282246310005", "79927398713"]
)
def test_luhn_accepts_valid_numbers(number):
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "number", ["4242424242424241", "79927398710", "", "abc", "4242 4242 4242 4242", "٤٢"]
)
def test_luhn_rejects_invalid_numbers(number):
    assert not luhn_valid(number)


def test_parse_normalises_number_and_holder():
    parsed = parse_card(card(number="4242-4242 4242-4242", holder="  Ada  "), TODAY)
    assert parsed == Card("4242424242424242", 12, 2030, "123", "Ada")


def test_parse_accepts_boundaries():
    parse_card(card(number="0" * 12, cvc="1234", holder="x" * 100), TODAY)
    parse_card(card(number="0" * 19), TODAY)


@pytest.mark.parametrize("raw", [None, [], "4242424242424242", 42])
def test_rejects_a_non_object(raw):
    assert rejected_field(raw) == "card"


@pytest.mark.parametrize("key", ["number", "exp_month", "exp_year", "cvc", "holder"])
def test_rejects_a_missing_key(key):
    raw = card()
    del raw[key]
    assert rejected_field(raw) == f"card.{key}"


def test_rejects_an_extra_key():
    assert rejected_field(card(cvv="123")) == "card.cvv"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"number": 4242424242424242}, "card.number"),
        ({"number": "0" * 11}, "card.number"),
        ({"number": "0" * 20}, "card.number"),
        ({"number": "4242a24242424242"}, "card.number"),
        ({"number": "4242424242424241"}, "card.number"),
        ({"exp_month": 0}, "card.exp_month"),
        ({"exp_month": 13}, "card.exp_month"),
        ({"exp_month": True}, "card.exp_month"),
        ({"exp_month": "12"}, "card.exp_month"),
        ({"exp_year": 30}, "card.exp_year"),
        ({"exp_year": "2030"}, "card.exp_year"),
        ({"exp_year": 2030.5}, "card.exp_year"),
        ({"cvc": 123}, "card.cvc"),
        ({"cvc": "12"}, "card.cvc"),
        ({"cvc": "12345"}, "card.cvc"),
        ({"cvc": "12a"}, "card.cvc"),
        ({"holder": ""}, "card.holder"),
        ({"holder": "   "}, "card.holder"),
        ({"holder": "x" * 101}, "card.holder"),
        ({"holder": None}, "card.holder"),
    ],
)
def test_rejects_a_bad_field(changes, field):
    assert rejected_field(card(**changes)) == field


def test_luhn_failure_message():
    with pytest.raises(ValidationError, match="card number fails the Luhn check"):
        parse_card(card(number="4242424242424241"), TODAY)


@pytest.mark.parametrize(
    "today",
    [datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)],
)
def test_card_is_valid_through_its_expiry_month(today):
    parse_card(card(exp_month=11, exp_year=2026), today)


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "field"),
    [(10, 2026, "card.exp_month"), (12, 2025, "card.exp_year")],
)
def test_rejects_an_expired_card(exp_month, exp_year, field):
    with pytest.raises(ValidationError, match="card expired") as caught:
        parse_card(card(exp_month=exp_month, exp_year=exp_year), TODAY)
    assert caught.value.details == {"field": field}


def test_card_expires_the_day_after_its_month():
    assert rejected_field(card(exp_month=11, exp_year=2026), datetime.date(2026, 12, 1)) == (
        "card.exp_month"
    )


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("4242424242424242", Outcome.APPROVED),
        ("4000000000000002", Outcome.DECLINED),
        ("4000000000000119", Outcome.PROCESSOR_ERROR),
        ("5555555555554444", Outcome.APPROVED),
    ],
)
def test_authorize(number, outcome):
    assert authorize(parse_card(card(number=number), TODAY), 12_100) is outcome


def test_outcomes_are_strings():
    assert [str(o) for o in Outcome] == ["approved", "declined", "processor_error"]


@pytest.mark.parametrize("number", ["4242424242424242", "4242 4242 4242 4242", "4242"])
def test_mask(number):
    assert mask(number) == "•••• 4242"
