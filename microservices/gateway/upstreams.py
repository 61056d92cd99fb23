"""The services the gateway calls, and where to find them."""

from microservices.common.upstreams import Upstream, Upstreams, app_upstreams

TARGETS = {
    # A login runs one scrypt (~0.12 s of CPU): a container held to 0.05 CPU needs ~2.4 s
    # for it, and logins that arrive together share that quota: four at once were answered
    # in 6.1-8.5 s at 0.08 CPU on the engine, which scales to ~10-14 s at 0.05. So 30 s,
    # not 5: a login slowed by its service's CPU limit is slow, not a 503.
    "accounts": Upstream("ACCOUNTS_URL", 8101, read_timeout=30.0),
    "catalog": Upstream("CATALOG_URL", 8102),
    "inventory": Upstream("INVENTORY_URL", 8103),
    # A checkout runs orders' whole saga (catalog, inventory, payments and the card
    # processor, each with its own timeout: 21 s at worst, orders/saga.py); its 503
    # answers are definite ("nothing was charged") and relayed to the client as they are.
    "orders": Upstream("ORDERS_URL", 8104, read_timeout=25.0, relayed_5xx=frozenset({503})),
    "payments": Upstream("PAYMENTS_URL", 8105),
    "invoices": Upstream("INVOICES_URL", 8106),
    "notifications": Upstream("NOTIFICATIONS_URL", 8107),
}


def upstreams() -> Upstreams:
    """The gateway's clients in this process."""
    return app_upstreams(TARGETS)
