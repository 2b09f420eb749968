"""Kill `train` anywhere (SIGKILL at a chosen write point, see primbench.atomic), resume: the run that results is
the uninterrupted one, bit for bit; and every state a kill can leave resumes, the issue's sequence included."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import micro_config
from safetensors.torch import load_file

from primbench.atomic import KILL_ENV
from primbench.harness.cli import main
from primbench.model_zoo import checkpoint
from primbench.model_zoo.errors import ConfigError
from primbench.model_zoo.metrics import MetricsLog
from primbench.model_zoo.train import train

SAME = ("steps", "tokens", "flops", "layers", "parameters", "stage_steps", "baseline_flops", "final_val_loss")
# The write points of a default micro-midas run (40 steps), in order; the full sweep kills at every one of them.
WRITE_POINTS = 40


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus_file):
    """An uninterrupted micro-midas run; it also prepares the token shards the killed runs read, in the cache the
    `token_cache` fixture names (set here too: a module fixture starts before it)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIMBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "primbench-cache"))
        return out, train(micro_config("midas", corpus_file), out, progress=False)


def _command(out: Path, corpus_file: Path, ranks: int = 1) -> list[str]:
    """`python -m primbench.model_zoo.train` for micro-midas, under torchrun when `ranks` > 1."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else []
    return [
        *[sys.executable, *launcher, "-m", "primbench.model_zoo.train", "--config", "micro-midas", "--out", str(out)],
        f"--set=data.corpus={corpus_file}",
    ]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **extra}


def _kill_at(point: int, out: Path, corpus_file: Path, ranks: int = 1) -> str:
    """Run micro-midas with PRIMBENCH_KILL_AT_WRITE=point and return the name of the point it died at (under
    torchrun the first rank dies there, having the most write points, and the launcher stops the other)."""
    command = _command(out, corpus_file, ranks)
    result = subprocess.run(command, capture_output=True, text=True, env=_env(**{KILL_ENV: str(point)}), timeout=300)
    assert result.returncode == (1 if ranks > 1 else -signal.SIGKILL), result.stderr[-2000:]
    assert not (out / "summary.json").exists()
    reached = re.findall(rf"write point {point}: (.*)", result.stderr)
    assert reached, f"the run never reached write point {point}:\n{result.stderr[-2000:]}"
    return reached[-1]


def _assert_same_run(out: Path, reference: Path, summary: dict, expected: dict) -> None:
    """Bitwise `final/` weights, the same summary (timings aside), the same log (timings aside), nothing hidden."""
    assert {key: summary[key] for key in SAME} == {key: expected[key] for key in SAME}
    weights, reference_weights = (
        load_file(out / "final" / "model.safetensors"),
        load_file(reference / "final" / "model.safetensors"),
    )
    assert weights.keys() == reference_weights.keys()
    assert all(torch.equal(weights[name], reference_weights[name]) for name in weights)
    timings = ("tokens_per_s", "elapsed_s")
    logged = [
        [{k: v for k, v in json.loads(line).items() if k not in timings} for line in lines]
        for lines in ((run / "metrics.jsonl").read_text().splitlines() for run in (out, reference))
    ]
    assert logged[0] == logged[1]
    assert [p.name for p in checkpoint.list_checkpoints(out)] == [
        p.name for p in checkpoint.list_checkpoints(reference)
    ]
    assert _hidden(out) == []


def _hidden(out: Path) -> list[str]:
    """Hidden names in the run folder and its checkpoints/ (temporaries; dcp's own `.metadata` lies deeper)."""
    folders = [out, out / "checkpoints"]
    return sorted(p.name for folder in folders if folder.is_dir() for p in folder.iterdir() if p.name[0] == ".")


def _kill_and_resume(point: int, tmp_path: Path, corpus_file: Path, reference) -> str:
    out = tmp_path / f"killed_at_{point}"
    where = _kill_at(point, out, corpus_file)
    with pytest.warns(UserWarning, match="taking over the stale lock"):
        resumed = train(micro_config("midas", corpus_file), out, resume=True, progress=False)
    _assert_same_run(out, reference[0], resumed, reference[1])
    return where


def test_a_run_killed_mid_checkpoint_resumes_to_the_uninterrupted_run(tmp_path, corpus_file, reference):
    """Killed inside the save at step 12 (a stage end, just before a growth): that half checkpoint is never chosen
    (the run resumes from step 10) and is deleted. Every other write point is in the slow sweep below."""
    out = tmp_path / "killed"
    assert _kill_at(12, out, corpus_file).endswith("checkpoints/.step_0000012-partial (optimizer state written)")
    assert _hidden(out) == [".step_0000012-partial"]
    assert checkpoint.list_checkpoints(out)[-1].name == "step_0000010"
    with pytest.warns(UserWarning, match="taking over the stale lock"):
        resumed = train(micro_config("midas", corpus_file), out, resume=True, progress=False)
    _assert_same_run(out, reference[0], resumed, reference[1])


@pytest.mark.slow
def test_a_run_killed_at_every_write_point_resumes_to_the_uninterrupted_run(tmp_path, corpus_file, reference):
    """Every write point of the run: start-up, each log line, inside every checkpoint, pruning, the final save."""
    reached = [_kill_and_resume(point, tmp_path, corpus_file, reference) for point in range(1, WRITE_POINTS + 1)]
    assert reached[-2:] == [
        str(tmp_path / f"killed_at_{WRITE_POINTS - 1}" / "final"),
        str(tmp_path / f"killed_at_{WRITE_POINTS}" / "summary.json"),
    ]
    out = tmp_path / "past_the_end"  # one more point than the run has: it finishes
    subprocess.run(_command(out, corpus_file), env=_env(**{KILL_ENV: str(WRITE_POINTS + 1)}), check=True)


@pytest.fixture(scope="module")
def two_ranks(reference, tmp_path_factory, corpus_file):
    """An uninterrupted 2-rank torchrun run (after `reference`, which prepared the token shards it reads)."""
    out = tmp_path_factory.mktemp("two_ranks") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIMBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "primbench-cache"))
        subprocess.run(_command(out, corpus_file, ranks=2), env=_env(), check=True, capture_output=True)
    return out, json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(
    "point,where",
    [
        (12, "checkpoints/.step_0000012-partial (optimizer state written)"),
        (27, "metrics.jsonl (step 30)"),  # between steps, three after the growth at step 24
        (39, "final"),
    ],
)
def test_a_killed_two_rank_run_resumes_on_two_ranks_and_on_one(tmp_path, corpus_file, two_ranks, point, where):
    """Killed under torchrun (DDP, 2 ranks), resumed under torchrun: the uninterrupted 2-rank run, bit for bit.
    Resumed on one process instead: the same steps, tokens, FLOPs and layers; losses as close as a sum of two
    ranks' gradients is to one process's (bit for bit when only the final save was left)."""
    two_ranks, expected = two_ranks
    killed = tmp_path / "killed"
    assert _kill_at(point, killed, corpus_file, ranks=2).endswith(where)
    shutil.copytree(killed, tmp_path / "killed_copy")
    resumed = subprocess.run(
        [*_command(killed, corpus_file, ranks=2), "--resume"], env=_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "taking over the stale lock" in resumed.stderr
    _assert_same_run(killed, two_ranks, json.loads(resumed.stdout.splitlines()[-1]), expected)
    with pytest.warns(UserWarning, match="taking over the stale lock"):
        one = train(micro_config("midas", corpus_file), tmp_path / "killed_copy", resume=True, progress=False)
    exact = ("steps", "tokens", "flops", "layers", "parameters", "stage_steps", "baseline_flops")
    assert {key: one[key] for key in exact} == {key: expected[key] for key in exact}
    if point == 39:
        _assert_same_run(tmp_path / "killed_copy", two_ranks, one, expected)
    assert one["final_val_loss"] == pytest.approx(expected["final_val_loss"], rel=2e-3)


def _cli(*arguments: str):
    return CliRunner().invoke(main, ["train", "--quiet", *arguments])


def test_the_issue_sequence_finishes_a_run_cut_before_its_final_save(tmp_path, corpus_file, reference):
    """train, delete final/ and summary.json (what a kill in the final save leaves), --resume: exit 0, same run;
    --resume on the finished run: one line, exit 0, nothing rewritten."""
    arguments = ["--config", "micro-midas", "--out", str(tmp_path / "r"), "--set", f"data.corpus={corpus_file}"]
    arguments += ["--set", "run.steps=12"]
    assert _cli(*arguments).exit_code == 0
    uninterrupted = json.loads((tmp_path / "r" / "summary.json").read_text())
    shutil.copytree(tmp_path / "r", tmp_path / "uninterrupted")
    (tmp_path / "r" / "final").rename(tmp_path / "r" / ".final-k1ll3d")  # as a kill before its rename leaves it
    (tmp_path / "r" / "summary.json").unlink()
    resumed = _cli(*arguments, "--resume")
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    _assert_same_run(tmp_path / "r", tmp_path / "uninterrupted", summary, uninterrupted)
    files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "r").rglob("*") if p.is_file()}
    again = _cli(*arguments, "--resume")
    assert again.exit_code == 0
    assert f"{tmp_path / 'r'} already finished at step 12; nothing to do\n" == again.stderr
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "r").rglob("*") if p.is_file()} == files
    changed = _cli(*arguments, "--resume", "--set", "optim.lr=0.02")
    assert changed.exit_code == 2
    assert changed.stderr.count("\n") == 1 and "finished with another config (optim.lr: checkpoint 0.01" in (
        changed.stderr
    )


