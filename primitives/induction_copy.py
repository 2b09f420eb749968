"""Induction copying: random tokens, then a repeat of a prefix of them; the answer is what followed the prefix.

`Sequence: cat lamp sun tree fish rain gold map cat` -> `lamp`. All tokens of the sequence and the filler are
distinct, so the repeated prefix (the cue) occurs exactly once before its repeat and the answer is unambiguous.
`filler` adds distinct random tokens between the sequence and the repeat (a longer gap to copy across).

Template names: `sequence`, `filler`, `cue` (lists of tokens), `answer_tokens`, `unit` (word, letter, digit,
syllable), `config`. The solver reads the line after `Sequence:` and the count in `next N`; a user template
must keep both.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from primbench.primitives.dataset import exact_match
from primbench.primitives.errors import PrimitiveError
from primbench.primitives.knobs import check_ranges, knob
from primbench.primitives.vocabularies import UNITS, VOCABULARIES

NAME = "induction_copy"


@dataclass(frozen=True)
class Config:
    vocabulary: str = knob(
        "words",
        "token set: common English words (189), letters (26), digits (10) or made-up syllables (70)",
        choices=tuple(VOCABULARIES),
    )
    length: int = knob(8, "tokens in the sequence before the repeat", low=2, high=64)
    prefix_length: int = knob(1, "tokens of the sequence's start that are repeated (the cue)", low=1, high=63)
    answer_length: int = knob(
        1, "tokens that followed the cue, to be copied (1 = one token, more = a span)", low=1, high=63
    )
    filler: int = knob(0, "distinct random tokens between the sequence and the repeat", low=0, high=64)

    def validate(self) -> None:
        check_ranges(self)
        if self.prefix_length + self.answer_length > self.length:
            raise PrimitiveError(
                f"prefix_length {self.prefix_length} + answer_length {self.answer_length} exceeds length "
                f"{self.length}: the answer must lie inside the sequence; raise length or shorten the others"
            )
        size = len(VOCABULARIES[self.vocabulary])
        if self.length + self.filler > size:
            raise PrimitiveError(
                f"length {self.length} + filler {self.filler} needs {self.length + self.filler} distinct tokens but "
                f"vocabulary {self.vocabulary} has {size}; shorten them or use --set vocabulary=words"
            )


PRESETS = {
    "words": ("8 common words, then the first one again; copy the word that followed (paper suite)", {}),
    "letters": ("8 letters, then the first one again; copy the next letter", {"vocabulary": "letters"}),
    "digits": ("8 digits, then the first one again; copy the next digit", {"vocabulary": "digits"}),
    "syllables": ("8 made-up syllables, then the first one again; copy the next syllable", {"vocabulary": "syllables"}),
    "words_span": (
        "12 words, the first two repeated; copy the next three",
        {"length": 12, "prefix_length": 2, "answer_length": 3},
    ),
    "words_gap": ("8 words, 8 filler words, then the first word again; copy across the gap", {"filler": 8}),
}


def template_name(config: Config) -> str:
    return "induction_copy.j2"


def _meta(config: Config, tokens: tuple[str, ...] | list[str]) -> dict:
    start, end = config.prefix_length, config.prefix_length + config.answer_length
    return {
        "sequence": list(tokens[: config.length]),
        "filler": list(tokens[config.length :]),
        "cue": list(tokens[:start]),
        "answer_tokens": list(tokens[start:end]),
    }


def generate(config: Config, rng) -> dict:
    return _meta(config, rng.sample(VOCABULARIES[config.vocabulary], config.length + config.filler))


def answer(meta: dict) -> str:
    return " ".join(meta["answer_tokens"])


def problem_key(meta: dict) -> str:
    """What the prompt shows (the tokens, then how many to copy): the text whose hash picks the split."""
    return f"{' '.join(meta['sequence'] + meta['filler'] + meta['cue'])} / {len(meta['answer_tokens'])}"


def template_context(meta: dict, config: Config) -> dict:
    return {**meta, "unit": UNITS[config.vocabulary], "config": config}


def enumerate_problems(config: Config, limit: int) -> list[dict] | None:
    """Every arrangement of distinct tokens, when there are at most `limit` of them (short digit sequences)."""
    vocabulary = VOCABULARIES[config.vocabulary]
    if math.perm(len(vocabulary), config.length + config.filler) > limit:
        return None
    return [_meta(config, tokens) for tokens in itertools.permutations(vocabulary, config.length + config.filler)]


_SEQUENCE = re.compile(r"Sequence:[ \t]*(.+)")
_COUNT = re.compile(r"next (\d+)")


def solve(prompt: str) -> str:
    """Find where the sequence's first token recurs (the start of the repeat) and copy what followed it."""
    sequence, count = _SEQUENCE.search(prompt), _COUNT.search(prompt)
    if not sequence or not count:
        raise PrimitiveError("not an induction-copy prompt: needs 'Sequence: ...' and 'next N'")
    tokens = sequence.group(1).split()
    repeat = max(i for i, token in enumerate(tokens) if token == tokens[0])
    if repeat == 0:
        raise PrimitiveError("induction-copy prompt has no repeat of the sequence's first token")
    cue_length = len(tokens) - repeat
    if tokens[:cue_length] != tokens[repeat:]:
        raise PrimitiveError("induction-copy prompt: the repeat does not match the sequence's start")
    return " ".join(tokens[cue_length : cue_length + int(count.group(1))])


score = exact_match
