"""The registry: every primitive, every preset, the paper's suite, and `build_dataset`.

Each primitive module declares its presets as data (`PRESETS = {variant: (description, knobs)}`) and the
registry collects them here, so the modules never import the registry (no import cycle) and a preset is just a
name for a knob setting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from primbench.primitives import arithmetic, induction_copy, variable_assignment
from primbench.primitives.contract import Primitive, contract_problems
from primbench.primitives.dataset import PrimitiveDataset
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.knobs import apply_overrides, did_you_mean, knob_specs


def checked_primitive(module: ModuleType) -> Primitive:
    """`module`, once it provides every name of the primitive contract (`contract.Primitive`) with its parameters."""
    problems = contract_problems(module)
    if problems:
        raise TypeError(
            f"primitive module {module.__name__} breaks the contract in primitives/contract.py: " + "; ".join(problems)
        )
    return module


PRIMITIVES: dict[str, Primitive] = {
    module.NAME: checked_primitive(module) for module in (induction_copy, variable_assignment, arithmetic)
}


@dataclass(frozen=True)
class Preset:
    """A named knob setting of one primitive; its name is `<primitive>_<variant>`."""

    name: str
    primitive: str
    variant: str
    knobs: dict
    description: str

    def config(self) -> Any:
        """The primitive's Config with this preset's knobs (the defaults for the rest)."""
        return dataclasses.replace(PRIMITIVES[self.primitive].Config(), **self.knobs)


def presets_of(module: Primitive) -> dict[str, Preset]:
    """The presets a primitive module declares, by full name `<primitive>_<variant>`."""
    return {
        f"{module.NAME}_{variant}": Preset(f"{module.NAME}_{variant}", module.NAME, variant, dict(knobs), description)
        for variant, (description, knobs) in module.PRESETS.items()
    }


PRESETS: dict[str, Preset] = {
    name: preset for module in PRIMITIVES.values() for name, preset in presets_of(module).items()
}

# The primitives the paper evaluates (docs/paper.md section 3): induction copying, variable assignment at depth 0-2 in
# both forms, and pre-school math.
PAPER_SUITE: list[str] = [
    "induction_copy_words",
    *(f"variable_assignment_d{depth}_{form}" for depth in (0, 1, 2) for form in ("math", "code")),
    "arithmetic_psm",
]


def get_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name raises PrimitiveError with the nearest names."""
    if name not in PRESETS:
        raise PrimitiveError(
            f"unknown preset {name!r}; {did_you_mean(name, list(PRESETS))} (`primbench list` shows every preset)"
        )
    return PRESETS[name]


def route_knobs(
    overrides: dict[str, Any] | None, presets: list[str], *, known_in: list[str] | None = None, where: str | None = None
) -> dict[str, dict[str, Any]]:
    """`{preset: {knob: value}}`: each override goes to the presets whose primitive has that knob.

    A knob that none of `known_in` (default: `presets`) has is a `PrimitiveError` naming the nearest knob and
    `where` the knob came from (default: the presets).
    """
    names = {name: _knob_names(name) for name in {*presets, *(known_in or ())}}
    every_knob = sorted(set().union(*(names[name] for name in (known_in or presets))))
    for knob in overrides or {}:
        if knob not in every_knob:
            raise PrimitiveError(
                f"unknown knob {knob!r} {where or 'for ' + ', '.join(presets)}; {did_you_mean(knob, every_knob)} "
                "(`primbench list` shows every knob)"
            )
    return {name: {k: v for k, v in (overrides or {}).items() if k in names[name]} for name in presets}


def _knob_names(preset: str) -> set[str]:
    return {spec.name for spec in knob_specs(type(get_preset(preset).config()))}


def build_dataset(
    preset: str, seed: int, overrides: dict[str, Any] | None = None, template: str | Path | None = None
) -> PrimitiveDataset:
    """The dataset of a preset under `seed`, with knobs overridden and an optional user template file."""
    chosen = get_preset(preset)
    config = apply_overrides(chosen.config(), overrides)
    source = None
    if template is not None:
        try:
            source = Path(template).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise PrimitiveError(f"cannot read template {template}: {error}; pass a readable jinja2 text file")
    return PrimitiveDataset(
        chosen,
        PRIMITIVES[chosen.primitive],
        config,
        seed,
        template_source=source,
        template_name=str(template) if template is not None else None,
    )
