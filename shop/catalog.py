"""The catalogue's vocabulary: categories and the product record."""

from dataclasses import dataclass

# (slug, display name); the slug is what URLs, the API and the database store.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("racks", "Racks"),
    ("servers", "Servers"),
    ("switches", "Switches"),
    ("routers", "Routers"),
    ("storage", "Storage"),
    ("ups", "UPS units"),
    ("cables", "Cables"),
    ("cooling", "Cooling"),
)


@dataclass(frozen=True)
class Product:
    """A product as sold; `category` is a slug from CATEGORIES, price is net cents."""

    id: int
    sku: str
    name: str
    category: str
    description: str
    price_cents: int
    initial_stock: int
