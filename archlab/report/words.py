"""How the report and the console put figures into words: numbers with the digits they
deserve, and ratios that are stated as findings only when their interval excludes 1."""

# Said of every ratio whose 95% interval includes 1, or that has no interval: the repeats
# cannot tell the architectures apart, so it is never stated as a finding.
NOT_DISTINGUISHABLE = "not distinguishable in this run"
NOUNS = {"monolith": ("the monolith", "the monolith's", "its"),
         "microservices": ("the microservices", "the microservices'", "their")}


def noun(arch: str) -> tuple[str, str, str]:
    """An architecture as a subject, an owner and a pronoun: 'the monolith', 'the
    monolith's', 'its'."""
    return NOUNS.get(arch, (f"the {arch}", f"the {arch}'s", "its"))


def num(x: float | None, unit: str = "") -> str:
    """A figure with as many digits as it deserves: 1,234 / 56.7 / 8.90."""
    if x is None:
        return "-"
    text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"
    return f"{text} {unit}".rstrip()


def pct(rate: float | None) -> str:
    """A rate (0..1) in per cent with two decimals; '-' when there is none."""
    return "-" if rate is None else f"{100 * rate:.2f}%"


def distinguishable(r: dict | None) -> bool:
    """Whether a ratio's interval excludes 1: only then is it a finding."""
    return bool(r) and r.get("lo") is not None and (
        r["lo"] > 1 or (r.get("hi") is not None and r["hi"] < 1))


def ratio_ci(r: dict) -> str:
    """A ratio's interval: '95% CI 1.55–2.58x', or why there is none."""
    if r.get("lo") is None and r.get("hi") is None:
        return r.get("note") or "no interval: an architecture has a single repeat"
    if r.get("hi") is None:
        return f"95% CI from {r['lo']:.2f}x, no upper bound"
    return f"95% CI {r['lo']:.2f}–{r['hi']:.2f}x"


def ratio_text(r: dict | None) -> str:
    """'2.01x (95% CI 1.89–2.15x)', or 'not distinguishable in this run (0.46x, 95% CI
    0.21–1.13x)' when the interval includes 1 or there is none; '-' without a value."""
    if not r or r.get("value") is None:
        return "-"
    if distinguishable(r):
        return f"{r['value']:.2f}x ({ratio_ci(r)})"
    return f"{NOT_DISTINGUISHABLE} ({r['value']:.2f}x, {ratio_ci(r)})"


def invert(r: dict) -> dict:
    """b/a from a/b: the value and the bracket flip (an unbounded end becomes 0)."""
    return {"value": 1 / r["value"] if r["value"] else None,
            "lo": (1 / r["hi"] if r["hi"] else 0.0) if r["lo"] is not None else None,
            "hi": 1 / r["lo"] if r["lo"] else None, "bounded": r["bounded"]} | (
                {"note": r["note"]} if r.get("note") else {})


def floor_share(row: dict) -> float:
    """A calibration row's share of its floor as shown beside its interval: the geometric
    mean of the per-round app/floor ratios, which the interval is centred on; the ratio of
    the medians where no per-round ratios were kept (an older file, a single round)."""
    gmean = row.get("rps_ratio_gmean")
    return gmean if gmean is not None else row["rps_ratio"]
