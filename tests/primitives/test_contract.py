"""The primitive contract (primitives/contract.py, CONTRIBUTING.md), checked over every preset of the registry.

`assert_keeps_the_contract` is what a new primitive must pass; test_new_primitive.py adds one by following
CONTRIBUTING.md and runs it through this same function.
"""

import json

import pytest

import primbench.primitives as primitives
from primbench.primitives.contract import Primitive, contract_problems
from primbench.primitives.dataset import ENUMERATION_LIMIT, SPLITS
from primbench.primitives.entropy import Entropy
from primbench.primitives.registry import PRESETS, PRIMITIVES, build_dataset, checked_primitive

SEED = 11
PER_SPLIT = 40  # records checked per split
DRAWS = 200  # fresh generate() draws checked against the enumerated space


def assert_keeps_the_contract(name: str) -> None:
    preset = PRESETS[name]
    module = PRIMITIVES[preset.primitive]
    assert isinstance(module, Primitive) and contract_problems(module) == []
    dataset, rebuilt = build_dataset(name, SEED), build_dataset(name, SEED)
    seen_keys: dict[str, str] = {}
    for split in SPLITS:
        capacity = dataset.capacity(split)
        for record in dataset.records(split, min(PER_SPLIT, capacity if capacity is not None else PER_SPLIT)):
            answer = record["answer"]
            assert module.score(answer, record) is True, record  # its own answer scores 1.0
            assert module.score(f" {answer}\n", record) is True  # surrounding whitespace is not an error
            assert module.score(answer + "0", record) is False  # ... and a different answer scores 0
            assert primitives.solve(record["prompt"], preset.primitive) == answer, record["prompt"]
            assert primitives.solve(record["prompt"]) == answer  # the solver recognises its own prompts
            key = module.problem_key(record["meta"])
            assert isinstance(key, str) and key
            # stable: the same through a JSON round trip (how records are stored) and in a rebuilt dataset
            assert module.problem_key(json.loads(json.dumps(record["meta"]))) == key
            assert module.problem_key(rebuilt.record(split, record["index"])["meta"]) == key
            assert dataset.split_of_problem(record["meta"]) == split
            assert seen_keys.setdefault(key, record["prompt"]) == record["prompt"]  # equal keys, equal prompts
    problems = module.enumerate_problems(dataset.config, ENUMERATION_LIMIT)
    if problems is None:
        assert all(dataset.capacity(split) is None for split in SPLITS)
        return
    keys = {module.problem_key(meta) for meta in problems}
    assert len(keys) == len(problems), "enumerate_problems lists a problem twice"
    assert sum(dataset.capacity(split) for split in SPLITS) == len(problems)
    assert set(seen_keys) <= keys
    entropy = Entropy.of("contract", name)
    drawn = {module.problem_key(module.generate(dataset.config, entropy)) for _ in range(DRAWS)}
    assert drawn <= keys, "generate draws problems that enumerate_problems does not list"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_keeps_the_contract(name):
    assert_keeps_the_contract(name)


def test_a_module_missing_a_name_or_a_parameter_is_refused_at_registration():
    import types

    broken = types.ModuleType("primbench.primitives.broken")
    for name in ("NAME", "Config", "PRESETS", "template_name", "generate", "answer", "problem_key"):
        setattr(broken, name, getattr(PRIMITIVES["arithmetic"], name))
    broken.template_context = lambda meta: {}  # the contract passes (meta, config)
    with pytest.raises(TypeError) as error:
        checked_primitive(broken)
    message = str(error.value)
    assert "primitive module primbench.primitives.broken breaks the contract" in message
    assert "no enumerate_problems; no solve; no score" in message
    assert "template_context takes (meta), the contract says (meta, config)" in message
