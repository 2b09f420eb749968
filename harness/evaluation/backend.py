"""lm-eval's Hugging Face backend, with the output head applied only where an answer is scored: `primbench-hf`.

lm-eval's `hf` backend scores a batch of (context, continuation) requests by computing logits at every position
and log-softmaxing the whole `[batch, sequence, vocabulary]` tensor, then reading the few continuation positions:
with a 262k vocabulary that is gigabytes per batch and most of the time. `PrimbenchLM` keeps everything else of
`HFLM` (request building, tokenisation, length-sorted batches, left truncation, right padding, the one-token
continuation cache, generation through `generate` with its stop strings) and changes one step: each batch runs the
model once with `logits_to_keep` set to a boolean mask of the continuation positions. transformers then gathers
those rows of the last hidden state before the model's own output head, so the model itself applies the head and
whatever follows it (Gemma's final soft-capping, tied embeddings), and the log-softmax covers only scored rows.

    import primbench.harness.evaluation  # registers the name with lm-eval
    lm_eval.simple_evaluate(model="primbench-hf", model_args={"pretrained": folder}, tasks=[...])
    python -m primbench.harness.evaluation --model primbench-hf --model_args pretrained=MODEL ...  # lm-eval's CLI
"""

from __future__ import annotations

import inspect
import logging
import re
from importlib import metadata

import torch
import torch.nn.functional as F
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import Collator
from lm_eval.models.utils_hf import pad_and_concat
from tqdm import tqdm

from primbench.harness.errors import HarnessError
from primbench.harness.evaluation import BACKEND_NAME
from primbench.harness.evaluation.models import check_model_source

logger = logging.getLogger(__name__)

Request = tuple[tuple[str, str], list[int], list[int]]  # (strings for the cache, context tokens, continuation)
# The parameters of the private HFLM method overridden below, as lm-eval 0.4.13 defines them.
OVERRIDDEN_PARAMETERS = ("self", "requests", "disable_tqdm", "override_bs")


def supported_lm_eval() -> str:
    """The lm-eval version range primbench declares (pyproject.toml, read back from the installed metadata)."""
    for requirement in metadata.requires("primbench") or ():
        name, spec = re.match(r"\s*([A-Za-z0-9_.-]+)\s*([^;]*)", requirement).groups()
        if name.lower().replace("_", "-") == "lm-eval":
            return spec.strip()
    return ""  # pragma: no cover - an install without metadata; the check below still names the method


def check_overridden_method(method=HFLM._loglikelihood_tokens) -> None:
    """Refuse, in one line naming the supported range, an lm-eval whose HFLM method we override has changed shape.

    A silent mismatch would score with arguments the stock method no longer passes, or skip ones it now does."""
    found = tuple(inspect.signature(method).parameters)
    if found != OVERRIDDEN_PARAMETERS:
        supported = supported_lm_eval()
        raise HarnessError(
            f"lm-eval {metadata.version('lm-eval')} changed HFLM._loglikelihood_tokens to ({', '.join(found)}), "
            f"which the primbench-hf backend overrides; install a supported lm-eval: pip install 'lm-eval{supported}'"
        )


check_overridden_method()


