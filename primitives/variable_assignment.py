"""Variable assignment: follow a chain of `depth` references from the queried variable to a number.

Depth 0 asks for a variable assigned a number (`a=1, b=2, b=?` -> 2); depth 1 asks for an alias of one
(`c=a, c=?`), depth 2 for an alias of an alias. `chains` chains of that depth are written (one is queried, the
rest are same-depth distractors), plus `distractor_chains` shorter ones. Base values are distinct, so chance is
1/chains. The math and code forms follow docs/paper.md section 3; `--set form=compact` writes the one-line form of its
examples (`a=1, b=2, c=a, c=?`) with no header. For short contexts: a 5-shot depth-1 prompt is about 380 tokens in
the math form, 290 compact, 190 compact with `--set chains=3` (estimated as words, punctuation and newlines).

Template names: `statements` (list of (name, value) pairs in prompt order), `query`, `depth`, `config`.
The solver reads `name=value` / `name = value` statements (one per line or comma-separated) and `value of NAME?`
or `NAME=?`; a user template must keep both.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from primbench.primitives.dataset import exact_match
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.knobs import check_ranges, knob

NAME = "variable_assignment"
VARIABLE_NAMES = string.ascii_lowercase


@dataclass(frozen=True)
class Config:
    form: str = knob(
        "math",
        "surface form: math and code follow docs/paper.md section 3; compact is the one-line "
        "form of its examples (a=1, b=a, b=?)",
        choices=("math", "code", "compact"),
    )
    depth: int = knob(0, "references to follow from the query to a number", low=0, high=25)
    chains: int = knob(5, "chains of full depth; one holds the query", low=1, high=26)
    distractor_chains: int = knob(0, "extra chains shorter than depth (depth >= 1)", low=0, high=25)
    min_value: int = knob(1, "smallest assigned number", low=0, high=9999)
    max_value: int = knob(25, "largest assigned number", low=0, high=9999)
    order: str = knob(
        "levels",
        "levels: numbers, then aliases level by level; interleaved: any order that "
        "defines each variable before its use",
        choices=("levels", "interleaved"),
    )

    def max_variables(self) -> int:
        return self.chains * (self.depth + 1) + self.distractor_chains * self.depth

    def validate(self) -> None:
        check_ranges(self)
        if self.distractor_chains and self.depth == 0:
            raise PrimitiveError(
                "distractor_chains are shorter than depth, so depth 0 has none; "
                "use --set chains=N for more depth-0 variables"
            )
        if self.max_variables() > len(VARIABLE_NAMES):
            raise PrimitiveError(
                f"depth {self.depth} with {self.chains} chains and {self.distractor_chains} distractor chains "
                f"needs up to {self.max_variables()} variables but only {len(VARIABLE_NAMES)} names (a-z) exist; "
                f"lower depth, chains or distractor_chains"
            )
        values = self.max_value - self.min_value + 1
        if values < self.chains + self.distractor_chains:
            raise PrimitiveError(
                f"values {self.min_value}..{self.max_value} give {max(values, 0)} distinct numbers but "
                f"{self.chains + self.distractor_chains} chains need one each; widen min_value..max_value"
            )


PRESETS = {
    f"d{depth}_{form}": (
        f"depth-{depth} variable assignment, {form} form (paper suite)",
        {"form": form, "depth": depth},
    )
    for depth in (0, 1, 2)
    for form in ("math", "code")
}
PRESETS["d3_math"] = ("depth-3 variable assignment, math form (harder than the paper)", {"form": "math", "depth": 3})
PRESETS["d2_math_interleaved"] = (
    "depth 2, statements in any valid order instead of level by level",
    {"form": "math", "depth": 2, "order": "interleaved"},
)


def template_name(config: Config) -> str:
    return f"variable_assignment_{config.form}.j2"


def generate(config: Config, rng) -> dict:
    """Draw the chains and the statement order; the queried chain is the first one."""
    depths = [config.depth] * config.chains + [rng.randrange(config.depth) for _ in range(config.distractor_chains)]
    names = rng.sample(VARIABLE_NAMES, sum(depths) + len(depths))
    values = [str(value) for value in rng.sample(range(config.min_value, config.max_value + 1), len(depths))]
    chains, position = [], 0
    for depth in depths:
        chains.append(names[position : position + depth + 1])
        position += depth + 1
    if config.order == "levels":
        statements = []
        for level in range(config.depth + 1):
            row = [_statement(chain, value, level) for chain, value in zip(chains, values) if level < len(chain)]
            rng.shuffle(row)
            statements += row
    else:
        statements = _interleave(chains, values, rng)
    return {
        "depth": config.depth,
        "query": chains[0][-1],
        "chain": chains[0],
        "names": [name for name, _ in statements],
        "values": [value for _, value in statements],
    }


def _statement(chain: list[str], value: str, level: int) -> tuple[str, str]:
    """(name, right-hand side) of a chain's statement `level` references away from its number."""
    return chain[level], value if level == 0 else chain[level - 1]


def _interleave(chains: list[list[str]], values: list[str], rng) -> list[tuple[str, str]]:
    """A uniformly random order that defines each variable before its use: a shuffle of the chains' turns."""
    turns = [number for number, chain in enumerate(chains) for _ in chain]
    rng.shuffle(turns)
    written = [0] * len(chains)
    statements = []
    for number in turns:
        statements.append(_statement(chains[number], values[number], written[number]))
        written[number] += 1
    return statements


def answer(meta: dict) -> str:
    values = dict(zip(meta["names"], meta["values"]))
    value = meta["query"]
    while value in values:
        value = values[value]
    return value


def problem_key(meta: dict) -> str:
    """What the prompt shows (the statements in order, the query): the text whose hash picks the split."""
    return f"{' '.join(meta['names'])} / {' '.join(meta['values'])} / {meta['query']}"


def template_context(meta: dict, config: Config) -> dict:
    return {
        "statements": list(zip(meta["names"], meta["values"])),
        "query": meta["query"],
        "depth": meta["depth"],
        "config": config,
    }


def enumerate_problems(config: Config, limit: int) -> None:
    """Names alone give 26!/(26-k)! orderings: never small enough to enumerate."""
    return None


_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*([A-Za-z_]\w*|-?\d+)\s*$", re.MULTILINE)
_QUESTION = re.compile(r"value of ([A-Za-z_]\w*)\s*\?|^\s*([A-Za-z_]\w*)\s*=\s*\?", re.MULTILINE)


def solve(prompt: str) -> str:
    """Follow the references from the queried variable, reading only the prompt text."""
    statements = prompt.replace(",", "\n")  # the compact form puts all statements on one line
    question = _QUESTION.findall(statements)
    if not question:
        raise PrimitiveError("not a variable-assignment prompt: no 'value of NAME?' or 'NAME=?' question found")
    assignments = dict(_ASSIGNMENT.findall(statements))
    value, seen = "".join(question[-1]), set()
    while not value.lstrip("-").isdigit():
        if value in seen or value not in assignments:
            raise PrimitiveError(f"variable-assignment prompt does not define {value!r}")
        seen.add(value)
        value = assignments[value]
    return value


score = exact_match
