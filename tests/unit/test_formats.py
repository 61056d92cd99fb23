"""Format versions: a file without one is format 1, older ones are read, newer ones are
refused with a message saying to update archlab."""

import pytest

from archlab import formats
from archlab.errors import LabError


def test_the_current_versions():
    assert (formats.RUN_FORMAT, formats.MANIFEST_FORMAT, formats.SUMMARY_FORMAT,
            formats.EXPERIMENT_FORMAT) == (2, 2, 2, 1)


@pytest.mark.parametrize(("data", "expected"), [
    ({}, 1),
    ({"arch": "monolith"}, 1),
    ({"format": 2}, 2),
    ({"schema": 1}, 1),                 # summary.json's first version
    ({"schema": 1, "format": 2}, 2),    # `format` wins
])
def test_version(data, expected):
    assert formats.version(data) == expected


@pytest.mark.parametrize("value", [0, -1, "2", 1.0, True, None, [2]])
def test_a_version_that_is_not_one_is_a_value_error(value):
    with pytest.raises(ValueError, match="whole number"):
        formats.version({"format": value})


def test_check_takes_every_format_up_to_the_newest():
    assert formats.check({}, "run.json", 2) == 1
    assert formats.check({"format": 2}, "run.json", 2) == 2


def test_check_refuses_a_newer_format_naming_the_file():
    with pytest.raises(formats.NewerFormat) as caught:
        formats.check({"format": 3}, "results/x/manifest.json", 2)
    assert str(caught.value) == (
        "results/x/manifest.json: made by a newer archlab (format 3; this one reads up "
        "to 2): update archlab to rebuild this report")
    assert isinstance(caught.value, LabError)


def test_check_refuses_a_damaged_version_naming_the_file():
    with pytest.raises(LabError, match=r"^run.json: 'format' must be a whole number >= 1, "
                                       r"not 'two': the file is damaged"):
        formats.check({"format": "two"}, "run.json", 2)
