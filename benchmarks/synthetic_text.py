"""Offline text for the benchmarks: seeded sentences of common words (speed does not depend on what they say)."""

import random

WORDS = (
    "river market stone queen farmer boat apple key road bridge sailor teacher counted painted carried "
    "watched found sold under near after before red silver seven three long empty 12 340 7"
).split()


def sentences(count: int, seed: int = 0) -> list[str]:
    """`count` sentences of 6 to 14 words, each ended by a full stop; the same seed gives the same text."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + "." for _ in range(count)]
