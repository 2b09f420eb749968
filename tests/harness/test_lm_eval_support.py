"""lm-eval support: the plugin entry point, the declared version range, and the import-time check of the HFLM
method that `primbench-hf` overrides."""

import importlib.metadata as md
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from primbench.harness.errors import HarnessError
from primbench.harness.evaluation import BACKEND_NAME
from primbench.harness.evaluation.backend import PrimbenchLM, check_overridden_method, supported_lm_eval

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def declared_lm_eval() -> Requirement:
    """pyproject.toml's lm-eval requirement, read as text (tomllib needs Python 3.11; we support 3.10)."""
    return Requirement(re.search(r'^\s*"(lm-eval[^"]*)",', PYPROJECT.read_text(), re.MULTILINE).group(1))


def test_the_backend_is_declared_as_an_lm_eval_model_plugin():
    (entry,) = [entry for entry in md.entry_points(group="lm_eval.models") if entry.name == BACKEND_NAME]
    assert entry.load() is PrimbenchLM


def test_the_installed_lm_eval_is_inside_the_declared_range():
    requirement = declared_lm_eval()
    assert md.version("lm-eval") in requirement.specifier
    assert "0.5.0" not in requirement.specifier  # a new minor release may move private methods: not promised
    assert requirement.specifier == Requirement(f"lm-eval{supported_lm_eval()}").specifier  # metadata is current


def test_the_installed_hflm_passes_the_signature_check():
    check_overridden_method()  # the import already ran it; an explicit call documents the promise


def test_a_changed_signature_fails_in_one_line_naming_the_range():
    def renamed(self, requests, disable_tqdm=False, batch_size=None):
        raise AssertionError("never called")

    with pytest.raises(HarnessError) as error:
        check_overridden_method(renamed)
    message = str(error.value)
    assert "\n" not in message
    assert "changed HFLM._loglikelihood_tokens to (self, requests, disable_tqdm, batch_size)" in message
    assert message.endswith(f"pip install 'lm-eval{supported_lm_eval()}'")
    assert ">=0.4.13" in message and "<0.5" in message


def test_evaluate_passes_the_refusal_on(monkeypatch):
    """A refused lm-eval must not be reported as an unknown --model-type (HarnessError is a ValueError)."""
    from lm_eval.api import registry

    from primbench.harness.evaluation.evaluate import _language_model

    def refuse(name):
        raise HarnessError("lm-eval 9.9 changed HFLM._loglikelihood_tokens to (self); install a supported lm-eval")

    monkeypatch.setattr(registry, "get_model", refuse)
    with pytest.raises(HarnessError, match="changed HFLM._loglikelihood_tokens"):
        _language_model("folder", None, 8, "cpu", None, BACKEND_NAME, {})
