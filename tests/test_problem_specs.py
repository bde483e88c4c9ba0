"""A user's own problem by name: ``module:Name`` and ``path/to/file.py:Name``, from Python,
the command line and Dask workers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import cli
from dse.problem import Problem
from dse.problem_specs import build_problem, canonical_spec, spec_files, spec_label
from dse.solvers import solve

HERE = Path(__file__).parent
FILE = HERE / "problems_for_tests.py"
X = np.random.default_rng(1).random((5, 2))


def _expected(x: np.ndarray, shift: float) -> np.ndarray:
    return np.stack([x[:, 0], (1 - x[:, 0]) ** 2 + shift * x[:, 1]], 1)


@pytest.mark.parametrize(("spec", "params", "shift"), [
    ("problems_for_tests:Shifted", {}, 1.0),
    ("problems_for_tests:Shifted", {"shift": 3.0}, 3.0),
    ("problems_for_tests:make_shifted", {}, 2.0),
    (f"{FILE}:Shifted", {"shift": 0.5}, 0.5),
])
def test_classes_factories_and_files(spec: str, params: dict, shift: float) -> None:
    p = build_problem(spec, **params)
    np.testing.assert_allclose(p.evaluate(X), _expected(X, shift))


def test_a_ready_made_problem_and_solve_by_spec() -> None:
    p = build_problem("problems_for_tests:decorated")
    assert p.name == "decorated"
    res = solve("problems_for_tests:decorated", "nsga2", budget=200, seed=0, pop_size=20)
    assert res.problem == "decorated" and res.n_evals == 200


@pytest.mark.parametrize(("spec", "params", "error", "said"), [
    ("problems_for_tests:Nope", {}, ValueError,
     "'Nope' is not defined there; problems found: Shifted, decorated, make_shifted"),
    ("problems_for_tests:NUMBER", {}, TypeError, "NUMBER is a int; it must be a Problem"),
    ("problems_for_tests:not_a_problem", {}, TypeError, "returned a int, not a dse.Problem"),
    ("problems_for_tests:Shifted", {"k": 1}, ValueError,
     "unknown parameter(s) k for problem 'problems_for_tests:Shifted'; accepted: shift"),
    ("problems_for_tests:decorated", {"k": 1}, ValueError, "takes no parameters, got k"),
    ("no_such_module_xyz:P", {}, ValueError, "cannot import module 'no_such_module_xyz'"),
    ("missing/file.py:P", {}, ValueError, "no file 'missing/file.py'"),
    ("problems_for_tests:", {}, ValueError, "module:Name or path/to/file.py:Name"),
    ("problems_for_tests:1x", {}, ValueError, "module:Name or path/to/file.py:Name"),
])
def test_bad_specs_are_named(spec: str, params: dict, error: type, said: str) -> None:
    with pytest.raises(error) as err:
        build_problem(spec, **params)
    assert said in str(err.value)


def test_a_file_that_fails_to_load_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("import torch\nraise RuntimeError('simulator licence missing')\n")
    with pytest.raises(ValueError, match=r"loading broken.py failed: RuntimeError: simulator"):
        build_problem(f"{bad}:P")
    assert not any(m.startswith("_dse_user_broken") for m in sys.modules)


def test_canonical_names_labels_and_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(HERE)
    assert canonical_spec("problems_for_tests.py:Shifted") == f"{FILE}:Shifted"
    assert canonical_spec("ZDT1") == "zdt1"
    assert spec_label(f"{FILE}:Shifted") == "shifted"
    assert spec_files(f"{FILE}:Shifted") == [FILE]
    assert spec_files("problems_for_tests:Shifted") == [FILE]
    assert spec_files("zdt1") == []


def test_cli_sweep_of_a_user_file(tmp_path: Path, monkeypatch,
                                  capsys: pytest.CaptureFixture) -> None:
    user = tmp_path / "mine.py"
    user.write_text(FILE.read_text())
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", "problem=mine.py:Shifted", "problem.shift=2", "methods=[nsga2,chebyshev]",
            "solver.budget=300", "plots=false", "solver.nsga2.pop_size=20"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    run = next((tmp_path / "runs").iterdir())
    assert run.name.startswith("shifted-") and "nsga2" in out and "chebyshev" in out
    assert f"{user}:Shifted" in (run / "config.yaml").read_text()
    # The same command finds its folder again and runs nothing.
    assert cli.main(argv) == 0
    assert "jobs run: 0, skipped (already stored): 2" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "said"), [
    (["problem=mine_missing.py:P"], "no file 'mine_missing.py'"),
    (["problem=problems_for_tests:Shifted", "problem.k=2"],
     "unknown parameter(s) k of problem 'problems_for_tests:Shifted'; valid: shift"),
    (["problem=problems_for_tests:NUMBER"], "it must be a Problem subclass"),
])
def test_cli_user_problem_errors(argv: list[str], said: str,
                                 capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["sweep", *argv, "methods=[nsga2]"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and err.count("\n") == 1


def test_dask_workers_run_a_user_file(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    from dse.executor import DaskExecutor
    from dse.sweep import run_sweep

    user = tmp_path / "elsewhere.py"
    user.write_text(FILE.read_text())
    base = [f"problem={user}:Shifted", "methods=[nsga2,random]", "solver.budget=200",
            "solver.nsga2.pop_size=20", "quiet=true", "plots=false"]
    with DaskExecutor(n_workers=1, threads_per_worker=1) as ex:
        remote = run_sweep([*base, f"out={tmp_path / 'a'}"], executor=ex)
    local = run_sweep([*base, f"out={tmp_path / 'b'}"])
    assert not remote.failures and remote.n_run == 2
    np.testing.assert_allclose(remote.summary["hypervolume"], local.summary["hypervolume"])


def test_problem_classes_made_in_a_file_pickle(tmp_path: Path) -> None:
    import pickle

    p = build_problem(f"{FILE}:Shifted", shift=1.5)
    again = pickle.loads(pickle.dumps(p))
    assert isinstance(again, Problem) and again.shift == 1.5
    np.testing.assert_allclose(again.evaluate(torch.as_tensor(X)).numpy(), _expected(X, 1.5))
