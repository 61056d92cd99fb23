"""Drive wrk (the HTTP load generator) and read its report.

wrk is a C program: one core of it outruns any Python generator many times over,
which is what a measurement of the machine's floor needs. It has no machine-readable
output, so the few lines we use are parsed here.
"""

import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from archlab.errors import LabError

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class WrkResult:
    """Throughput and latency of one wrk run."""

    url: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int

    def to_dict(self) -> dict:
        return asdict(self)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS[unit]


def parse(output: str, url: str, connections: int, seconds: float) -> WrkResult:
    """A WrkResult from wrk's `--latency` report."""
    pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.M))
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not (pct and total and rps):
        raise LabError(f"could not read wrk's report:\n{output}")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     output)
    errors = sum(map(int, sock.groups())) if sock else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non2xx.group(1)) if non2xx else 0
    return WrkResult(url=url, connections=connections, seconds=seconds,
                     requests=int(total.group(1)), rps=float(rps.group(1)),
                     p50_ms=_ms(pct["50"]), p90_ms=_ms(pct["90"]), p99_ms=_ms(pct["99"]),
                     errors=errors)


def run(base_url: str, lua: str, *, connections: int, seconds: float,
        cpu: int | None = None) -> WrkResult:
    """Load `base_url` with wrk for `seconds` using the request script `lua`.

    `cpu` pins wrk to one core, so the generator never competes with the system
    under test for the cores it was given. wrk takes whole seconds: a fraction is
    rounded up (the result records the seconds run).
    """
    seconds = float(max(1, math.ceil(seconds)))
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LabError("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or "
                       "`brew install wrk` (macOS)")
    with tempfile.TemporaryDirectory(prefix="archlab-wrk-") as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(lua)
        argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
                "--timeout", "10s", "-s", str(script), base_url]
        if cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu), *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise LabError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    return parse(done.stdout, base_url, connections, seconds)


def random_paths_script(template: str, low: int, high: int, seed: int = 42) -> str:
    """A wrk Lua script requesting `template` with `{id}` drawn from [low, high]."""
    prefix, _, suffix = template.partition("{id}")
    return (f"math.randomseed({seed})\n"
            "request = function()\n"
            f"  return wrk.format('GET', '{prefix}' .. math.random({low}, {high}) .. '{suffix}')\n"
            "end\n")


def fixed_paths_script(paths: list[str]) -> str:
    """A wrk Lua script cycling through `paths`."""
    listed = ", ".join(f"'{p}'" for p in paths)
    return (f"local paths = {{{listed}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n"
            "  return wrk.format('GET', paths[i])\nend\n")
