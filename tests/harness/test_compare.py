"""`primbench compare` on runs trained with transformers.Trainer: the three readings, resuming, bad input."""

import csv
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from test_eval_hf import build_tiny_llama
from trainer_runs import SAVE_EVERY, STEPS, primitive_text, train_runs

from primbench.harness.analysis.intervals import bootstrap_interval
from primbench.harness.cli import main
from primbench.harness.comparison import compare as compare_module
from primbench.harness.comparison import measure
from primbench.harness.comparison.runs import SOURCE_TRAINER, apply_flops, discover, read_flops_csv

TASK = "prim_variable_assignment_d0_math"
LIMIT = 6


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two learning rates, two seeds each, checkpoints every 2 of 6 steps; and a held-out text."""
    root = tmp_path_factory.mktemp("trainer")
    runs = train_runs(root, {"slow": 3e-3, "fast": 1e-2})
    text = root / "heldout.txt"
    text.write_text(primitive_text("validation", 5))
    return {"root": root, "runs": runs, "text": text}


def run_compare(trained, out, *extra, runs=None, reference="slow"):
    arguments = []
    for name, paths in (runs or trained["runs"]).items():
        arguments += ["--run", f"{name}={','.join(str(path) for path in paths)}"]
    arguments += ["--reference", reference, "--out", str(out), "-t", TASK, "--shots", "0", "--limit", str(LIMIT)]
    return CliRunner().invoke(main, ["compare", *arguments, *extra])


@pytest.fixture(scope="module")
def compared(trained):
    out = trained["root"] / "compared"
    result = run_compare(trained, out, "--text", str(trained["text"]))
    assert result.exit_code == 0, result.output
    return {"out": out, "results": json.loads((out / "results.json").read_text()), "output": result.output}


def trainer_state(folder):
    return json.loads((folder / "trainer_state.json").read_text())


def test_trainer_runs_get_all_three_readings_with_flops_from_trainer_state(trained, compared):
    results, out = compared["results"], compared["out"]
    assert results["reference"] == "slow" and results["seeds"] == {"slow": 2, "fast": 2}
    assert results["flops_sources"] == {"slow": [SOURCE_TRAINER], "fast": [SOURCE_TRAINER]}
    table = (out / "table.md").read_text()
    assert "trainer_state.json (total_flos)" in table
    for heading in ("## Over pretraining seeds", "## Equal training FLOPs", "## Equal bits per byte on heldout.txt"):
        assert heading in table
    names = [f"checkpoint-{step}" for step in range(SAVE_EVERY, STEPS + 1, SAVE_EVERY)]
    assert [p["checkpoint"] for p in results["models"]["fast"]["isoplot"]] == names
    # end of training: the interval over seeds and items of the final checkpoints' per-item scores
    state = json.loads((out / "state.json").read_text())["stages"]
    finals = {
        name: [state[f"{name}/{k}/{names[-1]}"]["fewshot"][TASK]["items"] for k in (0, 1)] for name in trained["runs"]
    }
    assert all(len(row) == LIMIT for rows in finals.values() for row in rows)
    expected = bootstrap_interval(finals["fast"], finals["slow"]).to_dict()
    gap = results["differences"]["fast - slow"]["fewshot"][TASK]
    assert {key: gap[key] for key in expected} == expected and gap["paired"] is True and gap["seeds"] == 2
    assert results["intervals"]["fast"]["fewshot"][TASK]["mean"] == pytest.approx(np.mean(finals["fast"]))
    # equal FLOPs: per seed, slow's checkpoint whose total_flos is nearest fast's final total_flos
    reading = results["readings"]["equal_flops"]["fast"]
    for k, (slow_run, fast_run) in enumerate(zip(trained["runs"]["slow"], trained["runs"]["fast"])):
        target = trainer_state(fast_run / names[-1])["total_flos"]
        nearest = min(names, key=lambda n: (abs(trainer_state(slow_run / n)["total_flos"] - target), n))
        assert reading["reference_checkpoints"][k] == nearest and reading["flops"][k] == target
    assert set(reading["differences"]) == {TASK} and reading["differences"][TASK]["paired"] is True
    # equal bits per byte: fast interpolated at slow's mean final bits per byte, between the checkpoints around it
    loss = results["readings"]["equal_loss"]
    level = np.mean([state[f"slow/{k}/{names[-1]}"]["x"] for k in (0, 1)])
    assert loss["level"] == pytest.approx(level)
    fast = loss["recipes"]["fast"]
    for k, (before, after) in enumerate(fast["between"]):
        high, low = state[f"fast/{k}/{before}"]["x"], state[f"fast/{k}/{after}"]["x"]
        assert min(high, low) <= level <= max(high, low)
        assert fast["weights"][k] == pytest.approx((high - level) / (high - low))
    assert fast["differences"][TASK]["paired"] is True
    rows = {(r["row"], r["protocol"]): r for r in csv.DictReader((out / "intervals.csv").open())}
    assert float(rows[("fast - slow", "fewshot_at_equal_flops")]["mean"]) == reading["differences"][TASK]["mean"]
    assert float(rows[("fast - slow", "fewshot_at_equal_loss")]["mean"]) == fast["differences"][TASK]["mean"]
    assert float(rows[("fast - slow", "fewshot")]["high"]) == gap["high"]
    for name in ("isoplot", "accuracy_fewshot", "similarity_slow", "similarity_fast"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_rerun_only_redraws_and_another_reference_flips_the_differences(trained, compared, monkeypatch):
    out = compared["out"]
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def refuse(*args, **kwargs):
        raise AssertionError("a finished measurement ran again")

    monkeypatch.setattr(measure, "fewshot", refuse)
    monkeypatch.setattr("primbench.harness.analysis.isoplot.bits_per_byte", refuse)
    again = run_compare(trained, out, "--text", str(trained["text"]))
    assert again.exit_code == 0, again.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    flipped = run_compare(trained, out, "--text", str(trained["text"]), reference="fast")
    assert flipped.exit_code == 0, flipped.output
    results = json.loads((out / "results.json").read_text())
    mine, theirs = results["differences"]["slow - fast"]["fewshot"][TASK], compared["results"]["differences"]
    assert mine["mean"] == pytest.approx(-theirs["fast - slow"]["fewshot"][TASK]["mean"])


def test_without_text_the_logged_validation_loss_of_a_shared_tokenizer_is_the_axis(trained):
    recipes = {name: [discover(path, name) for path in paths] for name, paths in trained["runs"].items()}
    label, text = compare_module._x_axis(recipes, None)
    assert label == "validation loss (as logged)" and text is None
    run = recipes["fast"][0]
    for checkpoint in run.checkpoints:
        state = trainer_state(checkpoint.folder)
        logged = [row["eval_loss"] for row in state["log_history"] if "eval_loss" in row]
        assert checkpoint.logged_loss == logged[-1] and checkpoint.flops == state["total_flos"]


def test_a_trainer_state_without_total_flos_drops_only_the_equal_compute_reading(trained, tmp_path):
    runs = {}
    for name in ("slow", "fast"):
        copy = tmp_path / name
        shutil.copytree(trained["runs"][name][0], copy)
        runs[name] = [copy]
    for state_file in (tmp_path / "fast").glob("checkpoint-*/trainer_state.json"):
        state = json.loads(state_file.read_text())
        del state["total_flos"]
        state_file.write_text(json.dumps(state))
    result = run_compare(trained, tmp_path / "out", "--text", str(trained["text"]), runs=runs)
    assert result.exit_code == 0, result.output
    assert "has no total_flos" in result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (
        results["readings"]["equal_flops"] is None
        and "no training FLOPs for fast" in (results["readings"]["equal_flops_left_out"])
    )
    assert results["differences"]["fast - slow"]["fewshot"][TASK]["paired"] is True
    assert "intervals" in results["readings"]["equal_loss"]["recipes"]["slow"]
    assert "Left out: no training FLOPs for fast" in (tmp_path / "out" / "table.md").read_text()


def test_unequal_seed_counts_give_unpaired_intervals(trained, compared, tmp_path):
    runs = {"slow": trained["runs"]["slow"], "fast": trained["runs"]["fast"][:1]}
    out = tmp_path / "unpaired"
    shutil.copytree(compared["out"], out)  # the measurements are stored: nothing is scored again
    state = json.loads((out / "state.json").read_text())
    state["pins"]["runs"]["fast"] = state["pins"]["runs"]["fast"][:1]
    (out / "state.json").write_text(json.dumps(state))
    result = run_compare(trained, out, "--text", str(trained["text"]), runs=runs)
    assert result.exit_code == 0, result.output
    gap = json.loads((out / "results.json").read_text())["differences"]["fast - slow"]["fewshot"][TASK]
    assert gap["paired"] is False and (gap["seeds"], gap["reference_seeds"]) == (1, 2)
    assert " u |" in (out / "table.md").read_text()


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "holds no checkpoints"),
        ("twice", "--run names slow twice"),
        ("reference", "--reference 'midas' is not one of the --run names"),
        ("tokenizers", "the runs use different tokenizers"),
        ("flops", "is not a CSV with columns checkpoint,flops"),
        ("flops-name", "--flops names midas, which no --run names"),
        ("empty-text", "is empty; pass a held-out UTF-8 text"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(trained, tmp_path, case, message):
    runs = {name: list(paths) for name, paths in trained["runs"].items()}
    reference, extra = "slow", []
    if case == "empty":
        (tmp_path / "empty").mkdir()
        runs["fast"] = [tmp_path / "empty"]
        extra = ["--text", str(trained["text"])]
    elif case == "reference":
        reference = "midas"
    elif case == "tokenizers":
        runs["fast"] = [build_tiny_llama(tmp_path / "other", with_eos=False)]
    elif case in ("flops", "flops-name"):
        (tmp_path / "flops.csv").write_text("checkpoint,flops\ncheckpoint-2,many\n")
        extra = ["--flops", f"{'fast' if case == 'flops' else 'midas'}={tmp_path / 'flops.csv'}"]
    elif case == "empty-text":
        (tmp_path / "empty.txt").write_text("\n")
        extra = ["--text", str(tmp_path / "empty.txt")]
    arguments = []
    for name, paths in runs.items():
        arguments += ["--run", f"{name}={','.join(map(str, paths))}"]
    if case == "twice":
        arguments += ["--run", f"slow={runs['slow'][0]}"]
    arguments += ["--reference", reference, "--out", str(tmp_path / "out"), "-t", TASK, *extra]
    result = CliRunner().invoke(main, ["compare", *arguments])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_flops_from_a_csv_beat_the_trainers_estimate(trained, tmp_path):
    (tmp_path / "flops.csv").write_text("checkpoint,flops\ncheckpoint-2,1e12\ncheckpoint-6,3e12\n")
    run = discover(trained["runs"]["fast"][0], "fast")
    apply_flops(run, read_flops_csv("fast", str(tmp_path / "flops.csv")), "--flops flops.csv")
    assert [(c.name, c.flops, c.flops_source) for c in run.checkpoints] == [
        ("checkpoint-2", 1e12, "--flops flops.csv"),
        ("checkpoint-4", trainer_state(run.checkpoints[1].folder)["total_flos"], SOURCE_TRAINER),
        ("checkpoint-6", 3e12, "--flops flops.csv"),
    ]


def test_a_model_saved_at_the_top_of_a_trainer_folder_is_its_final_model_when_it_is_newer(trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained["runs"]["slow"][0], run_dir)
    last = run_dir / f"checkpoint-{STEPS}"
    for item in last.iterdir():
        if item.name != "trainer_state.json" and item.is_file():
            shutil.copy(item, run_dir / item.name)
    run = discover(run_dir, "slow")  # a model with no trainer_state.json: its step is unknown
    assert run.final.name == f"checkpoint-{STEPS}" and "its step is unknown" in run.notes[0]
    state = trainer_state(last)
    (run_dir / "trainer_state.json").write_text(json.dumps({**state, "global_step": STEPS + 1, "total_flos": 7e12}))
    run = discover(run_dir, "slow")
    assert (run.final.name, run.final.folder, run.final.flops) == ("final", run_dir, 7e12) and not run.notes


def test_finetune_tunes_every_runs_final_model_and_adds_its_intervals(trained, compared, tmp_path):
    """With the checkpoints' stages stored, only the fine-tuning stages run, one per run."""
    from primbench.harness.comparison.compare import CompareSettings, compare
    from primbench.harness.evaluation.finetune import FinetuneConfig

    tuning = FinetuneConfig(n_train=4, seeds=(0,), steps=1, lr=1e-3, limit=LIMIT)
    settings = CompareSettings(tasks=(TASK,), shots=0, limit=LIMIT, finetune=tuning)
    out = tmp_path / "tuned"
    shutil.copytree(compared["out"], out)
    state = json.loads((out / "state.json").read_text())
    assert state["pins"]["settings"] == {**settings.to_dict(), "finetune": None}
    state["pins"]["settings"] = settings.to_dict()
    (out / "state.json").write_text(json.dumps(state))
    logged = []
    runs = {name: [str(path) for path in paths] for name, paths in trained["runs"].items()}
    results = compare(runs, "slow", out, text=trained["text"], settings=settings, log=logged.append, progress=False)
    assert [line.split()[-1] for line in logged if line.startswith("[run]")] == [
        f"{name}/{k}/finetune" for name in ("slow", "fast") for k in (0, 1)
    ]
    stages = json.loads((out / "state.json").read_text())["stages"]
    tuned = [stages[f"fast/{k}/finetune"]["tasks"][TASK] for k in (0, 1)]
    assert results["models"]["fast"]["finetuned"][TASK] == tuned[0]
    assert results["intervals"]["fast"]["finetuned"][TASK]["mean"] == pytest.approx(
        np.mean([t["items"] for t in tuned])
    )
    assert results["differences"]["fast - slow"]["finetuned"][TASK]["paired"] is True
    assert "Fine-tuned: 4 training examples" in (out / "table.md").read_text()


def test_a_primbench_run_killed_mid_log_line_reads_its_complete_lines(tmp_path):
    """A kill can cut metrics.jsonl's last line short; compare reads the lines before it, as a resume does."""
    run = tmp_path / "run"
    for folder in (run / "checkpoints" / "step_0000002", run / "final"):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    (run / "summary.json").write_text(json.dumps({"steps": 4, "flops": 40.0, "final_val_loss": 5.0}))
    (run / "metrics.jsonl").write_text(
        json.dumps({"step": 2, "flops": 20.0, "val_loss": 6.0}) + "\n" + '{"step": 3, "flops": 3'
    )
    found = discover(run, "a")
    assert [(c.name, c.flops, c.logged_loss) for c in found.checkpoints] == [
        ("checkpoints/step_0000002", 20.0, 6.0),
        ("final", 40.0, 5.0),
    ]
