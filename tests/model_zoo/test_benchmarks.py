"""The CPU-testable parts of benchmarks/: the metrics summary, and gpu_check.sh end to end with ALLOW_CPU=1
(slow: micro runs eager, compiled, under torchrun and killed-and-resumed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train import summarise  # noqa: E402


def test_summarise_takes_the_median_after_warm_up(tmp_path):
    lines = [
        {"step": 1, "tokens_per_s": 1.0},
        {"step": 2, "tokens_per_s": 10.0, "mfu": 0.4},
        {"step": 3, "tokens_per_s": 30.0, "mfu": 0.5},
        {"step": 4, "tokens_per_s": 20.0, "mfu": 0.45},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert summarise(tmp_path) == {"tokens_per_s": 20.0, "mfu": 0.45}
    (tmp_path / "metrics.jsonl").write_text(json.dumps(lines[0]) + "\n")
    assert summarise(tmp_path) == {"tokens_per_s": 1.0}  # CPU runs log no MFU


@pytest.mark.slow
def test_gpu_check_script_runs_on_cpu(tmp_path, corpus_file, token_cache):
    env = {
        **os.environ,
        "ALLOW_CPU": "1",
        "PYTHON": sys.executable,
        "CHECK_DIR": str(tmp_path / "check"),
        "BASE_CONFIG": "micro-baseline",
        "BASE_STEPS": "10",
        "SMALL_CONFIG": "micro-midas",
        "SMALL_STEPS": "8",
        "EXTRA_SET": f"data.corpus={corpus_file} run.num_threads=1",
        "PRIMBENCH_CACHE": str(token_cache),
    }
    result = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    base = next(line for line in lines if line.startswith("base speed"))
    assert json.loads(base.split(": ", 1)[1])["tokens_per_s"] > 0
    small = next(line for line in lines if line.startswith("small summary"))
    assert "'method': 'midas'" in small and "'steps': 8" in small and "'layers': 4" in small
    assert (tmp_path / "check" / "runs" / "small" / "final" / "model.safetensors").is_file()
    growth = next(line for line in lines if line.startswith("trainer growth"))
    assert growth == "trainer growth: 2 ranks, layers {6} steps {9} weights identical: True resume identical: True"


def test_gpu_check_refuses_without_gpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CHECK_DIR": str(tmp_path)}
    result = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if "no CUDA device visible" not in result.stderr:
        pytest.skip("a GPU is visible here")
    assert result.returncode == 2


@pytest.mark.slow
def test_gpu_check_wheels_install_offline_into_a_fresh_venv(tmp_path, corpus_file, token_cache):
    """Downloads about 50 MB from PyPI: `gpu_check.sh prepare` carries every wheel the trainer's imports need
    (transformers' typer, huggingface-hub's httpx included), so a bare venv installs them with --no-index."""
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "CHECK_DIR": str(tmp_path / "check"),
        "BASE_CONFIG": "micro-baseline",
        "SMALL_CONFIG": "micro-midas",
        "EXTRA_SET": f"data.corpus={corpus_file}",
        "PRIMBENCH_CACHE": str(token_cache),
    }
    result = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "prepare"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wheels = tmp_path / "check" / "wheels"
    assert list(wheels.glob("setuptools-*.whl")) and list(wheels.glob("typer-*.whl")) and list(wheels.glob("httpx*"))
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    python = tmp_path / "venv" / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels)]
    packages = ["transformers", "tokenizers", "safetensors", "huggingface-hub", "numpy", "pyyaml", "click", "tqdm"]
    offline = {**os.environ, "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}
    for command in ([*install, *packages], [*install, "--no-deps", "-e", str(ROOT)]):
        done = subprocess.run(command, capture_output=True, text=True, env=offline, timeout=600, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
    probe = (
        "import huggingface_hub, typer, yaml, click, tqdm, safetensors; "
        "from transformers import PreTrainedTokenizerFast; import primbench.model_zoo.prepare; print('ok')"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
