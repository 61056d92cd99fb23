"""Calibration: how close each architecture gets to this machine's floor.

One package for `archlab calibrate` (the click command is archlab/commands/calibrate.py):

- `apps/`: the floors, bare baseline apps that answer the same requests with the shared
  SQL (shopdata), the shared plumbing and, for the microservices, the shared client and
  service tokens (microservices.common), and nothing else. They import no architecture's
  own code (tests/unit/test_floor_imports.py holds them to that).
- `wrk.py`: drives wrk, the load generator, and reads its report.
- `calibration.py`: starts each architecture beside its floor and loads both in
  alternating rounds.
- `shares.py`: the figures from those rounds: each share of the floor, the overhead above
  the floor in CPU milliseconds per request, and the bias the remaining gaps leave in the
  monolith/microservices ratio.

This module imports nothing: the floor processes import `archlab.floors.apps.*`, and
must not pull in the lab with it.
"""
