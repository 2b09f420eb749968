"""The primitive contract: the names a primitive module provides, as a `typing.Protocol`.

A primitive is a plain module (`induction_copy.py` is the template to copy; CONTRIBUTING.md has the whole
checklist). `registry.PRIMITIVES` refuses, at import, a module that lacks a name or takes other parameters, so a
half-written primitive fails where it is registered and not deep inside a dataset. What each function must *do*
is checked over every preset by `tests/primitives/test_contract.py`.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Primitive(Protocol):
    """One reasoning primitive: a seeded problem generator, its prompt template, solver and scorer."""

    NAME: str  # registry key and the first part of every preset name: `<NAME>_<variant>`
    Config: type  # frozen dataclass of `knobs.knob(...)` fields with a `validate()` that raises PrimitiveError
    PRESETS: dict[str, tuple[str, dict[str, Any]]]  # variant -> (one-line description, knob values)

    def template_name(self, config: Any) -> str:
        """File name under `primitives/templates/` of the packaged jinja2 template for this config."""

    def generate(self, config: Any, rng: Any) -> dict:
        """Draw one problem's values (`meta`, JSON-serialisable) from `rng` (an `Entropy`, `random.Random`-like)."""

    def answer(self, meta: dict) -> str:
        """The answer text of a problem: no leading or trailing whitespace."""

    def problem_key(self, meta: dict) -> str:
        """The values the prompt shows, as text: its hash picks the split, so equal keys mean equal prompts."""

    def template_context(self, meta: dict, config: Any) -> dict:
        """The names a template renders (each listed in the module docstring and templates/README.md)."""

    def enumerate_problems(self, config: Any, limit: int) -> list[dict] | None:
        """Every distinct problem of the knob space when there are at most `limit`, else None."""

    def solve(self, prompt: str) -> str:
        """Re-derive the answer from the prompt text alone; raise PrimitiveError for a prompt of another kind."""

    def score(self, prediction: str, record: dict) -> bool:
        """Whether `prediction` is right for `record` (the shipped primitives: `dataset.exact_match`)."""


def contract_problems(module: Any) -> list[str]:
    """What `module` lacks or declares differently from `Primitive` (names, parameter names); empty when it fits."""
    problems = [f"no {name}" for name in _names() if not hasattr(module, name)]
    for name, expected in _parameters().items():
        function = getattr(module, name, None)
        if function is None:
            continue
        if not callable(function):
            problems.append(f"{name} is not a function")
            continue
        found = [p for p in inspect.signature(function).parameters]
        if len(found) != len(expected):
            problems.append(f"{name} takes ({', '.join(found)}), the contract says ({', '.join(expected)})")
    return problems


def _names() -> list[str]:
    return [*Primitive.__annotations__, *_parameters()]


def _parameters() -> dict[str, list[str]]:
    """Each contract function's parameters without `self` (a module's functions take no self)."""
    return {
        name: list(inspect.signature(member).parameters)[1:]
        for name, member in vars(Primitive).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }
