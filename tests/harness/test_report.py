"""Reports: tables that parse and carry the numbers they were given, chance marks, valid PNGs, atomic writes."""

import csv
import io
import math

import pytest
from PIL import Image

from primbench.harness import statistics
from primbench.harness.reports import report
from primbench.model_zoo.config import METHODS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sample_results() -> dict:
    """A results.json as `reproduce` writes it, with numbers chosen so each chance mark is unambiguous."""
    fewshot = {"baseline": (0.22, 0.95), "gradstack": (0.24, 0.90), "midas": (0.60, 0.85)}
    models = {}
    for offset, method in enumerate(METHODS):
        easy, hard = fewshot[method]
        models[method] = {
            "source": "trained",
            "checkpoint": f"runs/{method}/final",
            "training": {
                "steps": 100,
                "tokens": 204800,
                "flops": [1.0e12, 0.72e12, 0.72e12][offset],
                "seed": 0,
                "wall_clock_s": 60.0 + offset,
            },
            "validation_loss": 4.5 + 0.1 * offset,
            "fewshot": {
                "shots": 5,
                "limit": 100,
                "accuracy": {
                    "prim_variable_assignment_d0_math": {"accuracy": easy, "stderr": 0.04, "n": 100},
                    "prim_arithmetic_psm": {"accuracy": hard, "stderr": 0.02, "n": 100},
                },
            },
            "finetuned": {
                "prim_variable_assignment_d0_math": {"mean": 0.5, "std": 0.05, "per_seed": [0.45, 0.5, 0.55], "n": 100},
                "prim_arithmetic_psm": {"mean": 0.12, "std": 0.0, "per_seed": [0.12] * 3, "n": 100},
            },
            "isoplot": [
                {"step": 50, "validation_loss": 5.0 + offset, "mean_accuracy": 0.3},
                {"step": 100, "validation_loss": 4.5 + offset, "mean_accuracy": 0.4},
            ],
            "similarity": {
                "architecture": "LlamaForCausalLM",
                "num_layers": 4,
                "block_size": 2,
                "matrix": [[1.0, 0.25 * offset], [0.25 * offset, 1.0]],
            },
        }
    return {
        "preset": "tiny",
        "command": "primbench reproduce --preset tiny --out runs/tiny",
        "versions": {"torch": "2.13.0+cpu"},
        "settings": {
            "fewshot": {"shots": 5, "limit": 100},
            "seeds": {"data": 1234, "fewshot_draw": 1234, "finetune": [0, 1, 2]},
            "finetune": {"n_train": 64, "steps": 40, "lr": 0.001, "seeds": [0, 1, 2], "shots": 0, "limit": 100},
        },
        "tasks": {"prim_variable_assignment_d0_math": {"chance": 0.2}, "prim_arithmetic_psm": {"chance": 0.1}},
        "models": models,
    }


def test_chance_margin_and_marks_follow_the_binomial_band():
    assert statistics.chance_margin(0.5, 100) == pytest.approx(1.96 * 0.05)
    assert statistics.chance_margin(0.2, 100) == pytest.approx(1.96 * math.sqrt(0.16 / 100))
    assert statistics.above_chance(0.29, 0.2, 100) is True  # 0.09 > 0.0784
    assert statistics.above_chance(0.27, 0.2, 100) is False  # 0.07 < 0.0784
    assert statistics.above_chance(None, 0.2, 100) is False
    assert statistics.above_chance(1.0, 0.0, 0) is False  # nothing measured, nothing claimed
    assert statistics.mean_accuracy({"a": 0.2, "b": None, "c": 0.6}) == pytest.approx(0.4)
    assert statistics.mean_accuracy(iter([None])) is None


