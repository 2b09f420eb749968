"""PrimitiveDataset: random access to the records of one preset, with disjoint splits.

Why it is built this way:
- Item i of split s draws from its own `Entropy`, a shake_256 hash of (seed, preset, knobs, split, i) whose
  constant prefix is hashed once per split. Not seed + i (neighbouring seeds would share items) and not
  `hash()` (PYTHONHASHSEED).
- A problem belongs to exactly one split: the blake2b hash of its key (the drawn values the prompt shows, as
  text: `primitive.problem_key`) picks the split, for every seed and preset. An item for split s redraws from
  its own stream until its problem lands in s; only the accepted problem is rendered. Packaged templates show
  every drawn value (distinct problems, distinct prompts), so no prompt can appear in two splits; the writer
  re-checks that for every template, a user's included.
- Small knob spaces (single-digit PSM has 110 problems) are enumerated once: each split is then a seeded
  permutation of exactly the problems that hash into it, so items are distinct and `capacity` is exact.
- Spaces of at most SMALL_SPACE problems give test half of the hash range (PSM: 45 test items, not 19), so that
  an interval over its items can separate models. The ranges nest: small-space test is large-space validation
  plus test, and small-space train lies inside large-space train, so no problem is train in one space and test
  in another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator

import jinja2

from primbench.primitives.entropy import Entropy
from primbench.primitives.errors import PrimitiveError

SPLITS = ("train", "validation", "test")
DEFAULT_SEED = 0  # the dataset seed when none is given: `primbench show`, `generate` and the lm-eval tasks
# Shares of the problem-hash space. Even-ish shares bound the redraws an item needs (at most 4 on average); small
# spaces, where an item is a cached lookup and not a redraw, give test half of the range instead.
SPLIT_SHARES = {"train": 0.5, "validation": 0.25, "test": 0.25}
SMALL_SPACE_SPLIT_SHARES = {"train": 0.45, "validation": 0.05, "test": 0.5}
SMALL_SPACE = 1_000  # enumerated spaces up to this many problems take SMALL_SPACE_SPLIT_SHARES
ENUMERATION_LIMIT = 100_000  # spaces up to this many problems are enumerated (exact capacity, no duplicates)
MAX_DRAWS = 2_000  # redraws before giving up on a split the knob space cannot fill


def _upper_bounds(shares: dict[str, float]) -> list[tuple[int, str]]:
    bounds, total = [], 0.0
    for split in SPLITS:
        total += shares[split]
        bounds.append((round(total * 2**64), split))
    return bounds


_BOUNDS = {False: _upper_bounds(SPLIT_SHARES), True: _upper_bounds(SMALL_SPACE_SPLIT_SHARES)}


def split_of(key: str, small_space: bool = False) -> str:
    """The split a problem belongs to, from a hash of its key and the size class of its space alone."""
    point = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    for bound, split in _BOUNDS[small_space]:
        if point < bound:
            return split
    return SPLITS[-1]


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("primbench.primitives", "templates"),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    autoescape=False,
)


def load_template(name: str | None, source: str | None = None) -> jinja2.Template:
    """A packaged template by file name, or a user's template from its source text."""
    if source is None:
        return _ENVIRONMENT.get_template(name)
    try:
        return _ENVIRONMENT.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise PrimitiveError(f"template {name or ''} line {error.lineno}: {error.message}; fix the jinja2 syntax")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise PrimitiveError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


