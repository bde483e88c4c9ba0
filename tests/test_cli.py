"""The command line: help, listings, errors, sweep -> compare/plot/export, diagnose."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dse.store import Store

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # cli.py lives at the repository root, outside the package
    sys.path.insert(0, str(ROOT))

import cli  # noqa: E402

SMALL = [
    "problem=zdt1", "problem.n_var=6", "methods=[nsga2,weighted_sum]", "solver.budget=300",
    "solver.nsga2.pop_size=20", "solver.weighted_sum.n_points=10",
]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cli")
    a, b = base / "a", base / "b"
    assert cli.main(["sweep", *SMALL, f"out={a}", "--quiet"]) == 0
    assert cli.main(["sweep", *SMALL, "methods=[nsga2]", "seeds=[1]", f"out={b}",
                     "--quiet", "plots=false"]) == 0
    return a, b


def test_script_help_lists_commands_and_keys(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("sweep", "list", "compare", "plot", "diagnose", "export", "--quiet"):
        assert cmd in out
    # The script itself, as a user runs it.
    out = subprocess.run([sys.executable, "cli.py", "sweep", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for key in ("methods", "seeds", "solver.budget", "solver.<method>.<param>", "device",
                "executor.address", "problem.<param>", "out"):
        assert key in out, key


def test_list_shows_problems_methods_and_parameters(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("codesign", "zdt1", "dtlz2", "nsga2", "cagrad", "evolutionary", "gradient",
                 "pop_size=100", "n_obj="):
        assert word in out, word
    assert cli.main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert "nsga2" in out and "codesign" not in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["sweep", "bogus=1"], ["unknown key", "methods", "seeds"]),
        (["sweep", "methods=[nope]"], ["unknown method", "nsga2"]),
        (["sweep", "problem=zdt1", "problem.n_obj=3"], ["n_var"]),
        (["compare", "/nonexistent/run"], ["no results database"]),
        (["diagnose", "steps=1"], ["steps"]),
        (["sweep", "seeds=[18446744073709551616]"], ["seeds must be a whole number"]),
    ],
)
def test_errors_are_one_line_naming_valid_choices(argv: list[str], words: list[str],
                                                   capsys: pytest.CaptureFixture) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_sweep_prints_table_and_quiet_only_the_folder(two_runs, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    a, _ = two_runs
    capsys.readouterr()
    # Rerun of the same command: everything skipped, the table printed again.
    assert cli.main(["sweep", *SMALL, f"out={a}", "plots=false"]) == 0
    out = capsys.readouterr().out
    assert "skipped (already stored): 2" in out and "hypervolume" in out and "nsga2" in out
    assert cli.main(["sweep", *SMALL, f"out={a}", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"run folder: {a}\n" and captured.err == ""


def test_compare_plot_export(two_runs, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = two_runs
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(a), str(b), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "a" in text and "b" in text and "weighted_sum" in text
    summary = pd.read_csv(out / "summary.csv")
    assert set(zip(summary["run"], summary["method"], strict=True)) == {
        ("a", "nsga2"), ("a", "weighted_sum"), ("b", "nsga2")}
    assert (out / "fronts.png").is_file() and (out / "fronts.pdf").is_file()

    for f in (a / "plots").iterdir():
        f.unlink()
    assert cli.main(["plot", str(b), "--quiet"]) == 0
    assert cli.main(["plot", str(a)]) == 0
    printed = capsys.readouterr().out.split()
    assert {Path(p).name for p in printed} >= {"fronts.png", "fronts.pdf", "hypervolume.png",
                                               "hypervolume.pdf"}

    assert cli.main(["export", str(a), "--format", "parquet", "--quiet"]) == 0
    designs = pd.read_parquet(a / "export" / "designs.parquet")
    with Store(a) as store:
        assert len(designs) == len(store.designs())


def test_diagnose(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["diagnose", "problem=pmtl_concave", "steps=8", "device=cpu",
                     f"out={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "pmtl_concave" in out and "Advice" in out
    assert (tmp_path / "cosine-pmtl_concave.png").is_file()


def test_a_bad_problem_parameter_is_one_error_before_any_job(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # A layer file that is not one: one error line (its contents never echoed), exit 2,
    # no run folder, instead of one failure per job.
    bad = tmp_path / "not_layers.txt"
    bad.write_text("qz:x:0:0:SECRET-TOKEN\n")
    out = tmp_path / "run"
    argv = ["sweep", "problem=codesign", f"problem.layers={bad}", f"out={out}", "-q"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: problem 'codesign': ") and "not a layer table" in err
    assert "SECRET" not in err and err.count("\n") == 1
    assert not out.exists()


def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = ["sweep", "problem=zdt1", "methods=[nsga2]", "solver.budget=200",
            f"out={blocker}/run"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot create the run folder") and err.count("\n") == 1
    assert cli.main(["sweep", "methods=[nsga2", "solver.budget=200"]) == 2
    assert "cannot parse value '[nsga2'" in capsys.readouterr().err
