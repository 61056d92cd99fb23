"""Two records every Locust run keeps for the measurement itself, closed loop or open:

- series.csv: the requests answered so far, once a second, each row with its wall-clock
  time to the millisecond. The report finds the steady state on this series and counts
  requests over exactly the window it takes CPU from (the sampler's rows carry the same
  clock). Locust's own history has whole-second timestamps and restarts with a stats
  reset; this counts every request event, failures apart.
- looplag.json: the event loop's lag. A greenlet asks to sleep PROBE_S and records how
  much later it woke. Every request, answer and schedule tick of this process runs on
  that one loop, so its lag is the generator's own lateness: a busy generator (or a
  neighbour on its core) delays what it sends and when it reads answers, and adds that to
  every latency it reports. The report judges the generator by this, not by its CPU share.

Environment (set by archlab.bench; without it nothing is recorded):
  ARCHLAB_SERIES_OUT   the series.csv path; looplag.json goes beside it
"""

import csv
import json
import os
import time
from pathlib import Path

import gevent

from loadtests.latency import describe, new_histogram, record_ms

PROBE_S = 0.05
ROW_S = 1.0
COLUMNS = ("t_epoch", "requests", "failures")
LAG_FILE = "looplag.json"


class Series:
    """Counts request events and writes series.csv and looplag.json."""

    def __init__(self, out: Path):
        self.out = out
        self.requests = 0
        self.failures = 0
        self.lag = new_histogram()
        self._greenlet = None
        self._file = None
        self._writer = None
        self._done = False

    def on_request(self, exception=None, **_) -> None:
        """One answered request (Locust's request event)."""
        self.requests += 1
        if exception is not None:
            self.failures += 1

    def start(self) -> None:
        """The first row (nothing answered yet) now; then a row a second and the lag probe."""
        self._file = open(self.out, "w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._row()
        self._greenlet = gevent.spawn(self._run)

    def _row(self) -> None:
        self._writer.writerow((f"{time.time():.3f}", self.requests, self.failures))
        self._file.flush()

    def _run(self) -> None:
        next_row = time.monotonic() + ROW_S
        while True:
            due = time.monotonic() + PROBE_S
            gevent.sleep(PROBE_S)
            now = time.monotonic()
            record_ms(self.lag, (now - due) * 1000)
            if now >= next_row:
                self._row()
                next_row += ROW_S

    def stop(self) -> None:
        """The last row and looplag.json (once; Locust may report the end twice)."""
        if self._done or self._file is None:
            return
        self._done = True
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self._row()
        self._file.close()
        lag = describe(self.lag)
        (self.out.parent / LAG_FILE).write_text(json.dumps(
            {"probe_s": PROBE_S, "lag": lag}, indent=1) + "\n")


def install(events) -> Series | None:
    """Hook the series into Locust's events when ARCHLAB_SERIES_OUT is set."""
    out = os.environ.get("ARCHLAB_SERIES_OUT")
    if not out:
        return None
    series = Series(Path(out))
    events.request.add_listener(series.on_request)
    events.test_start.add_listener(lambda **_: series.start())
    # test_stop comes before Locust writes its stats; quitting covers a run cut short.
    events.test_stop.add_listener(lambda **_: series.stop())
    events.quitting.add_listener(lambda **_: series.stop())
    return series
