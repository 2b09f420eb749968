"""Checks on a model folder and its tokenizer, done before lm-eval touches them.

lm-eval and transformers answer a missing file, a broken config or a tokenizer without an end-of-sequence token
with long tracebacks deep inside loading or, worse, halfway through an evaluation. These checks turn each of
those into one `HarnessError` line that names the fix.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from primbench.harness.errors import HarnessError

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.gguf", "*.safetensors.index.json")


def looks_like_hub_name(model: str) -> bool:
    """`org/name` with no local meaning: something only a model hub could resolve."""
    parts = model.split("/")
    return len(parts) == 2 and all(parts) and not model.startswith((".", "~")) and not Path(model).exists()


def check_model_source(model: str) -> None:
    """Raise `HarnessError` unless `model` is a loadable local HF folder, or a hub name while a hub is reachable."""
    path = Path(model).expanduser()
    if not path.exists():
        if looks_like_hub_name(model) and os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false", "False"):
            return  # transformers resolves it against the hub
        raise HarnessError(
            f"model folder {model!r} does not exist; pass a local Hugging Face folder (config.json, weights, "
            "tokenizer files), e.g. runs/tiny-midas/final"
            + (" (hub names need HF_HUB_OFFLINE=0 and network access)" if looks_like_hub_name(model) else "")
        )
    if not path.is_dir():
        raise HarnessError(f"model {model!r} is a file, not a folder; pass the folder that holds config.json")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise HarnessError(
            f"{model!r} has no config.json, so it is not a Hugging Face model folder; "
            "save the model with `save_pretrained` or point at the folder that holds config.json"
        )
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HarnessError(f"{config_path} is corrupt ({error}); re-save the model with `save_pretrained`") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise HarnessError(f"{config_path} has no model_type; re-save the model with `save_pretrained`")
    if not any(any(path.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        raise HarnessError(
            f"{model!r} holds no weights (model.safetensors or pytorch_model.bin); "
            "re-save the model with `save_pretrained`"
        )


def load_tokenizer(model: str, trust_remote_code: bool = False):
    """Load the tokenizer next to a model and make it usable for scoring (see `check_tokenizer`)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError, json.JSONDecodeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise HarnessError(
            f"could not load the tokenizer of {model!r} ({first_line}); "
            "save one into the folder with `tokenizer.save_pretrained`"
        ) from None
    return check_tokenizer(tokenizer, model)


def check_tokenizer(tokenizer, where: str):
    """Require an end-of-sequence token, and pad with it when the tokenizer has no pad token.

    Generation stops on eos and lm-eval pads batches; a tokenizer with neither cannot be scored. A missing pad
    alone is common (Llama has none) and harmless: padding is masked, so eos serves.
    """
    if tokenizer.eos_token is None:
        raise HarnessError(
            f"the tokenizer of {where} has no eos_token (needed to stop generation and to pad); "
            "set eos_token in its tokenizer_config.json or on the tokenizer before saving it"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path: str | Path, what: str = "checkpoint", dtype: str | None = None, device: str = "cpu"):
    """Load a Hugging Face causal LM from a local folder, turning every failure into one clear line.

    `dtype` None follows `choose_dtype` (as saved, but float32 for half precision that this CPU only emulates).
    The folder gets `check_model_source`'s checks first, the same as `primbench eval`'s (a missing file is named).
    """
    from transformers import AutoModelForCausalLM

    folder = Path(path)
    check_model_source(str(path))
    try:
        return AutoModelForCausalLM.from_pretrained(folder, dtype=choose_dtype(folder, device, dtype) or "auto")
    except Exception as error:  # noqa: BLE001 - transformers reports bad folders with many exception types
        raise load_model_error(str(path), error, what) from None


# torch.cpu probes of the instructions that multiply each half precision natively on x86
NATIVE_CPU_MATMUL = {
    "bfloat16": ("_is_avx512_bf16_supported", "_is_amx_tile_supported"),
    "float16": ("_is_amx_fp16_supported",),
}


def cpu_multiplies_natively(dtype: str) -> bool:
    """Whether this CPU has bfloat16 (AVX512-BF16 or AMX) or float16 (AMX-FP16) matrix instructions.

    Without them PyTorch converts every half-precision matmul through float32, about 3.5x slower than float32
    itself (AVX2, measured in issue 12). Other CPUs (ARM included) count as emulating: float32 is never wrong.
    """
    import torch

    return any(getattr(torch.cpu, probe, lambda: False)() for probe in NATIVE_CPU_MATMUL[dtype])


def saved_dtype(model: str | Path) -> str | None:
    """The dtype config.json says the weights are saved in (`dtype`; `torch_dtype` before transformers 5)."""
    try:
        config = json.loads((Path(model).expanduser() / "config.json").read_text())
    except (OSError, ValueError):
        return None  # a hub name, or a folder `check_model_source` refuses on its own
    value = config.get("dtype") or config.get("torch_dtype")
    return value if isinstance(value, str) else None


def choose_dtype(model: str | Path, device: str, requested: str | None) -> str | None:
    """The dtype to load `model` in: `requested` if given ("auto" = as saved), else as saved (None), except that
    a bfloat16 or float16 checkpoint on a CPU that only emulates that precision loads in float32; that choice is
    printed as one line on stderr.
    """
    if requested:
        return requested
    saved = saved_dtype(model)
    if saved in NATIVE_CPU_MATMUL and device.split(":")[0] == "cpu" and not cpu_multiplies_natively(saved):
        print(
            f"note: {model} is saved in {saved}, which this CPU only emulates (no native {saved} matmul); "
            f"loading it in float32, which runs faster here (--dtype {saved} keeps {saved})",
            file=sys.stderr,
        )
        return "float32"
    return None


def load_model_error(model: str, error: BaseException, what: str = "model") -> HarnessError:
    """One line for a model folder transformers could not load, naming the real cause and its fix."""
    message = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    kind = type(error).__name__
    lowered = message.lower()
    if kind in ("SafetensorError", "HeaderTooLarge") or "deserializ" in lowered or "incomplete metadata" in lowered:
        fix = "its weights file is truncated or corrupt: copy it again or re-save with `save_pretrained`"
    elif "unrecognized configuration class" in lowered:
        fix = "it is not a causal (decoder) language model: pass a Llama, Qwen2, Gemma, GPT-2 or similar folder"
    elif "does not recognize this architecture" in lowered or "unrecognized model" in lowered:
        fix = "this transformers does not know its architecture: upgrade transformers or convert the checkpoint"
    elif "size mismatch" in lowered or "shape" in lowered:
        fix = "its weights do not match config.json: re-save config and weights together with `save_pretrained`"
    elif isinstance(error, ImportError):
        fix = "it needs a package that is not installed: install it and retry"
    else:
        fix = "check the folder's config.json and weights, or re-save them with `save_pretrained`"
    return HarnessError(f"could not load {what} {model!r} ({kind}: {message}); {fix}")
