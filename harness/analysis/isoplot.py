"""Isoplots for any runs: few-shot accuracy against bits per byte, checkpoint by checkpoint.

The paper's isoplot asks "at equal perplexity, which recipe reasons better?". Validation loss only compares runs
that share a tokenizer and a validation set; bits per byte on one text file compares any causal LMs (Llama,
Qwen2, Gemma-3 ...) whatever their tokenizer, since the unit is the file's UTF-8 bytes, not tokens. Only what
transformers exposes for every causal LM is used: the tokenizer, `config` (for the context length) and logits.

A RUN is a training run folder (`checkpoints/*/` and `final/`, primbench's layout), any folder of HF checkpoint
folders, or one HF folder. `primbench reproduce` measures its own isoplot through `measure_checkpoints` too,
with its runs' validation loss as the x value.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from primbench.harness.errors import HarnessError
from primbench.harness.statistics import mean_accuracy
from primbench.tasks.selection import DEFAULT_TASKS

COLUMNS = ("run", "checkpoint", "bits_per_byte", "task", "accuracy", "n")


@dataclasses.dataclass(frozen=True)
class IsoplotPoint:
    """One checkpoint: its x value (bits per byte, or a run's validation loss) and `score_tasks`'s cells."""

    run: str
    checkpoint: str
    x: float
    scores: dict[str, dict]

    @property
    def mean_accuracy(self) -> float | None:
        return mean_accuracy(cell["accuracy"] for cell in self.scores.values())


def run_checkpoints(run: str | Path) -> list[tuple[str, Path]]:
    """(name, folder) of every checkpoint of a run, in training order, `final` last."""
    folder = Path(run).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"run {str(run)!r} is not a folder; pass a training run folder or a Hugging Face folder")
    if (folder / "config.json").is_file():
        return [(folder.name, folder)]
    parent = folder / "checkpoints" if (folder / "checkpoints").is_dir() else folder
    found = sorted(
        (path for path in parent.iterdir() if (path / "config.json").is_file() and path.name != "final"),
        key=lambda path: _natural_key(path.name),
    )
    named = [(str(path.relative_to(folder)), path) for path in found]
    if (folder / "final" / "config.json").is_file():
        named.append(("final", folder / "final"))
    if not named:
        raise HarnessError(
            f"run folder {str(run)!r} holds no checkpoints (no config.json in it, in checkpoints/*/, final/ or its "
            "subfolders); pass a training run folder, a folder of Hugging Face checkpoints, or one HF folder"
        )
    return named


def _natural_key(name: str) -> list:
    """`checkpoint-500` before `checkpoint-1000`: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def context_length(model, tokenizer) -> int:
    """The context lm-eval would use for this model (config's position limit, else the tokenizer's)."""
    from lm_eval.models.utils import resolve_max_length

    return resolve_max_length(model.config, tokenizer)


def bits_per_byte(model, tokenizer, text: str, window: int | None = None) -> float:
    """Next-token NLL of `text` in bits, summed over all its tokens, divided by its UTF-8 byte count.

    The scheme of lm-eval's rolling loglikelihood: the first token is predicted from a prefix token (bos, else
    eos); the tokens are cut into non-overlapping windows of the model's context (or `window`, if shorter),
    and each window is one forward pass over the token before it plus its own tokens but the last.
    """
    import torch

    size = len(text.encode("utf-8"))
    if size == 0:
        raise HarnessError("the --text file is empty; pass a UTF-8 text of a few thousand characters")
    ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if prefix is None:
        raise HarnessError("the tokenizer has neither bos nor eos, so the first token of --text cannot be scored")
    context = context_length(model, tokenizer)
    length = min(window or context, context)
    inputs = [prefix, *ids]
    device = next(model.parameters()).device
    total = 0.0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(ids), length):
            window_inputs = torch.tensor([inputs[start : start + length]], device=device)
            targets = torch.tensor(ids[start : start + length], device=device)
            logits = model(input_ids=window_inputs).logits[0, : len(targets)].float()
            total += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
    return total / math.log(2) / size


def measure_checkpoints(
    checkpoints: Sequence[tuple[str, str, Path]],
    measure_x: Callable,
    tasks: list[str],
    shots: int,
    limit: int | None,
    progress: bool = False,
) -> list[IsoplotPoint]:
    """For each (run, name, folder): load it once, `measure_x(model, tokenizer)` and score `tasks` few-shot."""
    from tqdm.auto import tqdm

    from primbench.harness.evaluation.evaluate import score_tasks
    from primbench.harness.evaluation.models import load_causal_lm, load_tokenizer

    points = []
    for run, name, folder in tqdm(checkpoints, desc="isoplot", unit="checkpoint", disable=not progress):
        model, tokenizer = load_causal_lm(folder, what="checkpoint").eval(), load_tokenizer(str(folder))
        x = measure_x(model, tokenizer)
        scores = score_tasks(model, tokenizer, tasks, shots=shots, limit=limit) if tasks else {}
        points.append(IsoplotPoint(run=run, checkpoint=name, x=x, scores=scores))
        del model
    return points


def isoplot(
    runs: Sequence[str | Path],
    text_file: str | Path,
    tasks: Sequence[str] = DEFAULT_TASKS,
    shots: int = 5,
    limit: int | None = None,
    window: int | None = None,
    progress: bool = True,
) -> list[IsoplotPoint]:
    """Bits per byte on `text_file` and few-shot accuracy on `tasks` for every checkpoint of every run."""
    from primbench.harness.evaluation.models import check_model_source
    from primbench.tasks.selection import expand_tasks

    text = read_text(text_file)
    names = expand_tasks(list(tasks)) if tasks else []
    checkpoints = [(str(run), name, folder) for run in runs for name, folder in run_checkpoints(run)]
    for _, _, folder in checkpoints:  # a broken folder fails now, not after an hour of scoring
        check_model_source(str(folder))
    return measure_checkpoints(
        checkpoints,
        lambda model, tokenizer: bits_per_byte(model, tokenizer, text, window),
        names,
        shots,
        limit,
        progress,
    )


def read_text(path: str | Path) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"--text {str(path)!r} does not exist; pass a UTF-8 text file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise HarnessError(f"cannot read --text {str(path)!r} as UTF-8 ({error}); pass a UTF-8 text file") from None
