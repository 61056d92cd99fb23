"""Open-loop load: arrivals sent on a schedule whether or not earlier ones have answered,
each latency measured from its intended send time and recorded in HdrHistograms beside
the uncorrected figure (the coordinated-omission correction wrk2 makes).

Why a scheduler of our own: Locust's users are closed loops (a user sends its next
request when the last one has answered), so a server that stalls also stalls the load,
and the requests that would have waited are never measured. Here one greenlet keeps the
schedule. Each arrival runs one task of a persona (picked by weight) in a free slot: at
most `max_in_flight` arrivals are in flight, each slot holding its own persona objects
and so its own keep-alive connections, as wrk2 holds a fixed set of connections. An
arrival that finds every slot busy waits for one; that wait counts in its corrected
latency (a server with room would have queued the request itself) and not in the
uncorrected one, which is what a closed-loop tool reports.

The rule for every request of an arrival (loadtests.latency says the same): corrected
latency = its response time + the arrival's generator lateness (its greenlet began this
long after the due time) + its slot wait. A task's later requests follow the earlier
ones' answers, so had the task started on time each would have been sent that much
earlier: the whole task was shifted by lateness + slot wait, and every request carries
that shift. Gaps inside a task between one answer and the next send (the locustfile's
own checks) are not counted.

Before the schedule's clock starts every slot is warmed: each persona object is made
(its on_start runs: a buyer logs in) and sends GET /readyz, so the keep-alive connections
are open. Those requests are not recorded, and Locust's statistics are reset after them,
so its files hold the schedule's requests only.

A request failed when Locust's request event carries an exception; an answer is
degraded when the locustfile's log_degraded() marked it (note_degraded() below) before
the event fired. Arrivals still waiting or in flight when the drain ends are censored:
recorded at drain end - due, counted as failed, then stopped.

Environment (set by archlab.bench):
  ARCHLAB_ARRIVAL        JSON [[arrivals/s, seconds], ...]: the schedule's steps
  ARCHLAB_MAX_IN_FLIGHT  slots: arrivals in flight at most
  ARCHLAB_OPENLOOP_OUT   the file the histograms and counts go to (openloop.json)
"""

import json
import os
import random
import time

import gevent
from gevent.queue import Queue
from locust import User, constant, events, task

from loadtests.latency import DRAIN_S, Recorder, intended_schedule

# The request slots are warmed with this (both architectures' entry points answer it).
WARM_PATH = "/readyz"
WARM_NAME = "(warm-up) /readyz"

# Greenlets whose answer being checked was logged as degraded; None while no open loop
# runs (a closed loop has nothing to read the marks).
_degraded_marks: set | None = None


def note_degraded() -> None:
    """Mark the answer this greenlet is checking as degraded: the open loop's request
    listener reads (and clears) the mark when the request's event fires."""
    if _degraded_marks is not None:
        _degraded_marks.add(gevent.getcurrent())


def steps_from_env() -> list[tuple[float, float]]:
    """The schedule's [(arrivals/s, seconds), ...] from ARCHLAB_ARRIVAL."""
    return [(float(rate), float(seconds))
            for rate, seconds in json.loads(os.environ["ARCHLAB_ARRIVAL"])]


