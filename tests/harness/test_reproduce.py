"""`primbench reproduce` on the micro preset: the whole pipeline, resuming, re-running, given checkpoints, bad input."""

import csv
import io
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from primbench.harness.analysis.similarity import checkpoint_similarity
from primbench.harness.cli import main
from primbench.harness.comparison import measure
from primbench.harness.comparison.runs import SOURCE_PRIMBENCH, discover
from primbench.harness.errors import HarnessError
from primbench.harness.evaluation.finetune import FinetuneConfig
from primbench.harness.reproduce import pipeline as reproduce_module
from primbench.harness.reproduce import stages as reproduce_models
from primbench.harness.reproduce.pipeline import parse_checkpoints, reproduce
from primbench.harness.reproduce.stages import evenly_spaced
from primbench.model_zoo.config import METHODS
from primbench.primitives.registry import PAPER_SUITE, PRESETS, build_dataset
from primbench.tasks.data import DEFAULT_SEED

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PAPER_TASKS = [f"prim_{preset}" for preset in PAPER_SUITE]
# The default run measures a smaller micro preset (context 128 instead of 512, two tasks, four items, one short
# fine-tuning): a sixth of the full preset's time. The full micro preset runs end to end under `slow`.
TASKS = ["prim_variable_assignment_d0_math", "prim_arithmetic_psm"]
LIMIT = 4
FAST_MICRO = replace(
    reproduce_module.PRESETS["micro"],
    limit=LIMIT,
    tasks=tuple(TASKS),
    finetune=FinetuneConfig(n_train=8, seeds=(0,), steps=2, lr=1e-3, limit=LIMIT),
    train_overrides=("data.seq_len=128",),  # the 0-shot prompts of these two tasks fit it
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private PRIMBENCH_CACHE and a small corpus of primitive text, so nothing is fetched or shared."""
    root = tmp_path_factory.mktemp("micro")
    lines = [
        f"{r['prompt']} {r['answer']}\n" for preset in PRESETS for r in build_dataset(preset, 7).records("train", 40)
    ]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(lines))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIMBENCH_CACHE", str(root / "cache"))
        patch.setitem(reproduce_module.PRESETS, "micro", FAST_MICRO)
        yield {"root": root, "set": [f"data.corpus={corpus}", "data.prepare_workers=1"]}


@pytest.fixture(scope="module")
def micro(cache):
    """One (smaller) micro reproduction, shared by the tests below."""
    out = cache["root"] / "run"
    results = reproduce("micro", out, overrides=cache["set"], log=lambda line: None, progress=False)
    return {"out": out, "results": results, **cache}


def no_more_work(monkeypatch):
    """Make every expensive step fail loudly: a re-run of finished stages must call none of them."""

    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage ran again")

    for name in ("fewshot", "finetuned", "similarity", "task_table"):
        monkeypatch.setattr(measure, name, refuse)
    for name in ("isoplot", "validation_loss"):
        monkeypatch.setattr(reproduce_models, name, refuse)
    monkeypatch.setattr("primbench.model_zoo.train.train", refuse)


def test_the_micro_pipeline_measures_all_three_models(micro):
    check_pipeline(micro["out"], micro["results"], TASKS, LIMIT, finetune_seeds=1)


@pytest.mark.slow
def test_the_full_micro_preset_end_to_end(tmp_path_factory):
    """The shipped micro preset as the CLI runs it: every paper task, 8 items, tables and plots (minutes)."""
    root = tmp_path_factory.mktemp("full-micro")
    lines = [
        f"{r['prompt']} {r['answer']}\n" for preset in PRESETS for r in build_dataset(preset, 7).records("train", 40)
    ]
    (root / "corpus.txt").write_text("\n".join(lines))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIMBENCH_CACHE", str(root / "cache"))
        results = reproduce(
            "micro",
            root / "run",
            overrides=[f"data.corpus={root / 'corpus.txt'}"],
            log=lambda line: None,
            progress=False,
        )
    check_pipeline(root / "run", results, PAPER_TASKS, 8, finetune_seeds=2)
    assert len(list(csv.DictReader(io.StringIO((root / "run" / "table.csv").read_text())))) == 3 * 2 * len(PAPER_TASKS)


def check_pipeline(out, results, tasks, limit, finetune_seeds):
    assert json.loads((out / "results.json").read_text()) == results
    assert results["preset"] == "micro" and list(results["models"]) == list(METHODS)
    assert list(results["tasks"]) == tasks
    assert all(0.0 < info["chance"] < 0.5 for info in results["tasks"].values())
    flops = {}
    for method in METHODS:
        entry = results["models"][method]
        summary = json.loads((out / "runs" / method / "summary.json").read_text())
        assert entry["source"] == "trained" and entry["checkpoint"] == f"runs/{method}/final"
        assert entry["training"]["steps"] == summary["steps"] == 40
        assert entry["validation_loss"] == pytest.approx(summary["final_val_loss"], abs=1e-6)
        assert set(entry["fewshot"]["accuracy"]) == set(tasks)
        assert all(
            cell["n"] == min(limit, build_dataset(task[5:], DEFAULT_SEED).capacity("test") or limit)
            for task, cell in entry["fewshot"]["accuracy"].items()
        )
        assert all(len(cell["per_seed"]) == finetune_seeds for cell in entry["finetuned"].values())
        steps = [point["step"] for point in entry["isoplot"]]
        assert steps == sorted(steps) and steps[-1] == 40 and len(steps) == 2
        assert entry["isoplot"][-1]["accuracy"] == {t: c["accuracy"] for t, c in entry["fewshot"]["accuracy"].items()}
        matrix = np.array(entry["similarity"]["matrix"])
        assert matrix.shape == (4, 4) and np.allclose(np.diag(matrix), 1.0, atol=1e-6)
        assert entry["similarity"]["matrix"] == checkpoint_similarity(out / "runs" / method / "final").matrix
        flops[method] = entry["training"]["flops"]
    assert flops["gradstack"] < flops["baseline"] and flops["midas"] < flops["baseline"]
    equal = results["equal_flops"]
    saved = [int(p.name[5:]) for p in (out / "runs" / "baseline" / "checkpoints").glob("step_*")] + [40]
    per_step = flops["baseline"] / 40
    assert equal["step"] == min(saved, key=lambda step: abs(step * per_step - flops["midas"]))
    assert equal["flops_ratio"] == pytest.approx(equal["step"] * per_step / flops["midas"])
    assert set(equal["accuracy"]) == set(tasks) and set(equal["differences"]) == {
        "gradstack - baseline",
        "midas - baseline",
    }
    assert "## Equal training FLOPs" in (out / "table.md").read_text()
    # equal validation loss: every model at the baseline's final loss, from the isoplot's checkpoints
    loss = results["readings"]["equal_loss"]
    assert loss["level"] == results["models"]["baseline"]["validation_loss"]
    for method in ("gradstack", "midas"):
        read = loss["recipes"][method]
        losses = [point["validation_loss"] for point in results["models"][method]["isoplot"]]
        reached = any(min(a, b) <= loss["level"] <= max(a, b) for a, b in zip(losses, losses[1:]))
        assert ("intervals" in read) == reached and ("not_reached" in read) == (not reached)
    assert "## Equal validation loss" in (out / "table.md").read_text()


def test_the_report_files_exist_and_parse(micro):
    out = micro["out"]
    rows = list(csv.DictReader(io.StringIO((out / "table.csv").read_text())))
    assert len(rows) == len(METHODS) * 2 * len(TASKS)
    assert {row["model"] for row in rows} == set(METHODS)
    midas = micro["results"]["models"]["midas"]["fewshot"]["accuracy"]["prim_arithmetic_psm"]["accuracy"]
    assert (
        float(
            next(
                r
                for r in rows
                if r["model"] == "midas" and r["protocol"] == "fewshot" and r["task"] == "prim_arithmetic_psm"
            )["accuracy"]
        )
        == midas
    )
    table = (out / "table.md").read_text()
    assert "| task | chance |" in table and "## What this scale can and cannot show" in table
    assert "primbench reproduce --preset micro" in table
    for name in ("isoplot", "accuracy_fewshot", "accuracy_finetuned", *(f"similarity_{m}" for m in METHODS)):
        path = out / "plots" / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.width >= 400 and image.height >= 400


def test_a_rerun_calls_nothing_and_changes_nothing(micro, monkeypatch):
    out = micro["out"]
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file() and "runs" not in path.parts}
    no_more_work(monkeypatch)
    logged = []
    reproduce("micro", out, overrides=micro["set"], log=logged.append, progress=False)
    assert all(line.startswith("[done]") for line in logged) and len(logged) == 3 + 5 * 3
    after = {path: path.read_bytes() for path in out.rglob("*") if path.is_file() and "runs" not in path.parts}
    assert after.keys() == before.keys()
    for path, data in before.items():
        assert after[path] == data, f"{path.name} changed"


def test_an_interrupted_run_resumes_to_the_same_results(micro, monkeypatch, tmp_path):
    """Drop MIDAS's last stages from the state (as a crash would) and resume: only they run, with equal results."""
    out = tmp_path / "resumed"
    shutil.copytree(micro["out"], out)
    state = json.loads((out / "state.json").read_text())
    for stage in ("midas/finetune", "midas/similarity"):
        del state["stages"][stage]
    (out / "state.json").write_text(json.dumps(state))
    (out / "results.json").unlink()
    monkeypatch.setattr("primbench.model_zoo.train.train", lambda *a, **k: pytest.fail("training ran again"))
    logged = []
    reproduce("micro", out, overrides=micro["set"], log=logged.append, progress=False)
    assert [line for line in logged if line.startswith("[run]")] == ["[run]  midas/finetune", "[run]  midas/similarity"]
    assert (out / "results.json").read_bytes() == (micro["out"] / "results.json").read_bytes()


def test_more_seeds_extend_a_finished_folder_with_intervals_over_seeds(micro, tmp_path):
    """--seeds 2 in a finished --seeds 1 folder trains only seed 1 and reports intervals and paired differences."""
    out = tmp_path / "two-seeds"
    shutil.copytree(micro["out"], out)
    logged = []
    results = reproduce("micro", out, overrides=micro["set"], log=logged.append, progress=False, seeds=2)
    ran = [line.split()[-1] for line in logged if line.startswith("[run]")]
    assert ran == [f"{m}/seed1/{stage}" for m in METHODS for stage in ("train", "fewshot", "finetune")]
    assert results["seeds"] == [0, 1] and "--seeds 2" in results["command"]
    assert results["truncated_prompts"] == 0
    for method in METHODS:
        seeds = results["models"][method]["seeds"]
        assert [entry["seed"] for entry in seeds] == [0, 1]
        assert seeds[0]["fewshot"] == micro["results"]["models"][method]["fewshot"]["accuracy"]
        assert (out / "runs" / f"{method}-seed1" / "final" / "config.json").is_file()
        assert json.loads((out / "runs" / f"{method}-seed1" / "summary.json").read_text())["config"]["run"]["seed"] == 1
        for task in TASKS:
            cell = results["intervals"][method]["fewshot"][task]
            assert cell["seeds"] == 2 and cell["low"] <= cell["mean"] <= cell["high"]
            items = [entry["fewshot"][task]["items"] for entry in seeds]
            assert cell["mean"] == pytest.approx(np.mean(items))
    gap = results["differences"]["midas - baseline"]["finetuned"][TASKS[0]]
    assert gap["low"] <= gap["mean"] <= gap["high"] and gap["seeds"] == 2
    assert "Pretraining seeds: 0, 1." in (out / "table.md").read_text()


def test_seeds_with_given_checkpoints_are_refused(tmp_path):
    with pytest.raises(HarnessError, match="takes --seeds 1"):
        reproduce("micro", tmp_path / "x", checkpoints={"midas": str(tmp_path)}, seeds=2, log=lambda line: None)


def test_given_checkpoints_are_measured_without_training(micro, monkeypatch, tmp_path):
    """Run folders bring their training numbers; a bare HF folder brings weights only (no isoplot, 1-layer blocks)."""
    runs = micro["out"] / "runs"
    bare = tmp_path / "bare"
    shutil.copytree(runs / "midas" / "final", bare)
    monkeypatch.setattr("primbench.model_zoo.train.train", lambda *a, **k: pytest.fail("a given model was trained"))
    given = {"baseline": str(runs / "baseline"), "gradstack": str(runs / "gradstack" / "final"), "midas": str(bare)}
    results = reproduce(
        "micro", tmp_path / "out", checkpoints=given, overrides=micro["set"], log=lambda line: None, progress=False
    )
    original = micro["results"]["models"]
    for method in ("baseline", "gradstack"):
        entry = results["models"][method]
        assert entry["source"] == "given" and entry["training"] == original[method]["training"]
        assert entry["fewshot"] == original[method]["fewshot"] and entry["isoplot"] == original[method]["isoplot"]
    midas = results["models"]["midas"]
    assert midas["training"] is None and midas["isoplot"] == [] and midas["validation_loss"] is None
    assert midas["fewshot"] == original["midas"]["fewshot"] and midas["finetuned"] == original["midas"]["finetuned"]
    assert "--checkpoints midas=" in results["command"]


def test_the_command_offers_exactly_the_library_presets():
    from primbench.harness.cli.reproduce import command

    preset = next(option for option in command.params if option.name == "preset")
    assert list(preset.type.choices) == list(reproduce_module.PRESETS)


def test_parse_checkpoints_and_spacing():
    assert parse_checkpoints(["midas=runs/m", "baseline = runs/b"]) == {"midas": "runs/m", "baseline": "runs/b"}
    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9]  # round(4.5) == 4
    assert evenly_spaced([1, 2], 5) == [1, 2] and evenly_spaced([1, 2, 3], 1) == [3] and evenly_spaced([], 2) == []
    with pytest.raises(HarnessError, match="give each model once"):
        parse_checkpoints(["midas=a", "midas=b"])


