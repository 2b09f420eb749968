"""The trainer's configuration: nested dataclasses read from YAML, overridden with `--set key=value`, checked once.

A config file may start with `extends: <file>` (relative to itself) and then states only what differs, so that
`tiny-midas.yaml` is the tiny shape plus `growth.method: midas`. Every value is checked here, at load time, with a
message that says what to change; the rest of model_zoo trusts a loaded `TrainConfig`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.operators import compared_methods, methods

CONFIG_DIR = Path(__file__).parent / "configs"
# The methods `reproduce` trains and compares, each with a shipped `<size>-<method>.yaml` (from the registry).
METHODS = compared_methods()
# model.architecture -> the transformers model_type built for it (model_zoo/model.py)
ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2", "gemma3": "gemma3_text"}


@dataclass
class ModelConfig:
    """The target (full-depth) decoder shape; field names are LlamaConfig's (Qwen2's and Gemma-3's too)."""

    architecture: str = "llama"  # llama | qwen2 | gemma3 (Gemma-3's last layer of each block attends fully)
    vocab_size: int = 4096
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 6  # the final depth; must equal growth.stages * growth.block_size
    num_attention_heads: int = 6
    num_key_value_heads: int = 6
    tie_word_embeddings: bool = True
    rope_theta: float = 10000.0
    initializer_range: float = 0.02


@dataclass
class GrowthConfig:
    """How the model grows: k stages of b layers; `baseline` trains the full depth from step 0."""

    method: str = "baseline"  # a registered growth operator (model_zoo/operators.py): baseline, midas, ...
    block_size: int = 2  # b
    stages: int = 3  # k
    schedule: str = "prop"  # prop (Prop-alpha) | uniform | explicit
    alpha: float = 1.0  # Prop-alpha exponent: stage i gets steps proportional to i**alpha
    stage_steps: list[int] = field(default_factory=list)  # explicit schedule: one length per stage, summing to steps
    new_layer_optimizer_state: str = "copy"  # copy (the source block's Adam moments) | zero


@dataclass
class DataConfig:
    """Where the text comes from and how it is cut into training sequences."""

    corpus: str = (
        "default"  # "default" (the docs/offline.md set), file/folder paths joined by ",", or hf:NAME[:CONFIG][@SPLIT]
    )
    text_field: str = "text"  # the field holding the text in JSONL/Parquet/HF rows
    tokenizer: str = "train"  # train (a byte-level BPE of model.vocab_size) or a HF tokenizer folder / tokenizer.json
    prepare_workers: int = 0  # processes tokenising the corpus (0 = one per core, at most 8)
    seq_len: int = 128
    val_fraction: float = 0.01  # share of corpus chunks held out for validation loss
    max_chars: int = 0  # use at most this many characters of the corpus (0 = all)
    # another text blended into the training stream (e.g. train-split primitive examples; model_zoo/mixture.py):
    # a .txt/.jsonl/.parquet path, and the share of training tokens it makes. Validation stays corpus-only.
    mix: str = ""
    mix_fraction: float = 0.0


@dataclass
class OptimConfig:
    """AdamW and the learning-rate schedule (a pure function of the step, see schedule.py)."""

    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 20
    lr_schedule: str = "global"  # global (one warm-up + cosine) | per_stage (re-warm-up at every stage start)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 disables clipping


@dataclass
class RunConfig:
    """Length, batch, logging, checkpointing and the machine."""

    steps: int = 300
    batch_size: int = 16  # sequences per optimizer step, over all ranks (the global batch)
    micro_batch_size: int = 16  # sequences per forward pass on one rank; the rest is gradient accumulation
    seed: int = 0
    log_every: int = 10
    eval_every: int = 50  # validation loss every N steps (and at the end); 0 = only at the end
    eval_batches: int = 4
    checkpoint_every: int = 100  # periodic checkpoints; stage ends are always checkpointed
    keep_last: int = 2  # periodic checkpoints kept; stage-end checkpoints are never deleted
    device: str = "auto"  # auto | cpu | cuda
    compile: bool = False  # torch.compile (recompiled after each growth step)
    parallel: str = "ddp"  # ddp | fsdp (FSDP2 fully_shard per decoder layer) when launched with torchrun
    num_threads: int = 0  # torch intra-op threads on CPU (0 = torch's default)
    peak_flops: float = 0.0  # accelerator peak FLOP/s for MFU (0 = look up from the device name)
    param_dtype: str = "auto"  # FSDP2 compute dtype: auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    timeout_s: int = 600  # seconds a rank waits in a collective before the run stops with an error


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    growth: GrowthConfig = field(default_factory=GrowthConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# section name -> its dataclass, e.g. "optim" -> OptimConfig
_SECTION_TYPES = typing.get_type_hints(TrainConfig)


def all_keys() -> list[str]:
    """Every settable dotted key, e.g. `optim.lr`."""
    return [f"{s}.{f.name}" for s, cls in _SECTION_TYPES.items() for f in dataclasses.fields(cls)]


def _unknown_key(key: str) -> ConfigError:
    keys = all_keys()
    # Match the whole dotted key, and also the leaf alone so `--set lr=1` suggests `optim.lr`.
    leaf_matches = [k for k in keys if k.rsplit(".", 1)[1] == key.rsplit(".", 1)[-1]]
    nearest = leaf_matches or difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(nearest)}?" if nearest else f"; valid keys: {', '.join(keys)}"
    return ConfigError(f"unknown config key '{key}'{hint}")


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Turn a YAML or command-line value into the field's type, or say which type was expected."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on"):
                return True
            if str(value).lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            return str(value)
        if typing.get_origin(kind) is list:
            items = value if isinstance(value, list) else [v for v in str(value).strip("[]").split(",") if v.strip()]
            return [int(v) for v in items]
    except (TypeError, ValueError):
        pass
    name = getattr(kind, "__name__", str(kind))
    raise ConfigError(f"config key '{key}' must be {name}, got {value!r}")


def _set(config: TrainConfig, key: str, value: Any) -> None:
    section, _, name = key.partition(".")
    if section not in _SECTION_TYPES or not name:
        raise _unknown_key(key)
    hints = typing.get_type_hints(_SECTION_TYPES[section])
    if name not in hints:
        raise _unknown_key(key)
    setattr(getattr(config, section), name, _coerce(key, value, hints[name]))


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file and the chain of files it extends into one flat {dotted key: value} dict."""
    if not path.is_file():
        shipped = sorted(file.stem for file in CONFIG_DIR.glob("*-*.yaml"))
        near = difflib.get_close_matches(path.stem, shipped, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(near)}?" if near else f"shipped configs: {', '.join(shipped)}"
        raise ConfigError(f"config file {path} does not exist; {hint}")
    if path.resolve() in seen:
        raise ConfigError(f"config {path} extends itself in a loop; remove one `extends:`")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"config {path} is not valid YAML ({first_line}); fix the file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping of sections (model, growth, data, optim, run)")
    flat: dict[str, Any] = {}
    parent = raw.pop("extends", None)
    if parent:
        flat.update(_read_yaml(path.parent / parent, seen + (path.resolve(),)))
    for section, values in raw.items():
        if section not in _SECTION_TYPES:
            raise _unknown_key(str(section))
        if not isinstance(values, dict):
            raise ConfigError(f"config section '{section}' in {path} must be a mapping of keys to values")
        flat.update({f"{section}.{key}": value for key, value in values.items()})
    return flat


def resolve_config_path(path: str | Path) -> Path:
    """Accept a path, or a shipped config's bare name such as `tiny-midas`."""
    candidate = Path(path)
    if not candidate.exists() and not candidate.suffix and (CONFIG_DIR / f"{candidate}.yaml").is_file():
        return CONFIG_DIR / f"{candidate}.yaml"
    return candidate


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read `path` (None = all defaults), apply `key=value` overrides, validate, return the config."""
    config = TrainConfig()
    values = _read_yaml(resolve_config_path(path)) if path is not None else {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{override}' must look like key=value, e.g. --set optim.lr=1e-3")
        values[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    for key, value in values.items():
        _set(config, key, value)
    validate(config)
    return config


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved by `TrainConfig.to_dict` (checkpoints, summaries)."""
    config = TrainConfig()
    for section, fields in values.items():
        for key, value in fields.items():
            _set(config, f"{section}.{key}", value)
    validate(config)
    return config


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


# the model's sizes: each must be a positive whole number
POSITIVE_MODEL_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
)


def validate(config: TrainConfig) -> None:
    """Check every value and combination once; each message names the key to change."""
    m, g, d, o, r = config.model, config.growth, config.data, config.optim, config.run
    _require(g.method in methods(), f"growth.method must be one of {', '.join(methods())}, got '{g.method}'")
    _require(
        m.architecture in ARCHITECTURES,
        f"model.architecture must be one of {', '.join(ARCHITECTURES)}, got '{m.architecture}'",
    )
    _require(
        g.schedule in ("prop", "uniform", "explicit"),
        f"growth.schedule must be prop, uniform or explicit, got '{g.schedule}'",
    )
    _require(g.new_layer_optimizer_state in ("copy", "zero"), "growth.new_layer_optimizer_state must be copy or zero")
    _require(g.block_size >= 1 and g.stages >= 1, "growth.block_size and growth.stages must be at least 1")
    for size in POSITIVE_MODEL_FIELDS:  # before the divisibility checks, whose messages assume positive sizes
        value = getattr(m, size)
        _require(value > 0, f"model.{size} must be positive, got {value}")
    _require(
        m.num_hidden_layers == g.stages * g.block_size,
        f"model.num_hidden_layers ({m.num_hidden_layers}) must equal growth.stages x growth.block_size "
        f"({g.stages} x {g.block_size} = {g.stages * g.block_size}); change one of them",
    )
    _require(r.steps >= 1, "run.steps must be at least 1")
    _require(
        r.steps >= g.stages,
        f"run.steps ({r.steps}) cannot hold {g.stages} stages (each needs at least one step); "
        f"raise run.steps or lower growth.stages",
    )
    if g.schedule != "explicit":
        from primbench.model_zoo.schedule import (
            stage_lengths,  # here, not at the top: schedule reads this module's types
        )

        stage_lengths(r.steps, g.stages, g.schedule, g.alpha)  # raises when a stage would get no step
    else:
        _require(
            len(g.stage_steps) == g.stages and sum(g.stage_steps) == r.steps and min(g.stage_steps) >= 1,
            f"growth.stage_steps {g.stage_steps} must list {g.stages} positive lengths "
            f"summing to run.steps ({r.steps})",
        )
    _require(math.isfinite(g.alpha) and g.alpha >= 0, "growth.alpha must be a finite number >= 0")
    _require(
        m.hidden_size % m.num_attention_heads == 0, "model.hidden_size must be divisible by model.num_attention_heads"
    )
    _require(
        m.num_attention_heads % m.num_key_value_heads == 0,
        "model.num_attention_heads must be divisible by model.num_key_value_heads",
    )
    _require(
        d.tokenizer != "train" or m.vocab_size >= 260,
        "model.vocab_size must be at least 260 (256 bytes + special tokens)",
    )
    _require(d.tokenizer.strip() != "", "data.tokenizer must be 'train' or a Hugging Face tokenizer folder")
    _require(d.prepare_workers >= 0, "data.prepare_workers must be >= 0 (0 = one per core)")
    _require(d.seq_len >= 8, "data.seq_len must be at least 8")
    _require(0 < d.val_fraction < 0.5, "data.val_fraction must be between 0 and 0.5")
    _require(0 <= d.mix_fraction < 1, f"data.mix_fraction must be in [0, 1), got {d.mix_fraction}")
    _require(
        bool(d.mix) == (d.mix_fraction > 0),
        "data.mix and data.mix_fraction go together: set both (e.g. data.mix=mix.jsonl data.mix_fraction=0.25) or neither",
    )
    _require(d.corpus.strip() != "", "data.corpus must be 'default', local file paths, or hf:<dataset name>")
    _require(o.lr > 0 and 0 <= o.min_lr <= o.lr, "optim.lr must be > 0 and optim.min_lr between 0 and optim.lr")
    _require(
        o.lr_schedule in ("global", "per_stage"),
        f"optim.lr_schedule must be global or per_stage, got '{o.lr_schedule}'",
    )
    _require(o.warmup_steps >= 0 and o.grad_clip >= 0, "optim.warmup_steps and optim.grad_clip must be >= 0")
    _require(r.batch_size >= 1 and r.micro_batch_size >= 1, "run.batch_size and run.micro_batch_size must be >= 1")
    _require(
        r.batch_size % r.micro_batch_size == 0,
        f"run.batch_size ({r.batch_size}) must be a multiple of run.micro_batch_size ({r.micro_batch_size})",
    )
    _require(r.device in ("auto", "cpu", "cuda"), f"run.device must be auto, cpu or cuda, got '{r.device}'")
    _require(r.parallel in ("ddp", "fsdp"), f"run.parallel must be ddp or fsdp, got '{r.parallel}'")
    _require(
        r.param_dtype in ("auto", "bf16", "fp32"), f"run.param_dtype must be auto, bf16 or fp32, got '{r.param_dtype}'"
    )
    _require(r.timeout_s >= 1, "run.timeout_s must be at least 1 second")
    _require(
        r.log_every >= 1 and r.keep_last >= 1 and r.eval_batches >= 1,
        "run.log_every, run.keep_last and run.eval_batches must be >= 1",
    )
    _require(r.eval_every >= 0 and r.checkpoint_every >= 0, "run.eval_every and run.checkpoint_every must be >= 0")
