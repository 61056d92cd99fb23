"""Open-loop load: requests sent on a schedule whether or not earlier ones have answered,
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

The first request of an arrival carries the arrival's wait (from its intended time to
the moment it got a slot); the task's later requests follow it at once, so their
corrected and uncorrected latencies are the same.

Environment (set by archlab.bench):
  ARCHLAB_ARRIVAL        JSON [[rps, seconds], ...]: the schedule's steps
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

from loadtests.latency import DRAIN_S, Recorder, intended_offsets, record_ms


def steps_from_env() -> list[tuple[float, float]]:
    """The schedule's [(rps, seconds), ...] from ARCHLAB_ARRIVAL."""
    return [(float(rps), float(seconds))
            for rps, seconds in json.loads(os.environ["ARCHLAB_ARRIVAL"])]


class Driver:
    """Keeps the schedule and runs each arrival in a free slot."""

    def __init__(self, environment, personas: dict[type, int], max_in_flight: int,
                 recorder: Recorder):
        self.environment = environment
        self.classes = [cls for cls, weight in personas.items() if weight > 0]
        for cls in self.classes:
            # Locust gives the host to the user classes it runs; these it does not run.
            cls.host = cls.host or environment.host
        self.weights = [personas[cls] for cls in self.classes]
        self.recorder = recorder
        self.max_in_flight = max_in_flight
        self.free: Queue = Queue()
        for _ in range(max_in_flight):
            self.free.put({})  # a slot: its persona objects, made on first use
        # The arrivals' greenlets, and what the next request each makes carries (ms).
        self.running: set = set()
        self.carried: dict = {}
        environment.events.request.add_listener(self._on_request)

    def _on_request(self, name, response_time, **_):
        me = gevent.getcurrent()
        if me in self.running:
            self.recorder.request(name, response_time, self.carried.pop(me, 0.0))

    def run(self, steps) -> None:
        """Send every arrival of the schedule on time, then let the last ones finish."""
        start = time.monotonic()
        group = []
        for offset in intended_offsets(steps):
            due = start + offset
            now = time.monotonic()
            if due > now:
                gevent.sleep(due - now)
                now = time.monotonic()
            record_ms(self.recorder.lag, (now - due) * 1000)
            self.recorder.intended += 1
            group.append(gevent.spawn(self._arrival, due))
        gevent.joinall(group, timeout=DRAIN_S)
        gevent.killall([g for g in group if not g.dead], block=False)

    def _arrival(self, due: float) -> None:
        """One arrival: wait for a slot, then one task of a persona picked by weight."""
        slot = self.free.get()
        me = gevent.getcurrent()
        persona = None
        try:
            waited_ms = (time.monotonic() - due) * 1000
            record_ms(self.recorder.delay, waited_ms)
            self.recorder.sent += 1
            self.carried[me] = waited_ms
            self.running.add(me)
            cls = random.choices(self.classes, self.weights)[0]
            persona = slot.get(cls)
            if persona is None:
                persona = slot[cls] = cls(self.environment)
                persona.on_start()  # a buyer logs in (from the warm-up's saved logins)
            random.choice(persona.tasks)(persona)
        except Exception as exc:
            # As Locust does for a task of its own users: into locust_exceptions.csv.
            self.environment.events.user_error.fire(
                user_instance=persona, exception=exc, tb=exc.__traceback__)
        finally:
            self.carried.pop(me, None)
            self.running.discard(me)
            self.free.put(slot)
        # Not reached by an arrival killed at the drain's end: it stays unfinished.
        self.recorder.completed += 1


def open_loop_user(personas: dict[type, int]) -> type:
    """The one Locust user of an open-loop run: it drives the schedule, writes
    ARCHLAB_OPENLOOP_OUT and ends Locust when the schedule is done."""
    steps = steps_from_env()
    max_in_flight = int(os.environ.get("ARCHLAB_MAX_IN_FLIGHT", "64"))
    out = os.environ.get("ARCHLAB_OPENLOOP_OUT")
    recorder = Recorder()
    state = {"started": None, "written": False}

    def write(complete: bool) -> None:
        if out and not state["written"]:
            state["written"] = True
            with open(out, "w") as f:
                json.dump(recorder.to_dict(steps, max_in_flight, state["started"], complete),
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