def test_resume_with_no_checkpoint_yet_starts_from_step_zero(tmp_path, corpus_file, capfd):
    short = ("run.steps=6", "run.checkpoint_every=0", "growth.method=baseline")
    plain = train(micro_config("midas", corpus_file, *short), tmp_path / "plain", progress=False)
    (tmp_path / "cut" / "checkpoints" / ".step_0000006-partial").mkdir(parents=True)  # killed in its only save
    (tmp_path / "cut" / "metrics.jsonl").write_text('{"step": 5, "loss": 9.0}\n{"step": 6, "lo')
    resumed = train(micro_config("midas", corpus_file, *short), tmp_path / "cut", resume=True, progress=False)
    assert f"no complete checkpoint in {tmp_path / 'cut'} yet: starting from step 0" in capfd.readouterr().err
    _assert_same_run(tmp_path / "cut", tmp_path / "plain", resumed, plain)


def test_a_checkpoint_without_a_stored_validation_loss_measures_it_again(tmp_path, corpus_file, reference):
    """Checkpoints written before the validation loss was stored still finish, with the same loss."""
    out = tmp_path / "old"
    shutil.copytree(reference[0], out)
    shutil.rmtree(out / "final")
    (out / "summary.json").unlink()
    last = checkpoint.list_checkpoints(out)[-1] / checkpoint.STATE_FILE
    state = torch.load(last, weights_only=True)
    del state["val_loss"], state["tokenizer_sha256"]
    torch.save(state, last)
    resumed = train(micro_config("midas", corpus_file), out, resume=True, progress=False)
    _assert_same_run(out, reference[0], resumed, reference[1])


