"""The `flexible-extract` filter of every `_gen` task: find the answer inside a chattier reply.

Instruct models answer "The value of n is 15." where a base model answers "15". Strict match scores only the
latter; this filter keeps, per item, the first integer of the reply when the gold answer is an integer, and
otherwise the first run of as many words as the gold answer has (punctuation dropped, words joined by one
space). It reads each item's own answer, so knobs that change the answer's length (`answer_length`) are covered.
"""

from __future__ import annotations

import re

from lm_eval.api.filter import Filter

INTEGER = re.compile(r"-?\d+")
WORD = re.compile(r"[^\W_]+")
FALLBACK = "[invalid]"  # lm-eval's regex filter's marker for "nothing found"; never equals an answer


def flexible_extract(response: str, answer: str) -> str:
    """The part of `response` shaped like `answer`: its first integer, or its first len(answer words) words."""
    if INTEGER.fullmatch(answer.strip()):
        found = INTEGER.search(response)
        return found.group(0) if found else FALLBACK
    size = len(WORD.findall(answer)) or 1
    words = WORD.findall(response)
    return " ".join(words[:size]) if len(words) >= size else FALLBACK


class FlexibleExtract(Filter):
    """lm-eval filter: each reply of an item becomes `flexible_extract(reply, that item's answer)`."""

    def apply(self, resps, docs):
        return [
            [flexible_extract(reply if isinstance(reply, str) else "", doc["answer"]) for reply in replies]
            for replies, doc in zip(resps, docs)
        ]