def test_csv_parses_and_carries_every_number_it_was_given(tmp_path):
    results = sample_results()
    report.write_report(results, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "table.csv").read_text())))
    assert len(rows) == 3 * 2 * 2  # models x protocols x tasks
    assert not (tmp_path / "intervals.csv").exists()  # one pretraining seed: no intervals over seeds
    by_key = {(row["model"], row["protocol"], row["task"]): row for row in rows}
    midas_easy = by_key[("midas", "fewshot", "prim_variable_assignment_d0_math")]
    assert float(midas_easy["accuracy"]) == 0.60 and midas_easy["std"] == "" and midas_easy["n"] == "100"
    assert float(midas_easy["chance"]) == 0.2 and midas_easy["above_chance"] == "true"
    assert by_key[("baseline", "fewshot", "prim_variable_assignment_d0_math")]["above_chance"] == "false"
    finetuned = by_key[("gradstack", "finetuned", "prim_variable_assignment_d0_math")]
    assert float(finetuned["accuracy"]) == 0.5 and float(finetuned["std"]) == 0.05
    assert float(by_key[("midas", "finetuned", "prim_arithmetic_psm")]["flops_vs_baseline"]) == pytest.approx(0.72)
    assert float(by_key[("baseline", "fewshot", "prim_arithmetic_psm")]["validation_loss"]) == 4.5


