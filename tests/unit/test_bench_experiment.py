"""Experiment files: what loads, what is refused, and that the refusal names the field."""

import textwrap

import pytest

from archlab import experiment
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
