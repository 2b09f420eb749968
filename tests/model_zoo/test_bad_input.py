"""Every bad input gets one clear line (ConfigError; exit status 2 from the CLI) and leaves existing files alone."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import micro_config

from primbench.harness.cli import main as cli
from primbench.model_zoo.config import CONFIG_DIR, load_config
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.train import train


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["optim.lrr=1"], "unknown config key 'optim.lrr'; did you mean optim.lr"),
        (["lr=0.1"], "did you mean optim.lr?"),
        (["modle.hidden_size=3"], "unknown config key 'modle.hidden_size'; did you mean model.hidden_size"),
        (["model.num_hidden_layers=5"], "must equal growth.stages x growth.block_size (4 x 1 = 4)"),
        (["run.steps=3"], "run.steps (3) cannot hold 4 stages"),
        (
            ["growth.schedule=explicit", "growth.stage_steps=[10,10,10]"],
            "must list 4 positive lengths summing to run.steps (40)",
        ),
        (["growth.method=looped"], "growth.method must be one of baseline, gradstack, midas"),
        (["run.steps=ten"], "config key 'run.steps' must be int, got 'ten'"),
        (["run.batch_size=6"], "run.batch_size (6) must be a multiple of run.micro_batch_size (4)"),
        (["optim.lr"], "must look like key=value"),
        (["model.hidden_size=66"], "divisible by model.num_attention_heads"),
        (["model.hidden_size=-3"], "model.hidden_size must be positive, got -3"),
        (["model.num_key_value_heads=0"], "model.num_key_value_heads must be positive, got 0"),
    ],
)
def test_bad_config_values_name_the_fix(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(CONFIG_DIR / "micro-midas.yaml", overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_explicit_schedule_and_shipped_names_load():
    config = load_config("micro-gradstack", ["growth.schedule=explicit", "growth.stage_steps=[4,6,10,20]"])
    assert config.growth.method == "gradstack" and config.growth.stage_steps == [4, 6, 10, 20]
    assert config.optim.lr == 0.01  # from micro.yaml, through `extends:`
    # YAML reads 1e-3 as a string; the field's type decides
    assert load_config("micro-midas", ["optim.lr=1e-3"]).optim.lr == 0.001
    assert load_config("micro-midas", ["run.steps=1e2"]).run.steps == 100


@pytest.mark.parametrize("size", ["micro", "tiny", "small", "base", "1b"])
@pytest.mark.parametrize("method", ["baseline", "gradstack", "midas"])
def test_every_shipped_config_is_valid(size, method):
    config = load_config(CONFIG_DIR / f"{size}-{method}.yaml")
    assert config.growth.method == method
    assert config.model.num_hidden_layers == config.growth.stages * config.growth.block_size


def test_bad_yaml_files(tmp_path):
    (tmp_path / "broken.yaml").write_text("model: {hidden_size: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "section.yaml").write_text("optimiser: {lr: 1}\n")
    with pytest.raises(ConfigError, match="unknown config key 'optimiser'; did you mean optim"):
        load_config(tmp_path / "section.yaml")
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_config(tmp_path / "loop.yaml")
    with pytest.raises(ConfigError, match="does not exist; shipped configs: 1b-baseline, 1b-gradstack"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="config file tiny-midsa does not exist; did you mean tiny-midas"):
        load_config("tiny-midsa")


def _invoke(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


def test_cli_prints_one_line_and_exits_2(tmp_path):
    result = _invoke("--config", "micro-midas", "--out", str(tmp_path / "run"), "--set", "optim.lrr=1")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: unknown config key 'optim.lrr'; did you mean optim.lr or optim.min_lr or optim.lr_schedule?"
    ]
    assert not (tmp_path / "run").exists()


def test_missing_corpus_is_one_line(tmp_path):
    result = _invoke(
        "--config", "micro-midas", "--out", str(tmp_path / "run"), "--set", f"data.corpus={tmp_path / 'nowhere.txt'}"
    )
    assert result.exit_code == 2
    assert "corpus path" in result.output and "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_token_cache_for_non_building_rank(tmp_path, corpus_file):
    from primbench.model_zoo.data import prepare_data

    with pytest.raises(ConfigError, match=r"token shards for this config are missing .* run `primbench prepare"):
        prepare_data(micro_config("midas", corpus_file, "model.vocab_size=333"), build=False)


def test_too_little_text_for_the_sequence_length(tmp_path):
    (tmp_path / "short.txt").write_text("A few words only.\n")
    with pytest.raises(ConfigError, match=r"the corpus has only 0 training tokens, fewer than data.seq_len \+ 2"):
        train(micro_config("midas", tmp_path / "short.txt"), tmp_path / "run", progress=False)
    (tmp_path / "two.txt").write_text("A few words.\n" * 300 + "\n" + "Other words.\n" * 400)  # two chunks
    with pytest.raises(ConfigError, match=r"validation tokens, fewer than data.seq_len \+ 2 \(1026\)"):
        train(micro_config("midas", tmp_path / "two.txt", "data.seq_len=1024"), tmp_path / "run", progress=False)


def _digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def stopped_run(tmp_path, corpus_file):
    """A run whose newest checkpoint is step 12 (as if it had crashed there)."""
    out = tmp_path / "run"
    train(micro_config("midas", corpus_file, "run.steps=16", "run.checkpoint_every=6"), out, progress=False)
    for later in ("step_0000016",):
        shutil.rmtree(out / "checkpoints" / later)
    shutil.rmtree(out / "final")
    return out


def test_corrupt_checkpoint_is_refused_and_left_alone(stopped_run, corpus_file):
    newest = sorted((stopped_run / "checkpoints").iterdir())[-1]
    (newest / "trainer_state.pt").write_bytes(b"not a checkpoint")
    before = _digest(stopped_run / "checkpoints")
    result = _invoke(
        "--config",
        "micro-midas",
        "--out",
        str(stopped_run),
        "--resume",
        "--quiet",
        "--set",
        f"data.corpus={corpus_file}",
        "--set",
        "run.steps=16",
        "--set",
        "run.checkpoint_every=6",
    )
    assert result.exit_code == 2
    assert f"checkpoint {newest / 'trainer_state.pt'} is corrupt" in result.output
    assert _digest(stopped_run / "checkpoints") == before


def test_mismatched_checkpoint_is_refused_and_left_alone(stopped_run, corpus_file):
    before = _digest(stopped_run / "checkpoints")
    with pytest.raises(ConfigError, match=r"does not match this config \(optim.lr: checkpoint 0.01, config 0.02"):
        train(
            micro_config("midas", corpus_file, "run.steps=16", "run.checkpoint_every=6", "optim.lr=0.02"),
            stopped_run,
            resume=True,
            progress=False,
        )
    assert _digest(stopped_run / "checkpoints") == before
    # logging-only keys may change on resume
    summary = train(
        micro_config("midas", corpus_file, "run.steps=16", "run.checkpoint_every=6", "run.log_every=1"),
        stopped_run,
        resume=True,
        progress=False,
    )
    assert summary["steps"] == 16
    steps = [json.loads(line)["step"] for line in (stopped_run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 13, 14, 15, 16]  # the first run's lines up to step 12, then every step
