"""Experiment files: what loads, what is refused, and that the refusal names the field."""

import dataclasses
import re
import textwrap

import pytest

from archlab import experiment
from archlab.bench.plan import supervision
from archlab.config import project_root
from archlab.errors import LabError

VALID = """
personas: {BrowserUser: 3, BuyerUser: 1}
users: 20
spawn_rate: 10
warmup_s: 5
duration_s: 20
repeats: 3
architectures: [monolith]
"""


def write(tmp_path, text: str, name: str = "exp.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def with_field(field: str, value: str) -> str:
    """VALID with `field` replaced (or added) as `field: value`."""
    lines = [line for line in VALID.strip().splitlines() if not line.startswith(f"{field}:")]
    return "\n".join([*lines, f"{field}: {value}"]) + "\n"


def refused(tmp_path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(LabError) as caught:
        experiment.load(path)
    message = str(caught.value)
    assert str(path) in message
    return message


def test_a_valid_file_loads_with_its_defaults(tmp_path):
    e = experiment.load(write(tmp_path, VALID, "mix.yaml"))
    assert e.name == "mix"
    assert e.personas == {"BrowserUser": 3, "BuyerUser": 1}
    assert (e.users, e.spawn_rate, e.warmup_s, e.duration_s, e.repeats) == (20, 10, 5, 20, 3)
    assert e.architectures == ("monolith",)
    assert e.wait_s == (0.5, 1.5)
    assert e.shape is None


@pytest.mark.parametrize("name", ["baseline", "demo", "buyers"])
def test_the_shipped_experiments_load(name):
    e = experiment.load(project_root() / "experiments" / f"{name}.yaml")
    assert e.name == name
    assert e.repeats >= 1


def test_the_default_experiment_compares_both_architectures_with_browsers():
    e = experiment.load(experiment.DEFAULT_EXPERIMENT)
    assert set(e.architectures) == {"monolith", "microservices"}
    assert e.personas == {"BrowserUser": 1}


def test_wait_takes_one_number_or_a_range(tmp_path):
    assert experiment.load(write(tmp_path, with_field("wait_s", "0"))).wait_s == (0, 0)
    assert experiment.load(write(tmp_path, with_field("wait_s", "[1, 2]"))).wait_s == (1, 2)


@pytest.mark.parametrize(("field", "value"), [
    ("users", "0"),
    ("users", "many"),
    ("users", "2.5"),
    ("spawn_rate", "0"),
    ("warmup_s", "-1"),
    ("duration_s", "12.5"),
    ("duration_s", "true"),
    ("repeats", "0"),
    ("architectures", "[]"),
    ("architectures", "[monolith, monolith]"),
    ("architectures", "[mainframe]"),
    ("wait_s", "[2, 1]"),
    ("wait_s", "soon"),
    ("shape", "zigzag"),
    ("personas", "[BrowserUser]"),
])
def test_a_bad_value_is_refused_naming_its_field(tmp_path, field, value):
    message = refused(tmp_path, with_field(field, value))
    assert f": {field}" in message


def test_a_bad_weight_names_the_persona(tmp_path):
    message = refused(tmp_path, with_field("personas", "{BrowserUser: 0}"))
    assert "personas.BrowserUser" in message


def test_an_unknown_persona_is_refused_with_the_choices(tmp_path):
    message = refused(tmp_path, with_field("personas", "{Shoplifter: 1}"))
    assert "Shoplifter" in message and "BrowserUser" in message


def test_an_unknown_key_is_refused_by_name(tmp_path):
    message = refused(tmp_path, VALID + "userz: 3\n")
    assert "userz" in message and "unknown field" in message


def test_a_missing_field_is_named(tmp_path):
    message = refused(tmp_path, VALID.replace("repeats: 3\n", ""))
    assert "repeats: missing" in message


def test_a_shape_must_last_the_measured_duration(tmp_path):
    text = with_field("shape", "spike")
    message = refused(tmp_path, text)
    assert "duration_s" in message and "spike" in message
    assert experiment.load(write(tmp_path, text.replace("duration_s: 20", "duration_s: 30")))


def test_not_yaml_or_not_a_mapping_is_refused(tmp_path):
    assert "not valid YAML" in refused(tmp_path, "users: [1,\n")
    assert "mapping" in refused(tmp_path, "- users\n")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(LabError, match="nope.yaml does not exist"):
        experiment.load(tmp_path / "nope.yaml")


def test_a_persona_an_architecture_cannot_serve_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(experiment.CAPABILITIES, "microservices",
                        frozenset({"browse", "admin"}))
    message = refused(tmp_path, with_field("architectures", "[monolith, microservices]"))
    assert "BuyerUser" in message
    assert "microservices" in message
    assert "checkout" in message and "invoice" in message


def test_overrides_are_checked_like_the_file(tmp_path, monkeypatch):
    monkeypatch.setitem(experiment.CAPABILITIES, "microservices",
                        frozenset({"browse", "admin"}))
    e = experiment.load(write(tmp_path, VALID))
    shorter = e.with_overrides(repeats=1, duration_s=5, warmup_s=0)
    assert (shorter.repeats, shorter.duration_s, shorter.warmup_s) == (1, 5, 0)
    assert shorter.personas == e.personas and shorter.name == e.name
    with pytest.raises(LabError, match="command line.*BuyerUser.*microservices"):
        e.with_overrides(architectures=("microservices",))
    with pytest.raises(LabError, match="repeats"):
        e.with_overrides(repeats=-2)


def test_stack_settings_are_taken_and_recorded(tmp_path):
    e = experiment.load(write(tmp_path, with_field(
        "settings", "{INVOICE_DELIVERY: deferred, CARD_PROCESSOR_LATENCY_MS: 5}")))
    assert e.settings == {"INVOICE_DELIVERY": "deferred", "CARD_PROCESSOR_LATENCY_MS": "5"}
    assert e.to_config()["settings"] == e.settings
    assert experiment.load(write(tmp_path, VALID)).settings == {}


@pytest.mark.parametrize("value,words", [
    ("{PRINTER: offline}", "unknown stack setting(s): PRINTER"),
    ("{INVOICE_DELIVERY: later}", "must be one of inline, deferred"),
    ("{CARD_PROCESSOR_LATENCY_MS: -1}", "must be a number >= 0"),
    ("[INVOICE_DELIVERY]", "must map stack settings"),
])
def test_bad_stack_settings_are_refused(tmp_path, value, words):
    message = refused(tmp_path, with_field("settings", value))
    assert "settings" in message and words in message


def test_format_1_is_taken_and_a_newer_format_is_refused(tmp_path):
    assert experiment.load(write(tmp_path, VALID + "format: 1\n")).users == 20
    message = refused(tmp_path, VALID + "format: 2\n")
    assert ": format: written for a newer archlab (format 2; this one reads up to 1)" \
        in message


@pytest.mark.parametrize("value", ["0", "one", "1.5", "true"])
def test_a_format_that_is_not_a_version_is_refused(tmp_path, value):
    assert ": format: must be a whole number" in refused(tmp_path, VALID + f"format: {value}\n")


def test_a_newer_format_is_named_before_keys_this_archlab_does_not_know(tmp_path):
    message = refused(tmp_path, VALID + "format: 3\nramp: {from: 1, to: 9}\n")
    assert "newer archlab" in message and "ramp" not in message


@pytest.mark.parametrize(("section", "value", "words"), [
    ("faults", "[{at_s: 5, action: kill, component: inventory}]",
     "a fault schedule (faults) is not built yet"),
    ("faults", "[]", "a fault schedule (faults) is not built yet"),
    ("scaling", "{replicas: {catalog: 2}}",
     "replicas per service (scaling) are not built yet"),
])
def test_a_section_that_is_not_built_yet_is_refused_by_name(tmp_path, section, value, words):
    message = refused(tmp_path, VALID + f"{section}: {value}\n")
    assert f": {section}: " in message and words in message
    assert "unknown field" not in message


OPEN = VALID.replace("users: 20\n", "").replace("spawn_rate: 10\n", "")


def test_a_file_without_users_or_arrival_rate_names_both(tmp_path):
    message = refused(tmp_path, OPEN)
    assert ": users: missing" in message and "arrival_rate" in message


def test_a_constant_arrival_rate_is_an_open_loop_of_one_step(tmp_path):
    e = experiment.load(write(tmp_path, OPEN + "arrival_rate: 50\n"))
    assert e.phases == ("open",) and e.users is None
    assert e.arrival_steps == ((50.0, 20.0),) and e.max_in_flight == 64
    assert e.to_config()["arrival_rate"] == 50.0 and "users" not in e.to_config()
    assert e.with_overrides(repeats=1).arrival_steps == e.arrival_steps


def test_steps_must_last_the_measured_duration(tmp_path):
    steps = OPEN + "arrival_rate: [{rps: 20, for_s: 10}, {rps: 40, for_s: 10}]\n"
    e = experiment.load(write(tmp_path, steps + "max_in_flight: 8\n"))
    assert e.arrival_steps == ((20.0, 10.0), (40.0, 10.0)) and e.max_in_flight == 8
    message = refused(tmp_path, steps.replace("duration_s: 20", "duration_s: 30"))
    assert ": arrival_rate: the steps last 20 s; they must last duration_s (30 s)" in message
    # A longer run from the command line must change the steps too.
    with pytest.raises(LabError, match="the steps last 20 s"):
        e.with_overrides(duration_s=5)


def test_a_share_of_capacity_needs_a_closed_loop_first(tmp_path):
    both = experiment.load(write(tmp_path, VALID + "arrival_rate: {share_of_capacity: 0.5}\n"))
    assert both.phases == ("closed", "open") and both.capacity_share == 0.5
    assert both.to_config()["arrival_rate"] == {"share_of_capacity": 0.5}
    opened = both.open_loop(((12.5, 20.0),))
    assert opened.phases == ("open",) and opened.arrival_steps == ((12.5, 20.0),)
    message = refused(tmp_path, OPEN + "arrival_rate: {share_of_capacity: 0.5}\n")
    assert "share_of_capacity needs a closed loop first" in message


@pytest.mark.parametrize(("text", "words"), [
    (VALID + "arrival_rate: 0\n", "arrival_rate: must be more than 0"),
    (VALID + "arrival_rate: fast\n", "arrival_rate: must be a number"),
    (VALID + "arrival_rate: []\n", "steps must not be empty"),
    (VALID + "arrival_rate: [{rps: 20}]\n", "arrival_rate[0]: must be {rps"),
    (VALID + "arrival_rate: {share_of_capacity: 1.5}\n", "must be at most 1"),
    (VALID + "arrival_rate: {share: 0.5}\n", "takes share_of_capacity only"),
    (VALID + "max_in_flight: 8\n", "max_in_flight: belongs to an open loop"),
    (VALID + "arrival_rate: 5\nmax_in_flight: 0\n", "max_in_flight: must be at least 1"),
    (OPEN + "arrival_rate: 5\nwait_s: 0\n", "wait_s: belongs to a closed loop"),
    (OPEN + "arrival_rate: 5\nspawn_rate: 3\n", "spawn_rate: belongs to a closed loop"),
    (VALID.replace("spawn_rate: 10\n", ""), "spawn_rate: missing"),
])
def test_a_bad_open_loop_is_refused_naming_its_field(tmp_path, text, words):
    assert words in refused(tmp_path, text)


def test_sizing_per_process_is_the_default_and_recorded(tmp_path):
    e = experiment.load(write(tmp_path, VALID))
    assert e.sizing == "per-process" and e.to_config()["sizing"] == "per-process"
    e = experiment.load(write(tmp_path, VALID + "sizing: per-process\n"))
    assert e.sizing == "per-process"
    assert e.with_overrides(repeats=1).sizing == "per-process"


def test_equal_total_sizing_is_taken_with_its_threads_per_core(tmp_path):
    e = experiment.load(write(tmp_path, VALID + "sizing: equal-total\n"))
    assert e.sizing_choice() == {"policy": "equal-total"}
    # Probed shares are the default, with the probe's seconds recorded.
    assert e.to_config()["sizing"] == {"policy": "equal-total", "shares": "probe",
                                       "probe_s": experiment.DEFAULT_PROBE_S}
    assert e.with_overrides(repeats=1).to_config()["sizing"] == e.to_config()["sizing"]
    e = experiment.load(write(tmp_path, VALID + "sizing: {policy: equal-total, "
                                                "threads_per_core: 16}\n"))
    assert e.sizing_choice() == {"policy": "equal-total", "threads_per_core": 16}
    assert e.with_overrides(repeats=1).threads_per_core == 16
    message = refused(tmp_path, VALID + "sizing: {policy: per-process, threads_per_core: 4}\n")
    assert "threads_per_core belongs to equal-total" in message
    message = refused(tmp_path, VALID + "sizing: {policy: equal-total, threads_per_core: 0}\n")
    assert "must be at least 1" in message


def test_equal_total_shares_come_from_a_probe_or_the_stated_split(tmp_path):
    e = experiment.load(write(tmp_path, VALID + "sizing: {policy: equal-total, "
                                                "shares: default}\n"))
    assert e.shares == "default" and e.probe_s is None
    assert e.to_config()["sizing"] == {"policy": "equal-total", "shares": "default"}
    e = experiment.load(write(tmp_path, VALID + "sizing: {policy: equal-total, "
                                                "probe_s: 4}\n"))
    assert e.shares == "probe" and e.probe_s == 4
    # What the probe measured is what `up` splits by, named as the probe's.
    measured = {"microservices": {"gateway": 0.5, "catalog": 0.5}}
    chosen = dataclasses.replace(e, measured_shares=measured).sizing_choice()
    assert chosen == {"policy": "equal-total", "shares": measured, "shares_source": "probe"}
    for bad, message in [("shares: measured", "shares must be one of probe, default"),
                         ("shares: default, probe_s: 4", "probe_s belongs to shares: probe"),
                         ("probe_s: 1", "must be at least 2")]:
        assert message in refused(tmp_path, VALID + f"sizing: {{policy: equal-total, {bad}}}\n")
    assert "shares belongs to equal-total" in refused(
        tmp_path, VALID + "sizing: {policy: per-process, shares: probe}\n")


@pytest.mark.parametrize("value", ["per-core", "[per-process]", "1"])
def test_an_unknown_sizing_is_refused_with_the_choices(tmp_path, value):
    message = refused(tmp_path, VALID + f"sizing: {value}\n")
    assert ": sizing: unknown sizing" in message and "per-process, equal-total" in message


def test_overrides_keep_every_key_of_the_file(tmp_path):
    e = experiment.load(write(tmp_path, VALID + "format: 1\nsizing: per-process\n"
                              "settings: {INVOICE_DELIVERY: deferred}\n"))
    shorter = e.with_overrides(duration_s=5)
    assert shorter.to_config() | {"duration_s": 20} == e.to_config()


def test_a_folder_is_not_an_experiment_file(tmp_path):
    with pytest.raises(LabError, match=re.escape(f"experiment file {tmp_path} is a folder")):
        experiment.load(tmp_path)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.encode() + "description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(LabError, match=re.escape(f"experiment file {path} is not UTF-8 text")):
        experiment.load(path)


def test_a_byte_order_mark_is_not_part_of_the_yaml(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert experiment.load(path).users == 20


def test_an_unreadable_file_is_named(tmp_path, monkeypatch):
    path = write(tmp_path, VALID)

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    # (chmod 000 does not stop root, who may run the tests)
    monkeypatch.setattr(type(path), "read_text", denied)
    with pytest.raises(LabError, match=re.escape(
            f"experiment file {path} cannot be read: permission denied")):
        experiment.load(path)


def test_keys_of_any_type_are_refused_without_a_crash(tmp_path):
    message = refused(tmp_path, VALID + "1: one\nzz: two\n")
    assert "unknown field" in message


def test_the_manifest_says_how_every_process_was_watched_and_limited(tmp_path):
    e = experiment.load(write(tmp_path, VALID + textwrap.dedent("""
        settings: {LIVENESS_PERIOD_SECONDS: 3, MEMORY_LIMIT_MIB: 512}
        """)))
    record = supervision(e)
    assert record["liveness"] == {"period": 3.0, "timeout": 2.0, "failures": 3,
                                  "start_grace": 60.0}
    assert record["memory_limit_mib"] == 512
    assert record["memory_limits"] in ("cgroup2", "cgroup1", "rlimit")
    assert "LIVENESS_FAILURES must be a whole number" in refused(
        tmp_path, VALID + "settings: {LIVENESS_FAILURES: 2.5}\n")