def test_markdown_puts_chance_beside_accuracy_and_states_what_the_scale_shows(tmp_path):
    report.write_report(sample_results(), tmp_path)
    text = (tmp_path / "table.md").read_text()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| task |"))
    assert header.split("|")[2].strip() == "chance"
    row = next(line for line in lines if line.startswith("| prim_variable_assignment_d0_math |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == [
        "prim_variable_assignment_d0_math",
        "20.0",
        "22.0 ~",
        "24.0 ~",
        "60.0",
        "50.0 ± 5.0",
        "50.0 ± 5.0",
        "50.0 ± 5.0",
    ]
    assert all(line.count("|") == header.count("|") for line in lines if line.startswith("| prim_"))
    midas = next(line for line in lines if line.startswith("| midas |"))
    assert "| 0.720 |" in midas and "| 0.500 |" in midas  # FLOPs ratio and neighbouring-block similarity
    assert "## What this scale can and cannot show" in text
    assert (
        "Seeds: primitive data 1234, few-shot draw 1234, pretraining baseline 0, gradstack 0, midas 0, "
        "fine-tuning 0, 1, 2."
    ) in text
    assert "**Cannot show:** whether MIDAS reasons better" in text
    assert (
        "these models saw at most 2.05e+05 tokens, and 5 of the 12 accuracies above do not clear chance by more than noise"
        in text
    )  # 2 few-shot + 3 fine-tuned PSM
    assert (
        "With 100 test items per task, an accuracy near 50% is known only to about ±9.8 points at best" in text
    )  # 1.96 * sqrt(0.25 / 100)


def test_plots_are_valid_pngs_of_the_expected_size(tmp_path):
    written = report.write_report(sample_results(), tmp_path)
    expected_pngs = {
        "isoplot.png",
        "accuracy_fewshot.png",
        "accuracy_finetuned.png",
        "similarity_baseline.png",
        "similarity_gradstack.png",
        "similarity_midas.png",
    }
    assert expected_pngs <= set(written)
    sizes = {"isoplot.png": (560, 420), "similarity_midas.png": (480, 420), "accuracy_fewshot.png": (600, 440)}
    for name in expected_pngs:
        path = tmp_path / "plots" / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG"
            if name in sizes:
                assert image.size == sizes[name]


def test_a_second_render_is_byte_identical(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    report.write_report(sample_results(), first)
    report.write_report(sample_results(), second)
    for path in sorted(first.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (second / path.relative_to(first)).read_bytes(), path.name


def test_missing_protocols_leave_their_plots_out_and_dashes_in_the_table(tmp_path):
    results = sample_results()
    for model in results["models"].values():
        model["finetuned"] = {}
        model["similarity"] = None
    written = report.write_report(results, tmp_path)
    assert "accuracy_finetuned.png" not in written and "similarity_midas.png" not in written
    row = next(
        line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("| prim_arithmetic_psm |")
    )
    assert row.rstrip().endswith("| - | - | - |")


def test_the_table_says_how_many_few_shot_prompts_were_cut_to_the_context(tmp_path):
    results = sample_results()
    report.write_report(results, tmp_path)
    assert "longer than the model's context window" not in (tmp_path / "table.md").read_text()
    results["models"]["midas"]["fewshot"]["accuracy"]["prim_arithmetic_psm"]["truncated"] = 7
    results["models"]["baseline"]["fewshot"]["accuracy"]["prim_variable_assignment_d0_math"]["truncated"] = 100
    report.write_report(results, tmp_path)
    assert (
        "- 107 of the 600 few-shot prompts scored were longer than the model's context window; lm-eval keeps only "
        "their last tokens, so those items saw fewer than 5 shots."
    ) in (tmp_path / "table.md").read_text()


def test_fine_tuned_cells_show_the_fit_and_flag_tuning_below_the_blind_guess(tmp_path):
    results = sample_results()
    for method, model in results["models"].items():
        model["finetuned"]["prim_variable_assignment_d0_math"]["fit"] = 0.75
        model["finetuned"]["prim_arithmetic_psm"].update(mean=0.05, fit=1.0)  # chance is 0.1: failed
    report.write_report(results, tmp_path)
    row = next(line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("| prim_arith"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[-1] == "5.0 ± 0.0 ~ ! (fit 100.0)"
    assert "`!` marks a fine-tuned accuracy below the blind-guess level" in (tmp_path / "table.md").read_text()
    rows = {(r["model"], r["protocol"], r["task"]): r for r in csv.DictReader((tmp_path / "table.csv").open())}
    easy = rows[("midas", "finetuned", "prim_variable_assignment_d0_math")]
    assert float(easy["fit"]) == 0.75 and easy["failed_tuning"] == "false"
    assert rows[("midas", "finetuned", "prim_arithmetic_psm")]["failed_tuning"] == "true"
    assert rows[("midas", "fewshot", "prim_arithmetic_psm")]["fit"] == ""


def test_seeds_give_intervals_paired_differences_and_a_computed_statement(tmp_path):
    from primbench.harness.comparison import readings

    results = sample_results()
    tasks = list(results["tasks"])
    right = {"baseline": 0.9, "gradstack": 0.9, "midas": 0.1}  # d0_math item scores per method, all seeds alike
    per_seed = {
        method: [
            {
                "seed": seed,
                "fewshot": {
                    t: {"items": [1.0] * round(100 * right[method]) + [0.0] * round(100 * (1 - right[method]))}
                    for t in tasks
                },
                "finetuned": {t: {"items": [0.0] * 100} for t in tasks},
            }
            for seed in (0, 1)
        ]
        for method in METHODS
    }
    results["seeds"] = [0, 1]
    results["intervals"] = {m: readings.model_intervals(runs, tasks) for m, runs in per_seed.items()}
    results["differences"] = readings.differences(per_seed, tasks, "baseline")
    assert results["differences"]["midas - baseline"]["fewshot"][tasks[0]]["mean"] == pytest.approx(-0.8)
    report.write_report(results, tmp_path)
    text = (tmp_path / "table.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| prim_variable") and "[" in line and "+" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "prim_variable_assignment_d0_math" and cells[1] == "+0.0 [+0.0, +0.0]"  # same items
    assert cells[2].startswith("-80.0 [-") and float(cells[2].split(", ")[1].rstrip("]")) < 0
    assert "Pretraining seeds: 0, 1." in text
    assert "the baseline's 95% interval lies above chance on 2 of 2 tasks few-shot and 0 fine-tuned" in text
    assert "midas - baseline: few-shot above zero on 0, below on 2, zero inside the interval on 0 tasks" in text
    assert "No difference between methods is separated" not in text
    # the computed statement is a bullet of its own: the next bullet starts on a new line
    statement = next(line for line in text.splitlines() if "pretraining seeds, the baseline's" in line)
    assert statement.startswith("- Over 2 pretraining seeds") and statement.endswith("tasks.")
    assert any(line.startswith("- **Can show:**") for line in text.splitlines())
    rows = {(r["row"], r["protocol"], r["task"]): r for r in csv.DictReader((tmp_path / "intervals.csv").open())}
    gap = rows[("midas - baseline", "fewshot", tasks[0])]
    assert float(gap["mean"]) == pytest.approx(-0.8) and float(gap["high"]) < 0 and gap["verdict"] == "below_zero"
    baseline = rows[("baseline", "fewshot", tasks[0])]
    assert (baseline["seeds"], baseline["items"], baseline["verdict"]) == ("2", "100", "above_chance")
    assert rows[("baseline", "finetuned", tasks[0])]["verdict"] == "not_above_chance"
    assert len(rows) == len(tasks) * 2 * (len(METHODS) + 2)  # every model and both differences, both protocols
