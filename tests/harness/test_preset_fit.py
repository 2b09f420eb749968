"""Every shipped reproduction preset's context holds the longest prompt it scores (real corpus tokenizers)."""

import pytest

from primbench.harness.evaluation.evaluate import DEFAULT_SEED, task_manager
from primbench.harness.reproduce.presets import PRESETS
from primbench.model_zoo.config import load_config
from primbench.model_zoo.data import prepare_data
from primbench.tasks.selection import expand_tasks


def longest_prompts(tokenizer, tasks: list[str], shots: int, limit: int | None) -> dict[str, int]:
    """Tokens of context plus answer per task, over lm-eval's own requests (seeded few-shot draw)."""
    loaded = task_manager().load(tasks)["tasks"]
    longest = {}
    for name, task in loaded.items():
        task.set_config(key="num_fewshot", value=shots)
        task.set_fewshot_seed(seed=DEFAULT_SEED)
        task.build_all_requests(limit=limit, rank=0, world_size=1)
        longest[name] = max(
            len(tokenizer.encode(r.args[0] + r.args[1], add_special_tokens=False)) for r in task.instances
        )
    return longest


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "small", "base", "1b"])
def test_the_preset_context_holds_its_longest_prompt(preset):
    settings = PRESETS[preset]
    config = load_config(f"{settings.size}-baseline", list(settings.train_overrides))
    tokenizer = prepare_data(config).tokenizer  # fetches the default corpus and builds the tokenizer once
    tasks = expand_tasks(list(settings.tasks))
    for shots, limit in ((settings.shots, settings.limit), (settings.finetune.shots, settings.finetune.limit)):
        longest = longest_prompts(tokenizer, tasks, shots, limit)
        assert max(longest.values()) <= config.data.seq_len, (preset, shots, longest)
