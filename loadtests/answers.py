"""What makes an answer degraded: a success the contract allows that leaves out part of
what was asked. Kept apart from the locustfile (which imports Locust and its gevent
patches) so the rules can be tested alone."""

# What the product page shows when the stock could not be read (webui/templates/_macros.html).
STOCK_UNKNOWN = "Stock unknown right now"


def product_degraded(body: dict) -> bool:
    """A product from the API whose stock is unknown (inventory did not answer in time)."""
    return (body.get("stock") or {}).get("available") is None


def page_degraded(html: str) -> bool:
    """A product page that shows its stock as unknown."""
    return STOCK_UNKNOWN in html
