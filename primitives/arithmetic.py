"""Arithmetic: pre-school math (PSM) and harder expressions, optionally over variables assigned first.

PSM (the paper's primitive) is a single-digit + or - with a result in 0..9. Knobs widen it: more operands,
more digits, `*` (which binds tighter than + and -), negative operands (written in parentheses), result bounds,
and the `assign` form, which first assigns each operand to a variable and then asks for the expression over
the variable names.

Template names: `expression` (text, e.g. `3 + (-4)` or `a + b`), `operands`, `operators`, `names` and
`assignments` ((name, operand) pairs; assign form only), `config`. The solver reads `name = number` lines and
`What is EXPRESSION?`; a user template must keep both.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass

from primbench.primitives.dataset import exact_match
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.knobs import check_ranges, knob

NAME = "arithmetic"
MAX_DRAWS = 1_000


@dataclass(frozen=True)
class Config:
    form: str = knob(
        "expression",
        "expression: numbers only; assign: variables first, then the expression",
        choices=("expression", "assign"),
    )
    operands: int = knob(2, "numbers in the expression", low=2, high=8)
    digits: int = knob(1, "largest operand has this many digits", low=1, high=6)
    operators: str = knob("+-", "operators to draw from", allowed="any of + - * (e.g. +-*)")
    negatives: bool = knob(False, "allow negative operands")
    min_result: int | None = knob(None, "smallest allowed result (none: no bound)")
    max_result: int | None = knob(None, "largest allowed result (none: no bound)")

    def operand_range(self) -> range:
        largest = 10**self.digits - 1
        return range(-largest if self.negatives else 0, largest + 1)

    def validate(self) -> None:
        check_ranges(self)
        if not self.operators or set(self.operators) - set("+-*") or len(set(self.operators)) != len(self.operators):
            raise PrimitiveError(
                f"operators={self.operators!r} must be distinct characters from + - *, e.g. --set operators=+-*"
            )
        if None not in (self.min_result, self.max_result) and self.min_result > self.max_result:
            raise PrimitiveError(f"min_result {self.min_result} exceeds max_result {self.max_result}; swap them")
        if self.form == "assign" and self.operands > len(string.ascii_lowercase):
            raise PrimitiveError("the assign form names each operand with a letter; use at most 26 operands")


PRESETS = {
    "psm": ("pre-school math: a single-digit + or -, result 0..9 (paper suite)", {"min_result": 0, "max_result": 9}),
    "psm3": (
        "three single-digit operands with + and -, result 0..9",
        {"operands": 3, "min_result": 0, "max_result": 9},
    ),
    "two_digit": ("two two-digit operands with + and -", {"digits": 2}),
    "mixed": ("three single-digit operands with +, - and * (precedence matters)", {"operands": 3, "operators": "+-*"}),
    "negatives": ("two single-digit operands that may be negative, + and -", {"negatives": True}),
    "assign": (
        "assign two single-digit variables, then ask for a + or - of them, result 0..9",
        {"form": "assign", "min_result": 0, "max_result": 9},
    ),
    "assign3": (
        "assign three variables, then an expression with +, - and *",
        {"form": "assign", "operands": 3, "operators": "+-*"},
    ),
}


def template_name(config: Config) -> str:
    return f"arithmetic_{config.form}.j2"


def evaluate(operands: list[int], operators: list[str]) -> int:
    """Left to right, with * folded into the preceding term first (usual precedence)."""
    terms, signs = [operands[0]], []
    for operator, operand in zip(operators, operands[1:]):
        if operator == "*":
            terms[-1] *= operand
        else:
            terms.append(operand)
            signs.append(operator)
    total = terms[0]
    for sign, term in zip(signs, terms[1:]):
        total = total + term if sign == "+" else total - term
    return total


def _in_bounds(config: Config, result: int) -> bool:
    return (config.min_result is None or result >= config.min_result) and (
        config.max_result is None or result <= config.max_result
    )


def _meta(operands: list[int], operators: list[str], result: int, names: list[str] | None) -> dict:
    terms = names or [f"({n})" if n < 0 else str(n) for n in operands]
    expression = terms[0] + "".join(f" {op} {term}" for op, term in zip(operators, terms[1:]))
    meta = {"operands": list(operands), "operators": list(operators), "expression": expression, "result": result}
    if names:
        meta["names"] = list(names)
    return meta


def generate(config: Config, rng) -> dict:
    """Draw operands and operators until the result is within bounds."""
    values = config.operand_range()
    for _ in range(MAX_DRAWS):
        operands = [rng.choice(values) for _ in range(config.operands)]
        operators = [rng.choice(config.operators) for _ in range(config.operands - 1)]
        result = evaluate(operands, operators)
        if _in_bounds(config, result):
            names = rng.sample(string.ascii_lowercase, config.operands) if config.form == "assign" else None
            return _meta(operands, operators, result, names)
    raise PrimitiveError(
        f"no expression with {config.operands} operands of {config.digits} digit(s) drawn in "
        f"{MAX_DRAWS} tries gives a result in {config.min_result}..{config.max_result}; "
        f"widen min_result/max_result"
    )


def answer(meta: dict) -> str:
    return str(meta["result"])


def problem_key(meta: dict) -> str:
    """What the prompt shows (the assignments, if any, and the expression): the text whose hash picks the split."""
    if "names" not in meta:
        return meta["expression"]
    assignments = " ".join(f"{name}={operand}" for name, operand in zip(meta["names"], meta["operands"]))
    return f"{assignments} / {meta['expression']}"


def template_context(meta: dict, config: Config) -> dict:
    return {
        "expression": meta["expression"],
        "operands": meta["operands"],
        "operators": meta["operators"],
        "names": meta.get("names", []),
        "assignments": list(zip(meta.get("names", []), meta["operands"])),
        "config": config,
    }


def enumerate_problems(config: Config, limit: int) -> list[dict] | None:
    """Every in-bounds expression, when operand and operator choices multiply to at most `limit`."""
    values = config.operand_range()
    size = len(values) ** config.operands * len(config.operators) ** (config.operands - 1)
    if config.form == "assign":
        size *= len(string.ascii_lowercase) ** config.operands  # variable names are part of the problem
    if size > limit:
        return None
    problems = []
    for operands in itertools.product(values, repeat=config.operands):
        for operators in itertools.product(config.operators, repeat=config.operands - 1):
            result = evaluate(list(operands), list(operators))
            if _in_bounds(config, result):
                problems.append(_meta(list(operands), list(operators), result, None))
    if not problems:
        raise PrimitiveError(
            f"no expression gives a result in {config.min_result}..{config.max_result}; widen min_result/max_result"
        )
    return problems


# -- the solver: parses the prompt text with its own small recursive-descent parser ---------------------------
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(-?\d+)\s*$", re.MULTILINE)
_QUESTION = re.compile(r"What is (.+?)\?\s*(?:\n|$)")
_TOKEN = re.compile(r"\s*(\d+|[A-Za-z_]\w*|[-+*()])")


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise PrimitiveError(f"arithmetic prompt has an unreadable expression: {text!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def solve(prompt: str) -> str:
    """Evaluate the question's expression, substituting variables assigned earlier in the prompt."""
    questions = _QUESTION.findall(prompt)
    if not questions:
        raise PrimitiveError("not an arithmetic prompt: no 'What is EXPRESSION?' question found")
    variables = {name: int(value) for name, value in _ASSIGNMENT.findall(prompt)}
    tokens = _tokens(questions[-1])
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise PrimitiveError(f"arithmetic prompt ends mid-expression: {questions[-1]!r}")
        position += 1
        return tokens[position - 1]

    def atom() -> int:
        token = take()
        if token == "(":
            value = expression()
            if take() != ")":
                raise PrimitiveError(f"unbalanced parentheses in {questions[-1]!r}")
            return value
        if token == "-":
            return -atom()
        if token.isdigit():
            return int(token)
        if token in variables:
            return variables[token]
        raise PrimitiveError(f"arithmetic prompt uses {token!r} without assigning it")

    def term() -> int:
        value = atom()
        while peek() == "*":
            take()
            value *= atom()
        return value

    def expression() -> int:
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    result = expression()
    if position != len(tokens):
        raise PrimitiveError(f"arithmetic prompt has trailing text in {questions[-1]!r}")
    return str(result)


score = exact_match