class PrimitiveDataset:
    """The records of one preset under one seed and knob setting; every record is a pure function of its index."""

    def __init__(
        self, preset, primitive, config, seed: int, template_source: str | None = None, template_name: str | None = None
    ):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise PrimitiveError(f"seed must be a non-negative integer, not {seed!r}; e.g. --seed 0")
        config.validate()
        self.preset = preset
        self.primitive = primitive
        self.config = config
        self.seed = seed
        self.knobs = dataclasses.asdict(config)
        self.template_name = template_name or primitive.template_name(config)
        self.template_source = template_source
        self._template = load_template(self.template_name, template_source)
        self._key = json.dumps(self.knobs, sort_keys=True)
        # Entropy.of(seed, preset, knobs, split, index) with the constant prefix hashed once per split.
        self._item_hashers = {
            split: hashlib.shake_256(f"{seed}\x1f{preset.name}\x1f{self._key}\x1f{split}\x1f".encode())
            for split in SPLITS
        }
        self._space: dict[str, list[tuple[dict, str]]] | None = None
        self._space_checked = False
        if template_source is not None:
            self._check_user_template()

    # -- one record -------------------------------------------------------------------------------------------
    def render(self, meta: dict) -> str:
        """The prompt text of a problem: the template over the drawn values plus the knobs."""
        # Template.render() copies the environment's globals into a fresh context per call; one shared context
        # over {globals, values} renders the same text in about half the time, which matters at ~1 render/record.
        template = self._template
        context = template.new_context(
            {**_ENVIRONMENT.globals, **self.primitive.template_context(meta, self.config)}, shared=True
        )
        try:
            text = _ENVIRONMENT.concat(template.root_render_func(context))
        except jinja2.UndefinedError as error:
            names = ", ".join(sorted(self.primitive.template_context(meta, self.config)))
            raise PrimitiveError(f"template {self.template_name}: {error.message}; available names: {names}")
        except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError) as error:
            if self.template_source is None:
                raise  # a packaged template failing is our bug, not the user's
            raise PrimitiveError(f"template {self.template_name} fails to render: {error}; fix the template")
        return text.strip()

    def split_of_problem(self, meta: dict) -> str:
        """The split a problem's drawn values belong to."""
        return split_of(self.primitive.problem_key(meta), self.small_space)

    @property
    def small_space(self) -> bool:
        """Whether the knob space is small enough to give test half of its problems."""
        space = self._enumerated()
        return space is not None and sum(map(len, space.values())) <= SMALL_SPACE

    @property
    def split_shares(self) -> dict[str, float]:
        return SMALL_SPACE_SPLIT_SHARES if self.small_space else SPLIT_SHARES

    def _check_user_template(self) -> None:
        entropy = Entropy.of(self.seed, self.preset.name, self._key, "template-check")
        prompt = self.render(self.primitive.generate(self.config, entropy))
        if not prompt:
            raise PrimitiveError(f"template {self.template_name} renders an empty prompt; it must show the problem")

    def _draw(self, split: str, index: int) -> dict:
        """The first problem drawn from item `index`'s entropy whose key hashes into `split`."""
        hasher = self._item_hashers[split].copy()
        hasher.update(str(index).encode())
        entropy = Entropy(hasher)
        generate, problem_key, config = self.primitive.generate, self.primitive.problem_key, self.config
        for _ in range(MAX_DRAWS):
            meta = generate(config, entropy)
            if split_of(problem_key(meta)) == split:
                return meta
        raise PrimitiveError(
            f"{self.preset.name}: no problem landed in split {split} after {MAX_DRAWS} draws; "
            f"the knob space is too small, widen it with --set"
        )

    def _enumerated(self) -> dict[str, list[tuple[dict, str]]] | None:
        """Per split, a seeded permutation of every problem hashing into it; None when the space is large."""
        if not self._space_checked:
            self._space_checked = True
            problems = self.primitive.enumerate_problems(self.config, ENUMERATION_LIMIT)
            if problems is not None:
                small = len(problems) <= SMALL_SPACE
                key = self.primitive.problem_key
                space: dict[str, list[tuple[dict, str]]] = {split: [] for split in SPLITS}
                for meta in problems:
                    space[split_of(key(meta), small)].append((meta, self.render(meta)))
                for split in SPLITS:
                    Entropy.of(self.seed, self.preset.name, self._key, split, "order").shuffle(space[split])
                self._space = space
        return self._space

    def record(self, split: str, index: int) -> dict:
        """Record `index` of `split` (keys in the contract's order)."""
        check_split(split)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise PrimitiveError(f"record index must be a non-negative integer, not {index!r}")
        space = self._enumerated()
        if space is None:
            meta = self._draw(split, index)
            prompt = self.render(meta)
        elif index < len(space[split]):
            shared, prompt = space[split][index]
            # A copy, so that a caller editing a record cannot change the cached problem behind later records.
            meta = {key: list(value) if isinstance(value, list) else value for key, value in shared.items()}
        else:
            raise PrimitiveError(
                f"{self.preset.name}: split {split} holds {len(space[split])} distinct problems, "
                f"so there is no record {index}; widen the knobs with --set or ask for fewer"
            )
        return {
            "id": f"{self.preset.primitive}/{self.preset.variant}/{split}/{index:06d}",
            "primitive": self.preset.primitive,
            "preset": self.preset.name,
            "split": split,
            "index": index,
            "prompt": prompt,
            "answer": self.primitive.answer(meta),
            "meta": meta,
        }

    def records(self, split: str, n: int, start: int = 0) -> Iterator[dict]:
        """Records start .. start+n-1 of a split, one at a time (constant memory)."""
        self.check_counts({split: start + n})
        for index in range(start, start + n):
            yield self.record(split, index)

    # -- sizes ------------------------------------------------------------------------------------------------
    def capacity(self, split: str) -> int | None:
        """Distinct problems the split holds, or None when the space is too large to matter."""
        check_split(split)
        space = self._enumerated()
        return None if space is None else len(space[split])

    def check_counts(self, counts: dict[str, int]) -> None:
        """Raise PrimitiveError, with the numbers, if any split cannot hold the count asked of it."""
        for split, wanted in counts.items():
            available = self.capacity(split)
            if available is not None and wanted > available:
                total = sum(self.capacity(s) for s in SPLITS)
                raise PrimitiveError(
                    f"{self.preset.name}: asked for {wanted} {split} records but its knobs allow only {total} "
                    f"distinct problems, {available} of them in {split}; ask for at most {available} "
                    f"or widen the knob space with --set"
                )


def exact_match(prediction: str, record: dict) -> bool:
    """Exact match of the answer, tolerating surrounding whitespace and nothing else."""
    return isinstance(prediction, str) and prediction.strip() == record["answer"]
