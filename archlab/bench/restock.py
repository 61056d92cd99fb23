"""How much stock a run that buys needs, so a benchmark never sells out by accident.

The seed keeps shelf stock (tens to hundreds of units per product, shop.seed). After the
reseed of every repeat, a run whose personas check out has every product restocked to
one level, sized to the experiment by a bound rather than an estimate:

    level = peak users x (checkouts per user in warm-up + measured run) x units per product

- a checkout buys at most MAX_UNITS_PER_PRODUCT units of one product (the locustfile's
  checkout: 1-3 distinct products, 1-3 units each);
- a user checks out at most once per task, and waits at least its minimum think time
  between tasks; in a closed loop (no think time) a checkout is taken to last at least
  MIN_CHECKOUT_SECONDS, plus one task before the first wait. That floor is an
  assumption, far below any checkout measured here (p50 150 ms on the monolith with the
  card processor's 30 ms; experiments/checkout.yaml); the bound's real margin lies in
  taking every checkout to buy the same product.

An open loop's bound: every arrival of the warm-up and the measured run (one task each)
checks out, all of them the same product.

The margin is in the bound itself: it assumes every checkout of every user buys the
same product, as many units as it can, as fast as it can. A browsing-only run keeps the
seeded stock (its level is None).
"""

import math

from archlab.experiment import Experiment, persona_buys
from loadtests import shapes

MAX_UNITS_PER_PRODUCT = 3
MIN_CHECKOUT_SECONDS = 0.01


def buys(experiment: Experiment) -> bool:
    """Whether any of the experiment's personas checks out."""
    return any(persona_buys(persona) for persona in experiment.personas)


def peak_users(experiment: Experiment) -> int:
    """The most users that run at once: the shape's largest stage, else `users`."""
    if experiment.shape is not None:
        return max(stage.users for stage in shapes.SHAPES[experiment.shape])
    return experiment.users


def restock_level(experiment: Experiment) -> int | None:
    """The available stock every product gets before a run that buys (see the module's
    rule); None for a run that does not buy."""
    if not buys(experiment):
        return None
    if experiment.users is None:
        # An open loop: every arrival runs one task, so checks out at most once.
        first_rps = experiment.arrival_steps[0][0]
        arrivals = first_rps * experiment.warmup_s + sum(
            rps * seconds for rps, seconds in experiment.arrival_steps)
        return (math.ceil(arrivals) + 1) * MAX_UNITS_PER_PRODUCT
    seconds = experiment.warmup_s + experiment.duration_s
    per_checkout = max(experiment.wait_s[0], MIN_CHECKOUT_SECONDS)
    checkouts_per_user = math.ceil(seconds / per_checkout) + 1
    return peak_users(experiment) * checkouts_per_user * MAX_UNITS_PER_PRODUCT
