"""The audit: the business invariants (docs/checkout.md), judged from a stack's raw figures.

`/api/admin/audit` answers raw figures (the same shape on both architectures); this
module turns them into verdicts. Some invariants hold at every moment; others only
once the stack has settled - after recovery, with no checkout in flight - and are
judged only when `settled` is true.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """One invariant's verdict: which, whether it holds, and the figures that say so."""

    number: int
    name: str
    holds: bool
    detail: str


def _stock(figures: dict, settled: bool) -> Verdict:
    broken = [s["product_id"] for s in figures["stock"]
              if s["initial"] != s["available"] + s["reserved"] + s["sold"]
              or min(s["available"], s["reserved"], s["sold"]) < 0]
    sold = sum(s["sold"] for s in figures["stock"])
    reserved = sum(s["reserved"] for s in figures["stock"])
    paid_units = figures["orders"]["paid_units"]
    problems = []
    if broken:
        problems.append(f"initial != available + reserved + sold for products {broken[:10]}")
    if settled and sold != paid_units:
        problems.append(f"{sold} units sold but PAID orders hold {paid_units}")
    held = figures["reservations"]["held_units"]
    if reserved != held:
        problems.append(f"{reserved} units reserved in stock but reservations hold {held}")
    return Verdict(1, "stock conserved", not problems,
                   "; ".join(problems) or f"{len(figures['stock'])} products balance; "
                   f"{sold} units sold, {reserved} reserved")


def _payments(figures: dict, settled: bool) -> Verdict:
    pay, proc = figures["payments"], figures["processor"]
    problems = []
    if pay["paid_orders_not_matched"]:
        problems.append(f"{pay['paid_orders_not_matched']} PAID orders without exactly one "
                        "captured payment of their total")
    if pay["without_order"]:
        problems.append(f"{pay['without_order']} captured payments without a PAID order")
    if settled:
        if proc["captures_without_payment"]:
            problems.append(f"{proc['captures_without_payment']} captures at the processor "
                            "that no payment accounts for")
        if proc["payments_without_capture"]:
            problems.append(f"{proc['payments_without_capture']} payments the processor "
                            "does not hold as captured")
        if proc["captures"] != figures["orders"]["PAID"]:
            problems.append(f"{proc['captures']} captures at the processor for "
                            f"{figures['orders']['PAID']} PAID orders")
    return Verdict(2, "one capture per PAID order", not problems,
                   "; ".join(problems) or f"{pay['captured']} captured payments match "
                   f"{figures['orders']['PAID']} PAID orders and the processor's record")


def stuck(figures: dict) -> list[dict]:
    """The undecided checkouts recovery has tried and not decided within its bound: what
    it asks (the card processor, say) has stayed unreachable for longer."""
    undecided = figures["undecided"]
    return [item for item in undecided["items"]
            if item["attempts"] and item["age_seconds"] > undecided["bound_seconds"]]


def _describe(item: dict) -> str:
    return (f"{item['kind'].replace('_', ' ')} {item['id']} ({item['age_seconds']:.0f} s, "
            f"{item['attempts']} attempts: {item['last_error'] or 'no error kept'})")


def _recovered(figures: dict, settled: bool) -> Verdict:
    res = figures["reservations"]
    pending = figures["orders"]["PENDING"]
    undecided = figures["undecided"]
    problems = []
    late = stuck(figures)
    if late:
        listed = "; ".join(_describe(item) for item in late[:3])
        more = f" and {len(late) - 3} more" if len(late) > 3 else ""
        problems.append(f"{len(late)} checkouts undecided past the "
                        f"{undecided['bound_seconds']:.0f} s bound: {listed}{more}")
    if settled and pending:
        problems.append(f"{pending} orders still PENDING")
    if settled and undecided["count"] and not late:
        problems.append(f"{undecided['count']} checkouts recovery has not decided")
    if settled and res["held"]:
        problems.append(f"{res['held']} reservations still hold stock, "
                        f"{res['held_for_final_orders']} of them for decided orders")
    return Verdict(3, "nothing left undecided", not problems,
                   "; ".join(problems) or (
                       "no PENDING order, no stock held, no charge unsettled" if settled
                       else f"{undecided['count']} checkouts in recovery, none past its "
                            f"{undecided['bound_seconds']:.0f} s bound"))


def _keys(figures: dict, settled: bool) -> Verdict:
    keys, paid = figures["idempotency"], figures["orders"]["PAID"]
    problems = []
    if keys["orders_without_key"]:
        problems.append(f"{keys['orders_without_key']} orders no accepted key accounts for")
    if keys["keys_with_order"] != paid:
        problems.append(f"{keys['keys_with_order']} keys answered with an order for {paid} "
                        "PAID orders")
    return Verdict(4, "one order per key", not problems,
                   "; ".join(problems) or f"{keys['keys']} keys with final answers, "
                   f"{keys['keys_with_order']} of them an order")


def _invoices(figures: dict, settled: bool) -> Verdict:
    inv = figures["invoices"]
    problems = []
    if inv["duplicate_deliveries"]:
        problems.append(f"{inv['duplicate_deliveries']} invoices delivered more than once")
    if settled and inv["paid_orders_without_invoice"]:
        problems.append(f"{inv['paid_orders_without_invoice']} PAID orders without an invoice")
    if settled and inv["pending"]:
        problems.append(f"{inv['pending']} invoices still pending")
    return Verdict(5, "every invoice delivered once", not problems,
                   "; ".join(problems) or f"{inv['printed']} printed, {inv['emailed']} e-mailed")


def verdicts(figures: dict, *, settled: bool = True, invoices: bool = True) -> list[Verdict]:
    """The verdict of each invariant on these figures. `invoices`: judge invariant 5
    (an architecture that does not deliver invoices yet is not judged on them)."""
    checks = [_stock, _payments, _recovered, _keys] + ([_invoices] if invoices else [])
    return [check(figures, settled) for check in checks]


def violations(figures: dict, **kw) -> list[Verdict]:
    """The verdicts that do not hold."""
    return [v for v in verdicts(figures, **kw) if not v.holds]