def run_cli(*arguments):
    result = CliRunner().invoke(main, ["reproduce", *arguments, "--quiet"])
    lines = result.output.strip().splitlines()
    return result.exit_code, lines[-1] if lines else ""


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--checkpoints", "bigmodel=runs/x"],
            "--checkpoints name 'bigmodel' is not one of baseline, gradstack, midas",
        ),
        (["--checkpoints", "midas"], "must look like name=PATH"),
        (["--checkpoints", "midas={missing}"], "--checkpoints midas: model folder"),
    ],
)
def test_bad_checkpoints_are_refused_before_any_work(tmp_path, arguments, message):
    filled = [a.format(missing=tmp_path / "nothing") for a in arguments]
    code, line = run_cli("--preset", "micro", "--out", str(tmp_path / "out"), *filled)
    assert code == 2 and line.startswith("error: ") and message in line, line
    assert not (tmp_path / "out").exists()


def test_an_out_folder_of_another_preset_or_settings_is_refused(micro):
    out = str(micro["out"])
    code, line = run_cli("--preset", "tiny", "--out", out)
    assert code == 2 and "holds a reproduction with preset 'micro', not 'tiny'" in line, line
    code, line = run_cli("--preset", "micro", "--out", out, "--set", "run.steps=80")
    assert code == 2 and "holds a reproduction with --set" in line and "use another --out" in line, line