@pytest.mark.parametrize(
    "damage,message",
    [
        ("model.safetensors", "could not read {folder}/model.safetensors ("),
        ("optimizer", "could not read {folder}/optimizer ("),
        ("rng/rank_00000.pt", "could not read {folder}/rng/rank_00000.pt ("),
    ],
)
def test_an_unreadable_checkpoint_file_is_named_in_one_line(tmp_path, corpus_file, reference, damage, message):
    out = tmp_path / "damaged"
    shutil.copytree(reference[0], out, ignore=shutil.ignore_patterns("final", "summary.json"))
    folder = checkpoint.list_checkpoints(out)[-1]
    files = [folder / damage] if (folder / damage).is_file() else sorted((folder / damage).glob("*.distcp"))
    for file in files:
        file.write_bytes(file.read_bytes()[:40])
    with pytest.raises(ConfigError) as error:
        train(micro_config("midas", corpus_file), out, resume=True, progress=False)
    text = str(error.value)
    assert text.startswith(message.format(folder=folder)) and "\n" not in text
    assert text.endswith(f"delete {folder} to resume from an older checkpoint")


def test_a_checkpoint_of_another_tokenizer_is_refused(reference, corpus_file):
    folder = checkpoint.list_checkpoints(reference[0])[-1]
    with pytest.raises(ConfigError, match=r"was trained with another tokenizer \(sha256 [0-9a-f]{12}\.\.\., now 0{12}"):
        checkpoint.load_trainer_state(folder, micro_config("midas", corpus_file), "0" * 64)


def test_the_metrics_log_drops_lines_past_the_checkpoint_and_a_line_cut_short(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 5}\n{"step": 10}\n{"step": 15}\n{"step": 20, "lo')
    MetricsLog(path, 10, tensorboard=False).close()
    assert path.read_text() == '{"step": 5}\n{"step": 10}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
