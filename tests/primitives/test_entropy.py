"""Entropy: the per-item draws are deterministic, in range, distinct where asked, and close to uniform."""

import collections
import itertools
import math

from primbench.primitives.entropy import Entropy


def test_same_material_gives_the_same_draws_and_other_material_others():
    def draws(*parts):
        entropy = Entropy.of(*parts)
        return [entropy.randrange(1000) for _ in range(50)] + entropy.sample(range(100), 10)

    assert draws(0, "train", 7) == draws(0, "train", 7)
    assert draws(0, "train", 7) != draws(0, "train", 8) != draws(1, "train", 7)


def test_draws_stay_in_range_and_read_more_hash_when_they_need_it():
    entropy = Entropy.of("refill")
    huge = [entropy.randrange(2**1500) for _ in range(4)]  # each needs several 512-bit blocks
    assert all(0 <= value < 2**1500 for value in huge) and len(set(huge)) == 4
    assert max(huge) > 2**1490  # the high bits are filled too
    assert all(0 <= entropy.randrange(3) < 3 for _ in range(1000))


def test_sample_and_shuffle_return_distinct_items_of_the_population():
    entropy = Entropy.of("sample")
    for population, k in ((list("abcdefghij"), 10), (range(10_000), 25), (tuple("xyz"), 0)):
        picked = entropy.sample(population, k)
        assert len(picked) == len(set(picked)) == k and set(picked) <= set(population)
    items = list(range(20))
    entropy.shuffle(items)
    assert sorted(items) == list(range(20)) and items != list(range(20))


def test_every_ordered_sample_is_about_equally_likely():
    """3 of 4 items: 24 outcomes; 24,000 draws give each about 1,000 (deterministic, so this cannot flake)."""
    counts = collections.Counter(tuple(Entropy.of("uniform", i).sample("abcd", 3)) for i in range(24_000))
    assert set(counts) == set(itertools.permutations("abcd", 3))
    chi_square = sum((count - 1000) ** 2 / 1000 for count in counts.values())
    assert chi_square < 50  # 23 degrees of freedom: p < 0.001 above ~49.7


def test_shuffle_reaches_every_order_evenly():
    counts = collections.Counter()
    for i in range(12_000):
        items = [1, 2, 3, 4]
        Entropy.of("shuffle", i).shuffle(items)
        counts[tuple(items)] += 1
    assert len(counts) == math.factorial(4)
    assert sum((count - 500) ** 2 / 500 for count in counts.values()) < 50
