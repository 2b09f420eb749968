"""flexible-extract: the answer's shape found inside a chattier reply, per item, and wired into every `_gen` task."""

import pytest

from primbench.tasks.filters import FALLBACK, FlexibleExtract, flexible_extract


@pytest.mark.parametrize(
    "reply, answer, expected",
    [
        (" 15", "15", "15"),
        ("The value of n is 15.", "15", "15"),
        ("n = -3, so", "-3", "-3"),
        ("x is 4 and y is 9", "9", "4"),  # the first number, not the right one
        ("no idea", "7", FALLBACK),
        (" moon.", "moon", "moon"),
        ("Moon, then city", "moon", "Moon"),  # case is left to exact_match
        ("friend, bridge watch and more", "friend bridge watch", "friend bridge watch"),
        ("friend bridge", "friend bridge watch", FALLBACK),
        ("", "r", FALLBACK),
    ],
)
def test_flexible_extract(reply, answer, expected):
    assert flexible_extract(reply, answer) == expected


def test_the_filter_reads_each_items_own_answer():
    docs = [{"answer": "12"}, {"answer": "lamp card"}]
    replies = [["It is 12!", "12"], ["lamp; card; tea", None]]
    assert FlexibleExtract().apply(replies, docs) == [["12", "12"], ["lamp card", FALLBACK]]
