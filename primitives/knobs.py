"""Knobs: the typed, range-checked fields of each primitive's `Config` dataclass.

A knob is declared once with `knob(...)` (default, help, allowed choices or bounds). The same declaration
feeds `primbench list`, the parsing of `--set knob=value` strings and the generic range checks, so the
table a user reads and the checks that run can never disagree.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from typing import Any

from primbench.primitives.errors import PrimitiveError

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}
_NONE = {"none", "null", "any"}


def knob(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    low: int | None = None,
    high: int | None = None,
    allowed: str | None = None,
) -> Any:
    """A dataclass field that carries its help text and allowed values for `list` and `validate()`.

    `allowed` describes values that neither `choices` nor bounds can (checked by the Config's validate()).
    """
    return field(
        default=default, metadata={"help": help, "choices": choices, "low": low, "high": high, "allowed": allowed}
    )


@dataclass(frozen=True)
class KnobSpec:
    """What `primbench list` prints about one knob."""

    name: str
    kind: str  # "int", "bool", "str" or "int?" (an int that may be None)
    default: Any
    help: str
    choices: tuple | None
    low: int | None
    high: int | None
    allowed: str | None = None

    @property
    def range_text(self) -> str:
        if self.allowed:
            return self.allowed
        if self.choices:
            return " | ".join(str(choice) for choice in self.choices)
        if self.kind == "bool":
            return "true | false"
        if self.low is not None or self.high is not None:
            low = "" if self.low is None else self.low
            high = "" if self.high is None else self.high
            suffix = " or none" if self.kind == "int?" else ""
            return f"{low}..{high}{suffix}"
        return "any int or none" if self.kind == "int?" else "any"


def _kind(config_cls: type, name: str) -> str:
    hint = typing.get_type_hints(config_cls)[name]
    if hint is bool:
        return "bool"
    if hint is int:
        return "int"
    if hint is str:
        return "str"
    if set(typing.get_args(hint)) == {int, type(None)}:
        return "int?"
    raise TypeError(f"knob {name} has unsupported type {hint}")


def knob_specs(config_cls: type) -> list[KnobSpec]:
    """The knobs of a `Config` dataclass, in declaration order."""
    return [
        KnobSpec(
            f.name,
            _kind(config_cls, f.name),
            f.default,
            f.metadata["help"],
            f.metadata["choices"],
            f.metadata["low"],
            f.metadata["high"],
            f.metadata["allowed"],
        )
        for f in dataclasses.fields(config_cls)
    ]


def nearest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Candidates that look like `name`, closest first (for 'did you mean' hints)."""
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    return close or [c for c in candidates if c.startswith(name.split("_")[0])][:n]


def did_you_mean(name: str, candidates: list[str]) -> str:
    close = nearest(name, candidates)
    return f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(candidates)}"


def coerce(spec: KnobSpec, value: Any) -> Any:
    """Turn a `--set` string (or an already typed value) into the knob's type; PrimitiveError if it cannot."""
    if not isinstance(value, str):
        if spec.kind == "bool" and isinstance(value, bool):
            return value
        if spec.kind in ("int", "int?") and isinstance(value, int) and not isinstance(value, bool):
            return value
        if spec.kind == "int?" and value is None:
            return None
        raise PrimitiveError(f"knob {spec.name} takes {spec.kind} values ({spec.range_text}), not {value!r}")
    text = value.strip()
    if spec.kind == "str":
        return text
    if spec.kind == "bool" and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if spec.kind == "int?" and text.lower() in _NONE:
        return None
    if spec.kind in ("int", "int?"):
        try:
            return int(text)
        except ValueError:
            pass
    raise PrimitiveError(
        f"knob {spec.name} takes {spec.kind} values ({spec.range_text}), not {value!r}; "
        f"e.g. --set {spec.name}={spec.default}"
    )


def apply_overrides(config: Any, overrides: dict[str, Any] | None) -> Any:
    """A copy of `config` with knobs replaced; unknown names raise PrimitiveError with the nearest knob."""
    if not overrides:
        return config
    specs = {spec.name: spec for spec in knob_specs(type(config))}
    changes = {}
    for name, value in overrides.items():
        if name not in specs:
            raise PrimitiveError(
                f"unknown knob {name!r} for this primitive; {did_you_mean(name, list(specs))} "
                f"(`primbench list` shows every knob)"
            )
        changes[name] = coerce(specs[name], value)
    return dataclasses.replace(config, **changes)


def check_ranges(config: Any) -> None:
    """The checks every knob declares (choices, bounds); each Config.validate() adds its cross-knob checks."""
    for spec in knob_specs(type(config)):
        value = getattr(config, spec.name)
        if spec.choices and value not in spec.choices:
            raise PrimitiveError(
                f"knob {spec.name}={value!r} is not one of {spec.range_text}; "
                f"{did_you_mean(str(value), [str(c) for c in spec.choices])}"
            )
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            continue
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise PrimitiveError(
                f"knob {spec.name}={value} is out of range {spec.range_text}; "
                f"pick a value in that range with --set {spec.name}=..."
            )


def parse_set_options(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`["depth=3", "chains=4"]` -> `{"depth": "3", "chains": "4"}`; a malformed item raises PrimitiveError."""
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise PrimitiveError(f"malformed --set {item!r}; write it as knob=value, e.g. --set depth=2")
        parsed[name.strip()] = value.strip()
    return parsed
