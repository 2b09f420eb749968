"""Knob declarations drive parsing of --set strings, the range checks and `primbench list` alike."""

import pytest

from primbench.primitives import arithmetic, variable_assignment
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.knobs import apply_overrides, coerce, knob_specs, parse_set_options


def test_parse_set_options():
    assert parse_set_options(["depth=3", " chains = 4 ", "operators=+-*"]) == {
        "depth": "3",
        "chains": "4",
        "operators": "+-*",
    }
    for bad in ["depth", "=3", "depth=", "depth 3"]:
        with pytest.raises(PrimitiveError, match="malformed --set"):
            parse_set_options([bad])


def test_strings_are_coerced_to_each_knob_type():
    specs = {spec.name: spec for spec in knob_specs(arithmetic.Config)}
    assert coerce(specs["operands"], "3") == 3
    assert coerce(specs["negatives"], "yes") is True and coerce(specs["negatives"], "false") is False
    assert coerce(specs["min_result"], "none") is None and coerce(specs["min_result"], "-4") == -4
    assert coerce(specs["operators"], "*") == "*"
    with pytest.raises(PrimitiveError, match="knob operands takes int values"):
        coerce(specs["operands"], "three")
    with pytest.raises(PrimitiveError, match="knob operands takes int values"):
        coerce(specs["operands"], True)


def test_apply_overrides_returns_a_new_config_and_names_the_nearest_knob():
    config = variable_assignment.Config()
    changed = apply_overrides(config, {"depth": "2", "order": "interleaved"})
    assert (changed.depth, changed.order) == (2, "interleaved") and config.depth == 0
    with pytest.raises(PrimitiveError, match="unknown knob 'chain'.*did you mean chains"):
        apply_overrides(config, {"chain": 2})


def test_every_knob_has_help_and_a_range():
    for module in (arithmetic, variable_assignment):
        for spec in knob_specs(module.Config):
            assert spec.help and spec.range_text
    assert {s.name: s.range_text for s in knob_specs(variable_assignment.Config)}["depth"] == "0..25"