def test_an_out_folder_made_with_other_evaluation_settings_is_refused(micro, monkeypatch):
    """Stages measured under other limits must not be mixed with new ones, e.g. after a primbench upgrade."""
    monkeypatch.setitem(reproduce_module.PRESETS, "micro", replace(reproduce_module.PRESETS["micro"], limit=9))
    with pytest.raises(HarnessError, match="was made with other evaluation settings for preset 'micro'"):
        reproduce("micro", micro["out"], overrides=micro["set"], log=lambda line: None, progress=False)


def test_an_out_folder_scored_on_older_task_versions_is_refused(micro, monkeypatch):
    """A task whose data changed (PSM's larger test split) must not mix its old scores with new ones."""
    from primbench.tasks import registry

    monkeypatch.setattr(registry, "REVISED_PRESETS", registry.REVISED_PRESETS - {"arithmetic_psm"})
    with pytest.raises(HarnessError, match="was scored on other versions of prim_arithmetic_psm "):
        reproduce("micro", micro["out"], overrides=micro["set"], log=lambda line: None, progress=False)


def test_a_folder_that_is_not_a_reproduction_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, line = run_cli("--preset", "micro", "--out", str(tmp_path))
    assert code == 2 and "is not a primbench reproduction" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_compare_over_the_reproductions_models_gives_its_accuracies_and_intervals(micro):
    """`primbench compare` on the three trained final models scores each as `reproduce` did."""
    out = micro["root"] / "compared"
    text = micro["root"] / "heldout.txt"
    records = build_dataset(TASKS[0][5:], 9).records("validation", 5)
    text.write_text("".join(f"{r['prompt']} {r['answer']}\n" for r in records))
    runs = [a for m in METHODS for a in ("--run", f"{m}={micro['out'] / 'runs' / m / 'final'}")]
    options = ["--reference", "baseline", "--out", str(out), "--text", str(text), "--shots", "0", "--limit", str(LIMIT)]
    result = CliRunner().invoke(main, ["compare", *runs, *options, "-t", ",".join(TASKS)])
    assert result.exit_code == 0, result.output
    compared, reproduced = json.loads((out / "results.json").read_text()), micro["results"]
    for method in METHODS:
        assert compared["models"][method]["fewshot"]["accuracy"] == reproduced["models"][method]["fewshot"]["accuracy"]
        assert compared["intervals"][method]["fewshot"] == reproduced["intervals"][method]["fewshot"]
    for name in ("gradstack - baseline", "midas - baseline"):
        assert compared["differences"][name]["fewshot"] == reproduced["differences"][name]["fewshot"]
    assert "no training FLOPs for baseline" in compared["readings"]["equal_flops_left_out"]  # bare HF folders