@register_model(BACKEND_NAME)
class PrimbenchLM(HFLM):
    """`HFLM` whose loglikelihood runs the decoder once per batch and the output head at the scored rows only."""

    def __init__(self, *args, **kwargs):
        pretrained = kwargs.get("pretrained", args[0] if args else None)
        if isinstance(pretrained, str):  # lm-eval's CLI passes a name: refuse a missing or broken folder in one line
            check_model_source(pretrained)
        super().__init__(*args, **kwargs)
        # decided by the first batch: True, or False for a model that rejects or ignores logits_to_keep=<mask>
        self.scores_positions_only = self.backend == "causal"

    def scored_logits(self, inputs: torch.Tensor, scored: torch.Tensor) -> torch.Tensor | None:
        """Logits `[scored.sum(), vocab]` at the True positions of `scored` (row by row), in one forward pass.

        transformers 5's `slice_logits_to_keep` does this for its causal LMs. A model that rejects the mask or
        returns another shape (an older transformers, a custom forward) gives None, and is scored the stock way.
        """
        try:
            logits = self._forward(inputs, scored)
        except torch.OutOfMemoryError:
            raise
        except (TypeError, ValueError, IndexError, RuntimeError) as error:
            logits, reason = None, f"{type(error).__name__}: {error}"
        else:
            reason = f"logits of shape {tuple(logits.shape)}"
        if logits is None or logits.shape[:-1] != (int(scored.sum()),):
            logger.warning(
                f"{type(self.model).__name__} does not honour logits_to_keep=<mask> ({reason[:120]}); "
                "scoring with lm-eval's full logits"
            )
            self.scores_positions_only = False
            return None
        return logits

    def _forward(self, inputs: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=self.device.type,
                dtype=self.mixed_precision_dtype,
                enabled=self.mixed_precision_dtype is not None,
            ),
        ):
            return self.model(inputs, logits_to_keep=scored, use_cache=False).logits

    def _loglikelihood_tokens(
        self, requests: list[Request], disable_tqdm: bool = False, override_bs: int | None = None
    ) -> list[tuple[float, bool]]:
        """`HFLM._loglikelihood_tokens` for decoder-only models, step for step, but for the logits it computes.

        The stock method builds its batches, calls the model and slices the continuations inside one loop, so
        there is no smaller piece to override. Everything a score depends on is the same: the Collator order
        (longest first), the batch sizes (fixed or `auto`), the window `(context + continuation)[-(max_length +
        1):][:-1]`, zero right-padding, the softmax dtype, the greedy check and the cache hooks.
        """
        if not self.scores_positions_only:
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        ordered = Collator(
            requests,
            sort_fn=_longest_first,
            group_by="contexts" if self.logits_cache else None,
            group_fn=_shared_prefix,
        )
        batch_size = self.batch_size if self.batch_size != "auto" else override_bs if override_bs is not None else 0
        batch_fn = None
        if self.batch_size == "auto" and len(ordered) > 0 and not override_bs:
            batch_fn = self._batch_scheduler
            self.batch_sizes = {}  # detect afresh for these requests, as the stock method does
        answers = []
        progress = tqdm(
            total=len(requests), disable=(disable_tqdm or self.rank != 0), desc="Running loglikelihood requests"
        )
        for chunk in ordered.get_batched(n=batch_size, batch_fn=batch_fn):
            windows = [self._window(context, continuation) for _, context, continuation in chunk]
            lengths = [len(window) for window in windows]
            inputs = pad_and_concat(
                max(lengths), [torch.tensor(w, dtype=torch.long, device=self.device) for w in windows], "right"
            )
            scored = torch.zeros_like(inputs, dtype=torch.bool)
            for row, (length, (_, _, continuation)) in enumerate(zip(lengths, chunk)):
                scored[row, length - len(continuation) : length] = True
            batch_logits = self.scored_logits(inputs, scored)
            if batch_logits is None:  # the first batch shows it; the stock method then answers every request
                progress.close()
                return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
            logprobs = F.log_softmax(batch_logits, dim=-1, dtype=self.softmax_dtype)
            per_request = logprobs.split([len(continuation) for _, _, continuation in chunk])
            for (request_str, context, continuation), logits in zip(chunk, per_request):
                logits = logits.unsqueeze(0)  # [1, continuation, vocab]
                greedy_tokens = logits.argmax(dim=-1)
                for request_str, cont_toks, logits in ordered.get_cache(  # noqa: B020, PLW2901 - as in HFLM
                    req_str=request_str, cxt_toks=context, cont_toks=continuation, logits=logits
                ):
                    cont_toks = torch.tensor(cont_toks, dtype=torch.long, device=self.device).unsqueeze(0)
                    is_greedy = (greedy_tokens[:, -cont_toks.shape[1] :] == cont_toks).all()
                    token_logprobs = torch.gather(logits, 2, cont_toks.unsqueeze(-1)).squeeze(-1)
                    answer = (float(token_logprobs.sum()), bool(is_greedy))
                    answers.append(answer)
                    if request_str is not None:  # loglikelihood_rolling's windows are cached per document
                        self.cache_hook.add_partial("loglikelihood", request_str, answer)
                    progress.update(1)
        progress.close()
        return ordered.get_original(answers)

    def _window(self, context: list[int], continuation: list[int]) -> list[int]:
        """The model's input for one request: lm-eval's left truncation to `max_length + 1` tokens, last one off."""
        assert context and continuation and len(continuation) <= self.max_length  # lm-eval's own preconditions
        total = len(context) + len(continuation)
        if total > self.max_length + 1:
            logger.warning(
                f"Combined length of context ({len(context)}) and continuation ({len(continuation)}) exceeds "
                f"model's maximum length ({self.max_length}). Truncating {total - self.max_length + 1} tokens "
                "from the left."
            )
        return (context + continuation)[-(self.max_length + 1) :][:-1]


def _longest_first(request: Request):
    """HFLM's sort key: longest first (memory errors show at once, batch width is its first row), then tokens."""
    tokens = request[1] + request[2]
    return -len(tokens), tuple(tokens)


def _shared_prefix(request: Request):
    """HFLM's key for the one-token continuation cache: requests with equal inputs share one forward pass."""
    return request[-2] + request[-1][:-1]