class Driver:
    """Warms the slots, keeps the schedule and runs each arrival in a free slot."""

    def __init__(self, environment, personas: dict[type, int], max_in_flight: int,
                 recorder: Recorder, clock=time.monotonic, drain_s: float = DRAIN_S):
        global _degraded_marks
        self.environment = environment
        self.classes = [cls for cls, weight in personas.items() if weight > 0]
        for cls in self.classes:
            # Locust gives the host to the user classes it runs; these it does not run.
            cls.host = cls.host or environment.host
        self.weights = [personas[cls] for cls in self.classes]
        self.recorder = recorder
        self.max_in_flight = max_in_flight
        self.clock = clock
        self.drain_s = drain_s
        self.slots = [{} for _ in range(max_in_flight)]  # persona class -> its object
        self.free: Queue = Queue()
        # The arrivals' greenlets while their task runs -> their Arrival.
        self.running: dict = {}
        _degraded_marks = set()
        environment.events.request.add_listener(self._on_request)

    def _on_request(self, name, response_time, exception=None, **_):
        me = gevent.getcurrent()
        degraded = me in _degraded_marks
        _degraded_marks.discard(me)
        arrival = self.running.get(me)
        if arrival is not None:
            self.recorder.request(arrival, name, response_time,
                                  failed=exception is not None, degraded=degraded)

    def warm(self) -> None:
        """Make every slot's persona objects and open their connections, all slots at
        once, then forget what that sent (Locust's statistics reset)."""
        gevent.joinall([gevent.spawn(self._warm_slot, slot) for slot in self.slots])
        for slot in self.slots:
            self.free.put(slot)
        self.recorder.warm["slots"] = len(self.slots)
        stats = self.environment.runner.stats
        stats.reset_all()
        # reset_all keeps every name at zero requests; the schedule's names come back
        # as they are requested.
        stats.entries.clear()

    def _warm_slot(self, slot: dict) -> None:
        warm = self.recorder.warm
        for cls in self.classes:
            persona = None
            try:
                persona = slot[cls] = cls(self.environment)
                warm["personas"] += 1
                persona.on_start()  # a buyer logs in (from the warm-up's saved logins)
                warm["requests"] += 1
                persona.client.get(WARM_PATH, name=WARM_NAME)
            except Exception as exc:
                warm["failures"] += 1
                self.environment.events.user_error.fire(
                    user_instance=persona, exception=exc, tb=exc.__traceback__)

    def run(self, steps) -> None:
        """Warm the slots, send every arrival of the schedule on time, give the last
        ones DRAIN_S to finish, then censor and stop those that did not."""
        self.warm()
        self.recorder.started_at_epoch = time.time()
        start = self.clock()
        group = []
        for offset, step in intended_schedule(steps):
            due = start + offset
            now = self.clock()
            if due > now:
                gevent.sleep(due - now)
            group.append(gevent.spawn(self._arrival, self.recorder.due(due, step)))
        gevent.joinall(group, timeout=self.drain_s)
        # From here on nothing more is recorded: the unfinished are censored now.
        self.running.clear()
        self.recorder.censor(self.clock())
        gevent.killall([g for g in group if not g.dead], block=False)

    def _arrival(self, arrival) -> None:
        """One arrival: wait for a slot, then one task of a persona picked by weight."""
        me = gevent.getcurrent()
        self.recorder.started(arrival, self.clock())
        slot = self.free.get()
        persona, failed = None, False
        try:
            if arrival.done:
                return  # censored while it waited
            self.recorder.slotted(arrival, self.clock())
            self.running[me] = arrival
            cls = random.choices(self.classes, self.weights)[0]
            persona = slot[cls]
            random.choice(persona.tasks)(persona)
        except Exception as exc:
            failed = True
            # As Locust does for a task of its own users: into locust_exceptions.csv.
            self.environment.events.user_error.fire(
                user_instance=persona, exception=exc, tb=exc.__traceback__)
        finally:
            self.running.pop(me, None)
            self.free.put(slot)
        self.recorder.finished(arrival, self.clock(), failed=failed)


def open_loop_user(personas: dict[type, int]) -> type:
    """The one Locust user of an open-loop run: it drives the schedule, writes
    ARCHLAB_OPENLOOP_OUT and ends Locust when the schedule is done."""
    steps = steps_from_env()
    max_in_flight = int(os.environ.get("ARCHLAB_MAX_IN_FLIGHT", "64"))
    out = os.environ.get("ARCHLAB_OPENLOOP_OUT")
    recorder = Recorder(steps)
    state = {"started": None, "written": False}

    def write(complete: bool) -> None:
        if out and not state["written"]:
            state["written"] = True
            with open(out, "w") as f:
                json.dump(recorder.to_dict(max_in_flight, complete),
                          f, indent=1)

    @events.quitting.add_listener
    def _on_quitting(environment, **_):
        write(complete=False)  # cut short (SIGTERM): what was recorded, marked incomplete

    class OpenLoop(User):
        """Sends the schedule's arrivals (one user, whatever -u says)."""

        fixed_count = 1
        wait_time = constant(1)

        @task
        def schedule(self) -> None:
            if state["started"] is not None:
                return  # the schedule runs once; Locust is being told to quit
            state["started"] = time.time()
            Driver(self.environment, personas, max_in_flight, recorder).run(steps)
            write(complete=True)
            gevent.spawn(self.environment.runner.quit)

    return OpenLoop
