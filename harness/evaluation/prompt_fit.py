"""Refuse (or count) prompts longer than the model's context, before lm-eval runs a single forward pass.

lm-eval keeps only the last `max_length` tokens of a prompt that is too long, without a word: a short-context
model scored "5-shot" then sees a fragment of one example, and its accuracy measures nothing. `PromptFit` wraps
the model's request methods for the duration of `simple_evaluate`, so it reads lm-eval's exact requests (the
contexts it built, with the seeded few-shot draw) as they arrive and before they run. A loglikelihood request
fits when its context and answer tokens fit; a generation request when its context plus `max_gen_toks` does
(lm-eval cuts the context to leave room for the answer). Models without a tokenizer (the oracles) are not checked.
"""

from __future__ import annotations

import contextlib
import logging

from primbench.harness.errors import HarnessError

LOGGER = logging.getLogger("primbench")
REQUEST_METHODS = ("loglikelihood", "generate_until")


class PromptFit:
    """Per task: items cut to the context, the longest prompt in tokens, items seen."""

    def __init__(self, lm, shots: int, allow_truncation: bool):
        self.lm, self.shots, self.allow = lm, shots, allow_truncation
        max_length, encode = getattr(lm, "max_length", None), getattr(lm, "tok_encode", None)
        self.checked = isinstance(max_length, int) and encode is not None
        self.max_length, self.encode = max_length, encode
        self.cut: dict[str, set] = {}
        self.longest: dict[str, int] = {}
        self.items: dict[str, set] = {}

    @property
    def truncated(self) -> dict[str, int]:
        """{task: items whose prompt did not fit}, for every task whose requests were seen."""
        return {task: len(self.cut.get(task, ())) for task in self.items} if self.checked else {}

    def inspect(self, requests, method: str) -> None:
        """Measure every request; refuse on the first task that has a prompt too long, unless allowed."""
        for request in requests:
            task, context, rest = request.task_name, request.args[0], request.args[1]
            if method == "generate_until":
                budget = rest.get("max_gen_toks", getattr(self.lm, "max_gen_toks", 0)) if isinstance(rest, dict) else 0
                length = len(self.encode(context)) + budget
            else:
                length = len(self.encode(context + rest))
            self.items.setdefault(task, set()).add(request.doc_id)
            self.longest[task] = max(self.longest.get(task, 0), length)
            if length > self.max_length:
                self.cut.setdefault(task, set()).add(request.doc_id)
        for task, cut in self.cut.items():
            message = (
                f"{task}: its longest {self.shots}-shot prompt is {self.longest[task]} tokens but the model's "
                f"context is {self.max_length}, so lm-eval would cut {len(cut)} of {len(self.items[task])} prompts; "
                'use fewer shots (--shots), the compact form (--metadata \'{"knobs": {"form": "compact"}}\'), '
                "or a model trained at a longer context"
            )
            if not self.allow:
                raise HarnessError(message + "; --allow-truncation scores the cut prompts anyway")
            LOGGER.warning("%s (scored anyway: --allow-truncation)", message)

    @contextlib.contextmanager
    def watching(self):
        """Route the model's request methods through `inspect` for the block, then restore them."""
        if not self.checked:
            yield self
            return
        wrapped = []
        for method in REQUEST_METHODS:
            original = getattr(self.lm, method, None)
            if original is None:
                continue

            def checked(requests, *args, _original=original, _method=method, **kwargs):
                self.inspect(requests, _method)
                return _original(requests, *args, **kwargs)

            setattr(self.lm, method, checked)  # an instance attribute shadows the class's method
            wrapped.append(method)
        try:
            yield self
        finally:
            for method in wrapped:
                delattr(self.lm, method)
