"""The stock a benchmark run that buys gets after its reseed (archlab/bench/restock.py)."""

from pathlib import Path

import pytest

from archlab import experiment
from archlab.bench.restock import (
    MAX_UNITS_PER_PRODUCT,
    MIN_CHECKOUT_SECONDS,
    peak_users,
    restock_level,
)
from archlab.config import project_root
from archlab.experiment import Experiment
from loadtests import shapes
from shop.seed import STOCK_UNITS

BUYERS = Experiment(
    name="t", path=Path("experiments/t.yaml"), personas={"BrowserUser": 3, "BuyerUser": 1},
    users=10, spawn_rate=10, warmup_s=5, duration_s=15, repeats=1,
    architectures=("monolith", "microservices"), wait_s=(0.5, 1.5))


def with_(**changes) -> Experiment:
    return Experiment(**{**BUYERS.__dict__, **changes})


def test_a_browsing_run_keeps_the_seeded_stock():
    assert restock_level(with_(personas={"BrowserUser": 1})) is None


@pytest.mark.parametrize("persona", ["BuyerUser", "CheckoutUser", "AccountHolderUser"])
def test_every_persona_that_buys_gets_a_restock(persona):
    assert restock_level(with_(personas={persona: 1})) is not None


def test_with_think_time_a_user_checks_out_at_most_once_per_minimum_wait():
    # 10 users x (20 s / 0.5 s + the first task) x 3 units of one product each time.
    assert restock_level(BUYERS) == 10 * (40 + 1) * MAX_UNITS_PER_PRODUCT == 1230


def test_in_a_closed_loop_a_checkout_takes_at_least_the_floor():
    closed = with_(wait_s=(0.0, 0.0), users=16, warmup_s=5, duration_s=20)
    assert MIN_CHECKOUT_SECONDS == 0.01
    assert restock_level(closed) == 16 * (2500 + 1) * 3


def test_the_level_grows_with_users_and_seconds():
    level = restock_level(BUYERS)
    assert restock_level(with_(users=20)) == 2 * level
    assert restock_level(with_(duration_s=35)) > level


def test_a_shape_is_sized_by_its_peak():
    spiky = with_(shape="spike", duration_s=shapes.total_seconds(shapes.SHAPES["spike"]))
    assert peak_users(spiky) == 120
    # 120 users x (35 s / 0.5 s + 1) x 3
    assert restock_level(spiky) == 120 * (70 + 1) * 3


def test_the_project_experiments_that_buy_get_more_than_the_shelf():
    for path in sorted((project_root() / "experiments").glob("*.yaml")):
        loaded = experiment.load(path)
        level = restock_level(loaded)
        if level is not None:
            assert level > STOCK_UNITS[1], path
    assert restock_level(experiment.load("experiments/checkout.yaml")) == 120_048
    assert restock_level(experiment.load("experiments/buyers.yaml")) == 9_180
    assert restock_level(experiment.load("experiments/baseline.yaml")) is None
