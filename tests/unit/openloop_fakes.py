"""Runs the open loop's Driver on personas that send nothing over the network (their
client fires Locust's request event with a set outcome), and prints openloop.json's
content with Locust's own counts as JSON. Locust monkey-patches the whole process with
gevent when imported, so the tests run this as a process of its own:

    python -m tests.unit.openloop_fakes '{"steps": [[20, 0.5]], "slots": 4, ...}'
"""

import json
import sys

import gevent
from locust import User
from locust.env import Environment

from loadtests import latency, openloop


class FakeClient:
    """Fires the request event as Locust's client does, after a tiny pause."""

    def __init__(self, environment):
        self.environment = environment

    def get(self, path, name=None, *, ms=5.0, fail=False):
        gevent.sleep(0.001)
        self.environment.events.request.fire(
            request_type="GET", name=name or path, response_time=ms, response_length=0,
            response=None, context={}, exception=RuntimeError("500") if fail else None)


def persona_class(task: list, hang: bool) -> type:
    """A persona whose one task sends `task` ([path, "ok"|"failed"|"degraded"], ...),
    then, with `hang`, never ends."""

    class Persona(User):
        abstract = True

        def __init__(self, environment):
            super().__init__(environment)
            self.client = FakeClient(environment)

        def shop(self):
            for path, outcome in task:
                if outcome == "degraded":
                    openloop.note_degraded()  # as log_degraded does, before the event
                self.client.get(path, fail=outcome == "failed")
            if hang:
                gevent.sleep(600)  # a request that never answers

        tasks = [shop]

    return Persona


def main(args: dict) -> dict:
    """Run the schedule; openloop.json's content and Locust's totals."""
    steps = [tuple(step) for step in args["steps"]]
    environment = Environment(user_classes=[], host="http://127.0.0.1:1")
    environment.create_local_runner()
    recorder = latency.Recorder(steps)
    persona = persona_class(args.get("task", [["/a", "ok"]]), args.get("hang", False))
    openloop.Driver(environment, {persona: 1}, args.get("slots", 4), recorder,
                    drain_s=args.get("drain_s", 0.3)).run(steps)
    total = environment.runner.stats.total
    return {"loop": recorder.to_dict(args.get("slots", 4), complete=True),
            "locust": {"requests": total.num_requests, "failures": total.num_failures,
                       "names": sorted(name for name, _ in environment.runner.stats.entries)}}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
