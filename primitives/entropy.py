"""Entropy: the random draws of one item, decoded from a hash of what names the item.

Why not one `random.Random` per item: seeding a Mersenne Twister costs more than drawing a small problem, and
`sample`/`shuffle` run a Python loop of `_randbelow` calls. Here an item's hash (shake_256, extended block by
block on demand) is read as one big integer and every draw takes its value by `divmod` (mixed-radix decoding).
A draw from `n` values is made only while the integer still spans at least `n * 2**64` values, so each draw is
uniform up to a bias below 2**-64. The methods mirror `random.Random`'s (`randrange`, `choice`, `sample`,
`shuffle`), so a primitive's `generate` reads the same with either.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import MutableSequence, Sequence
from typing import Any

_BLOCK_BYTES = 64
_HEADROOM_BITS = 64
_COPY_LIMIT = 512  # populations up to this size are copied by sample(); larger ones are not


class Entropy:
    """Uniform draws read from shake_256(material + block number) for block numbers 0, 1, 2, ..."""

    __slots__ = ("_blocks", "_hasher", "_room", "_value")

    def __init__(self, hasher: Any):
        """`hasher`: a shake_256 object that has absorbed the item's material (it is copied, not changed)."""
        self._hasher = hasher
        self._blocks = 0
        self._value = 0  # uniform in [0, _room)
        self._room = 1

    @classmethod
    def of(cls, *parts: Any) -> Entropy:
        """Entropy named by the parts, joined by a separator no part's text is expected to hold."""
        return cls(hashlib.shake_256("\x1f".join(str(part) for part in parts).encode()))

    def _refill(self) -> None:
        block = self._hasher.copy()
        block.update(self._blocks.to_bytes(4, "big"))
        self._blocks += 1
        self._value = (self._value << 8 * _BLOCK_BYTES) | int.from_bytes(block.digest(_BLOCK_BYTES), "big")
        self._room <<= 8 * _BLOCK_BYTES

    def randrange(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        while self._room >> _HEADROOM_BITS < n:
            self._refill()
        self._value, drawn = divmod(self._value, n)
        self._room = -(-self._room // n)
        return drawn

    def choice(self, items: Sequence) -> Any:
        return items[self.randrange(len(items))]

    def sample(self, population: Sequence, k: int) -> list:
        """k distinct items in random order: a partial Fisher-Yates shuffle, all positions from one draw."""
        n = len(population)
        code = self.randrange(math.perm(n, k))
        if n <= _COPY_LIMIT:  # swapping in a copy is fastest for vocabularies and name lists
            pool = list(population)
            for i in range(k):
                code, offset = divmod(code, n - i)
                j = i + offset
                pool[i], pool[j] = pool[j], pool[i]
            return pool[:k]
        moved: dict[int, int] = {}  # large ranges (values up to 9999): record only the swapped positions
        picked = []
        for i in range(k):
            code, offset = divmod(code, n - i)
            j = i + offset
            picked.append(population[moved.get(j, j)])
            moved[j] = moved.get(i, i)
        return picked

    def shuffle(self, items: MutableSequence) -> None:
        """Shuffle in place (Fisher-Yates, all positions from one draw)."""
        n = len(items)
        code = self.randrange(math.factorial(n))
        for i in range(n - 1):
            code, offset = divmod(code, n - i)
            j = i + offset
            items[i], items[j] = items[j], items[i]