def test_compare_reads_a_primbench_runs_flops_and_losses_from_its_logs(micro):
    for method in METHODS:
        folder = micro["out"] / "runs" / method
        summary = json.loads((folder / "summary.json").read_text())
        logged = {}
        for line in (folder / "metrics.jsonl").read_text().splitlines():
            logged.setdefault(json.loads(line)["step"], {}).update(json.loads(line))
        run = discover(folder, method)
        assert run.layout == "primbench" and run.final.name == "final" and run.final.flops == summary["flops"]
        assert run.final.logged_loss == summary["final_val_loss"]
        for checkpoint in run.checkpoints[:-1]:
            step = int(checkpoint.folder.name.removeprefix("step_"))
            saved = torch.load(checkpoint.folder / "trainer_state.pt", weights_only=True)
            assert checkpoint.flops == saved["flops"] == logged.get(step, saved)["flops"]
            assert checkpoint.flops_source == SOURCE_PRIMBENCH
            assert checkpoint.logged_loss == logged.get(step, {}).get("val_loss")
        assert [c.flops for c in run.checkpoints] == sorted(c.flops for c in run.checkpoints)


@pytest.mark.parametrize("folder, seeds", [("tiny", 1), ("tiny-3seeds", 3)])
def test_the_committed_tiny_results_redraw_from_their_state_with_the_same_numbers(folder, seeds, tmp_path, monkeypatch):
    from pathlib import Path

    committed = Path(__file__).parents[2] / "results" / folder
    out = tmp_path / "results" / folder
    shutil.copytree(committed, out)
    (out / "results.json").unlink()
    no_more_work(monkeypatch)
    monkeypatch.chdir(tmp_path)
    results = reproduce("tiny", Path("results") / folder, log=lambda line: None, progress=False, seeds=seeds)
    assert results == json.loads((committed / "results.json").read_text())
    for name in ("table.md", "table.csv", "intervals.csv"):
        assert (out / name).read_text() == (committed / name).read_text(), name
