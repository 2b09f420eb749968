"""`primbench list`, `show` and `generate` through click's runner: output, files and every user error."""

import json
import os

import pytest
from click.testing import CliRunner

from primbench.harness.cli import main
from primbench.primitives.registry import PAPER_SUITE, PRESETS, build_dataset


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_user_error(result, *fragments: str) -> None:
    """Exit 2, one `error:` line on stderr naming the problem, and no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_list_shows_every_preset_and_knob_with_default_and_range():
    result = run("list")
    assert result.exit_code == 0
    for name in PRESETS:
        assert name in result.output
    assert "depth              0        0..25" in result.output
    assert "vocabulary     words    words | letters | digits | syllables" in result.output
    assert run("list", "--names").output.split() == list(PRESETS)
    assert run("list", "--names", "--paper").output.split() == PAPER_SUITE
    one = run("list", "arithmetic").output
    assert "arithmetic_psm" in one and "variable_assignment" not in one


def test_show_prints_prompts_and_answers_of_the_dataset():
    result = run("show", "variable_assignment_d1_math", "-n", "2", "--seed", "4", "--split", "test")
    assert result.exit_code == 0
    dataset = build_dataset("variable_assignment_d1_math", 4)
    for index in range(2):
        record = dataset.record("test", index)
        assert record["prompt"] in result.output and f"=> {record['answer']}\n" in result.output
        assert record["id"] in result.output


def test_show_json_with_knobs_gives_the_records():
    result = run(
        "show",
        "variable_assignment_d0_code",
        "--set",
        "depth=3",
        "--set",
        "chains=2",
        "-n",
        "3",
        "--start",
        "5",
        "--json",
    )
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.output.splitlines()]
    expected = build_dataset("variable_assignment_d0_code", 0, {"depth": 3, "chains": 2})
    assert records == [expected.record("train", i) for i in range(5, 8)]
    assert all(r["meta"]["depth"] == 3 for r in records)


def test_show_with_a_user_template(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("Q: {{ expression }} = ?\nAnswer:")
    result = run("show", "arithmetic_psm", "--template", str(template), "--json", "-n", "1")
    record = json.loads(result.output)
    assert record["prompt"].startswith("Q: ") and record["prompt"].endswith("= ?\nAnswer:")
    template.write_text("{{ nonsense }}")
    assert_user_error(
        run("show", "arithmetic_psm", "--template", str(template)), "'nonsense' is undefined", "available names"
    )
    template.write_text("{{ operands + 1 }}")
    assert_user_error(run("show", "arithmetic_psm", "--template", str(template)), "fails to render", "fix the template")
    template.write_text("{% for x in %}")
    assert_user_error(run("show", "arithmetic_psm", "--template", str(template)), "fix the jinja2 syntax")
    assert_user_error(run("show", "arithmetic_psm", "--template", str(tmp_path / "missing.j2")), "cannot read template")


def test_generate_writes_folders_and_reports(tmp_path):
    out = tmp_path / "data"
    result = run(
        "generate",
        "arithmetic_psm",
        "induction_copy_words",
        "--out",
        str(out),
        "--n-train",
        "10",
        "--n-val",
        "3",
        "--n-test",
        "4",
        "--seed",
        "7",
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}/arithmetic_psm  (train 10, validation 3, test 4; jsonl)" in result.output
    assert sorted(os.listdir(out)) == ["arithmetic_psm", "induction_copy_words"]
    manifest = json.loads((out / "induction_copy_words" / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["counts"] == {"train": 10, "validation": 3, "test": 4}


def test_generate_paper_suite_in_parquet(tmp_path):
    result = run(
        "generate",
        "--paper",
        "--out",
        str(tmp_path / "d"),
        "--n-train",
        "4",
        "--n-val",
        "2",
        "--n-test",
        "2",
        "--format",
        "parquet",
        "--quiet",
    )
    assert result.exit_code == 0 and result.output == ""
    assert sorted(os.listdir(tmp_path / "d")) == sorted(PAPER_SUITE)
    assert os.path.isfile(tmp_path / "d" / "arithmetic_psm" / "test.parquet")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["show", "variable_assignment_d1_maht"], ["unknown preset", "did you mean variable_assignment_d1_math"]),
        (["show", "variable_assignment_d1_math", "--set", "depth"], ["malformed --set 'depth'", "knob=value"]),
        (["show", "variable_assignment_d1_math", "--set", "dpth=2"], ["unknown knob 'dpth'", "did you mean depth"]),
        (["show", "variable_assignment_d1_math", "--set", "depth=30"], ["out of range 0..25"]),
        (["show", "variable_assignment_d1_math", "--set", "depth=9"], ["needs up to 50 variables"]),
        (["show", "induction_copy_words", "--set", "length=0"], ["length=0 is out of range 2..64"]),
        (["show", "arithmetic_psm", "-n", "0"], ["-n must be at least 1"]),
        (["show", "arithmetic_psm", "-n", "500", "--split", "test"], ["asked for 500 test records"]),
        (["list", "algebra"], ["unknown primitive 'algebra'"]),
        (["generate", "--out", "x"], ["name presets, or pass --all or --paper"]),
        (["generate", "arithmetic_psm", "--all", "--out", "x"], ["exactly one of these"]),
        (
            ["generate", "arithmetic_psm", "--out", "x", "--n-test", "1000", "--strict"],
            ["asked for 1000 test records", "110 distinct problems"],
        ),
        (["generate", "arithmetic_psm", "--out", "x", "--n-val", "0"], ["--n-val must be at least 1"]),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    assert_user_error(run(*args), *fragments)
    assert not (tmp_path / "x").exists()


def test_generate_clips_the_paper_suite_to_what_each_split_holds(tmp_path):
    """`--paper --n-train 200` used to refuse the whole suite because PSM has 60 train problems."""
    result = CliRunner().invoke(
        main,
        [
            "generate",
            "--paper",
            "--n-train",
            "200",
            "--n-test",
            "1",
            "--n-val",
            "1",
            "--out",
            str(tmp_path / "d"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if line.startswith("warning:")] == [
        "warning: arithmetic_psm: its train split holds 60 distinct problems, so it gets 60 records, not 200 "
        "(--strict refuses instead)"
    ]
    train = {name: len((tmp_path / "d" / name / "train.jsonl").read_text().splitlines()) for name in PAPER_SUITE}
    assert train == {name: 60 if name == "arithmetic_psm" else 200 for name in PAPER_SUITE}


def test_generate_refuses_a_non_empty_or_unwritable_output(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    assert_user_error(
        run("generate", "arithmetic_psm", "--out", str(tmp_path / "full")), "is not empty; pass --overwrite"
    )
    (tmp_path / "file").write_text("x")
    assert_user_error(run("generate", "arithmetic_psm", "--out", str(tmp_path / "file")), "is a file")
    if os.geteuid() != 0:  # root may write anywhere
        (tmp_path / "locked").mkdir(mode=0o500)
        assert_user_error(
            run("generate", "arithmetic_psm", "--out", str(tmp_path / "locked" / "d")), "cannot create --out"
        )
    assert os.listdir(tmp_path / "full") == ["keep.txt"]


def test_generate_into_a_path_below_a_file_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_user_error(run("generate", "arithmetic_psm", "--out", str(tmp_path / "file" / "d")), "cannot create --out")
