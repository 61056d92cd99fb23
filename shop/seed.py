"""Deterministic seed data: the same 1,000 products and 100 customers everywhere.

Every generator draws from its own `random.Random(SEED)`, never the global `random`, so the
output is identical on every call, in every process and on every machine, and both
architectures start each experiment from byte-identical databases.

Every seeded customer logs in with the password LOADTEST_PASSWORD ("rackshop"); the load
generator relies on it.
"""

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

from shop.catalog import CATEGORIES, Product
from shop.passwords import hash_password

SEED = 20261125
PRODUCT_COUNT = 1000
CUSTOMER_COUNT = 100
LOADTEST_PASSWORD = "rackshop"

# Shelf stock as a shop keeps it: tens to hundreds of units per product, and about one
# product in LOW_STOCK_ONE_IN nearly sold out, so the pages show every stock state. A
# benchmark whose personas buy restocks every product to a level sized to its load
# (archlab.bench.restock), so a run never sells out by accident; tests that need more
# (or less) stock set it through the admin API.
STOCK_UNITS = (20, 400)
LOW_STOCK_UNITS = (1, 9)
LOW_STOCK_ONE_IN = 40


def _price(rng: random.Random, euros: int) -> int:
    # +/-10% jitter so products of one kind differ, then shop-style "x.99" in whole cents.
    return max(euros * rng.randint(90, 110) // 100, 1) * 100 - 1


def _model(rng: random.Random, letters: str) -> str:
    return f"{rng.choice(letters)}{rng.randint(100, 999)}"


def _rack(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Northwind", "Rackline", "Stahlwerk", "Keel"))
    height = rng.choice((12, 18, 24, 42, 47))
    kind = rng.choice(("Open Frame Rack", "Enclosed Server Rack", "Network Cabinet"))
    depth = rng.choice((600, 800, 1000, 1200))
    name = f"{brand} {height}U {kind}"
    description = (
        f"A {height}U 19-inch {kind.lower()}, {depth} mm deep, with adjustable mounting "
        f"rails. Ships flat-packed with cage nuts and levelling feet."
    )
    return name, description, _price(rng, height * 25 + depth // 4)


def _server(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Atlas", "Helix", "Corvid", "Meridian"))
    model = _model(rng, "RX")
    height = rng.choice((1, 2))
    sockets = rng.choice((1, 2))
    cores = rng.choice((8, 16, 24, 32))
    ram = rng.choice((64, 128, 256, 512))
    name = f"{brand} {model} {height}U Server, {sockets}x{cores}-core, {ram} GB"
    description = (
        f"A {height}U rack server with {sockets} {cores}-core CPU{'s' if sockets > 1 else ''} "
        f"and {ram} GB of ECC memory. Redundant power supplies and out-of-band management."
    )
    return name, description, _price(rng, 1500 + sockets * cores * 45 + ram * 6)


def _switch(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Kestrel", "Linkwell", "Meridian"))
    model = _model(rng, "SG")
    ports = rng.choice((8, 16, 24, 48))
    # (speed, euros per port): faster ports cost disproportionately more.
    speed, per_port = rng.choice((("1GbE", 9), ("10GbE", 45), ("25GbE", 95), ("100GbE", 380)))
    name = f"{brand} {model} {ports}-Port {speed} Managed Switch"
    description = (
        f"A rack-mountable managed switch with {ports} {speed} ports, VLANs and link "
        f"aggregation. Dual hot-swappable power supplies."
    )
    return name, description, _price(rng, 60 + ports * per_port)


def _router(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Vanta", "Oberon", "Edgepoint"))
    model = _model(rng, "ER")
    wan = rng.choice((2, 4, 8))
    gbps, euros = rng.choice(((1, 350), (10, 1900), (40, 6500)))
    name = f"{brand} {model} Edge Router, {wan}x WAN, {gbps} Gbps"
    description = (
        f"An edge router with {wan} WAN ports and {gbps} Gbps of routed throughput. "
        f"Supports BGP, OSPF and site-to-site VPN."
    )
    return name, description, _price(rng, euros + wan * 40)


def _storage(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Basalt", "Quarry", "Vaultline"))
    model = _model(rng, "NS")
    kind = rng.choice(("NAS", "SAN Array", "JBOD Enclosure"))
    bays = rng.choice((4, 8, 12, 24))
    drive_tb = rng.choice((4, 8, 16, 20))
    name = f"{brand} {model} {bays}-Bay {kind}, {bays * drive_tb} TB"
    description = (
        f"A {bays}-bay {kind} fitted with {drive_tb} TB enterprise drives. "
        f"Hot-swappable bays and dual controllers."
    )
    return name, description, _price(rng, 400 + bays * (60 + drive_tb * 18))


def _ups(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Voltline", "Steadfast", "Ampere"))
    model = _model(rng, "UP")
    va = rng.choice((1000, 1500, 2200, 3000, 6000, 10000))
    topology = rng.choice(("Line-Interactive", "Online Double-Conversion"))
    form = rng.choice(("Rack-Mount", "Tower"))
    name = f"{brand} {model} {va} VA {topology} UPS, {form}"
    description = (
        f"A {va} VA {topology.lower()} UPS in a {form.lower()} chassis. "
        f"Network management card and hot-swappable batteries."
    )
    online_surcharge = 2 if topology.startswith("Online") else 1
    return name, description, _price(rng, va * online_surcharge * 45 // 100)


def _cable(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Patchwell", "Copperline", "Lumen"))
    # (kind, base euros, euros per metre)
    kind, base, per_metre = rng.choice(
        (
            ("Cat6A Patch Cable", 3, 1),
            ("OM4 LC-LC Fibre Patch Cable", 8, 2),
            ("SFP+ DAC Twinax Cable", 18, 6),
            ("QSFP28 DAC Cable", 45, 15),
            ("IEC C13-C14 Power Cord", 4, 1),
        )
    )
    metres = rng.choice((1, 2, 3, 5))
    colour = rng.choice(("blue", "grey", "yellow", "black", "red"))
    name = f"{brand} {kind}, {metres} m, {colour}"
    description = f"A {metres} m {kind} in {colour}, tested and individually bagged."
    return name, description, _price(rng, base + metres * per_metre)


def _cooling(rng: random.Random) -> tuple[str, str, int]:
    brand = rng.choice(("Frostline", "Airflow", "Polar"))
    model = _model(rng, "CL")
    kind, euros = rng.choice(
        (
            ("Blanking Panel Kit", 40),
            ("Rack Fan Tray", 180),
            ("Rack Air Conditioner", 2400),
            ("In-Row Cooling Unit", 9500),
            ("Rear-Door Heat Exchanger", 7200),
        )
    )
    name = f"{brand} {model} {kind}"
    description = (
        f"{'An' if kind[0] in 'AEIOU' else 'A'} {kind} that keeps hot and cold aisles apart "
        "and inlet temperatures "
        f"within ASHRAE limits."
    )
    return name, description, _price(rng, euros)


# Per category: SKU prefix and the generator of (name, description, price_cents).
_MAKERS: dict[str, tuple[str, Callable[[random.Random], tuple[str, str, int]]]] = {
    "racks": ("RCK", _rack),
    "servers": ("SRV", _server),
    "switches": ("SWT", _switch),
    "routers": ("RTR", _router),
    "storage": ("STO", _storage),
    "ups": ("UPS", _ups),
    "cables": ("CBL", _cable),
    "cooling": ("COL", _cooling),
}


def _stock(rng: random.Random) -> int:
    low, high = LOW_STOCK_UNITS if rng.randrange(LOW_STOCK_ONE_IN) == 0 else STOCK_UNITS
    return rng.randint(low, high)


def generate_products(count: int = PRODUCT_COUNT) -> list[Product]:
    """Return `count` products with ids 1..count, round-robin over the categories."""
    return list(_products(count))


@functools.cache
def _products(count: int) -> tuple[Product, ...]:
    # Made once per process: a reseed loads products into several tables (and the
    # tests reseed before every test), and the result never changes.
    rng = random.Random(SEED)
    # Stock draws from a stream of its own, so the stock rule can change without
    # changing a single name or price.
    stock_rng = random.Random(f"{SEED}:stock")
    products = []
    for product_id in range(1, count + 1):
        category = CATEGORIES[(product_id - 1) % len(CATEGORIES)][0]
        prefix, make = _MAKERS[category]
        name, description, price_cents = make(rng)
        products.append(
            Product(
                id=product_id,
                # The id in the SKU makes every SKU unique without bookkeeping.
                sku=f"{prefix}-{product_id:05d}",
                name=name,
                category=category,
                description=description,
                price_cents=price_cents,
                initial_stock=_stock(stock_rng),
            )
        )
    return tuple(products)


@dataclass(frozen=True)
class Customer:
    """A seeded customer account."""

    id: int
    email: str
    name: str
    password_hash: str


_FIRST_NAMES = (
    "Anna", "Bram", "Chloé", "Daan", "Emma", "Finn", "Greta", "Hugo", "Ines", "Jonas",
    "Kaja", "Lars", "Mila", "Noah", "Olga", "Pieter", "Rosa", "Sven", "Tess", "Yusuf",
)  # fmt: skip
_LAST_NAMES = (
    "de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Peters",
    "Hendriks", "Dekker", "Kowalski", "Novak", "García", "Okafor", "Lindqvist", "Rossi",
)  # fmt: skip


@functools.cache
def _loadtest_password_hash() -> str:
    # One scrypt hash costs ~72 ms, so hashing per customer would add seconds to every
    # reseed. A salt fixed by SEED keeps the seed byte-identical across databases; it is a
    # known test password anyway, so a shared salt gives nothing away.
    return hash_password(LOADTEST_PASSWORD, salt=f"rackshop{SEED}")


def generate_customers(count: int = CUSTOMER_COUNT) -> list[Customer]:
    """Return `count` customers, ids 1..count, all with the password LOADTEST_PASSWORD."""
    rng = random.Random(SEED)
    password_hash = _loadtest_password_hash()
    return [
        Customer(
            id=customer_id,
            email=f"customer{customer_id}@rackshop.test",
            name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            password_hash=password_hash,
        )
        for customer_id in range(1, count + 1)
    ]
