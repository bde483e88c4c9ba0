"""The overhead bench's premise: dse's NSGA-II searches exactly the designs raw pymoo does.

``bench/bench_overhead.py`` times ``dse.solve(zdt1, "nsga2")`` against pymoo's own NSGA-II
and refuses to report a ratio when the two final populations differ; these tests hold
that premise (two independent routes, same seed and budget, same front) on a few seeds and
budgets, and run the script's quick mode.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_overhead.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_overhead", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("seed", "budget", "n_var"), [(0, 600, 30), (3, 1000, 5), (7, 850, 12)])
def test_dse_and_raw_pymoo_end_on_the_same_population(bench: ModuleType, seed: int,
                                                      budget: int, n_var: int) -> None:
    X_raw, F_raw = bench.raw_pymoo(n_var, budget, 50, seed)
    X_dse, F_dse = bench.dse_nsga2(n_var, budget, 50, seed)
    np.testing.assert_array_equal(X_dse, X_raw, err_msg=f"seed={seed}")
    np.testing.assert_allclose(F_dse, F_raw, rtol=1e-12, atol=0.0, err_msg=f"seed={seed}")


def test_quick_mode_reports_identical_fronts(bench: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_overhead.py", "--quick", "--pop-size", "50"])
    threads = torch.get_num_threads()
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)  # the script sets it for its own process
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if not line.startswith("#")]
    assert len(rows) == 1 and rows[0][5] == "True"
    assert float(rows[0][4]) > 0 and float(rows[0][6]) > 0
