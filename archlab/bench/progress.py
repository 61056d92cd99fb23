"""The bench's live progress line: one updating line per Locust run, fed by the growing
locust_stats_history.csv."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.text import Text


@contextmanager
def live_line(console: Console) -> Iterator[Callable[[str], None]]:
    """A function that shows one updating line; the last text stays when the block ends.
    Without a terminal only that last text is printed."""
    if not console.is_terminal:
        last = [""]

        def remember(text: str) -> None:
            last[0] = text

        yield remember
        console.print(last[0], highlight=False, soft_wrap=True)
        return
    with Live(console=console, auto_refresh=False, transient=False) as live:
        yield lambda text: live.update(Text(text, no_wrap=True, overflow="ellipsis"),
                                       refresh=True)


class HistoryTail:
    """The newest "Aggregated" rows of a growing locust_stats_history.csv."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.header: list[str] | None = None
        self.first: dict[str, str] | None = None
        self.rows: list[dict[str, str]] = []

    def read(self) -> "HistoryTail":
        """Take in the lines written since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return self
        # Only whole lines: Locust may be half-way through writing the last one.
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.decode().splitlines():
            fields = line.split(",")
            if self.header is None:
                self.header = fields
            elif len(fields) == len(self.header) and fields[3] == "Aggregated":
                row = dict(zip(self.header, fields, strict=True))
                self.first = self.first or row
                self.rows = [*self.rows[-1:], row]
        return self

    def rate(self) -> float:
        """Requests per second between the last two rows (Locust's own Requests/s lags by
        its averaging window)."""
        if len(self.rows) < 2:
            return 0.0
        return _rate(*self.rows)

    def mean_rate(self) -> float:
        """Requests per second from the first row to the last: the mean so far, as the
        summary averages each repeat (over its whole measured window)."""
        if self.first is None or not self.rows or self.rows[-1] is self.first:
            return 0.0
        return _rate(self.first, self.rows[-1])

    @property
    def latest(self) -> dict[str, str]:
        return self.rows[-1] if self.rows else {}


def _rate(before: dict[str, str], last: dict[str, str]) -> float:
    seconds = float(last["Timestamp"]) - float(before["Timestamp"])
    done = int(last["Total Request Count"]) - int(before["Total Request Count"])
    return done / seconds if seconds > 0 else 0.0


def progress_text(phase: str, arch: str, repeat: int, repeats: int, elapsed: float,
                  total: float, history: HistoryTail, generator_cpu: float | None) -> str:
    """The progress line: phase, arch, repeat i/N, elapsed/total, req/s (the mean so far,
    which the summary's figure for the repeat is, and the last second's), p95, errors."""
    row = history.latest
    p95 = row.get("95%", "N/A")
    p95 = f"{p95} ms" if p95 not in ("N/A", "", "0") else "-"
    errors = row.get("Total Failure Count", "0")
    text = (f"{phase:<7} {arch:<13} {repeat}/{repeats} {min(elapsed, total):3.0f}/{total:.0f} s "
            f"{history.mean_rate():5.0f} req/s mean ({history.rate():.0f} last s)  "
            f"p95 {p95:>7}  errors {errors}")
    if generator_cpu is not None:
        text += f"  gen {generator_cpu:.0f}%"
    return text
