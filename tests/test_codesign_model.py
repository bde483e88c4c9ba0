"""The exact co-design model: hand-computed cases, monotonicity, constraints, repair, API.

The hand-computed cases write the spec's formulas out with concrete numbers (one layer
``M=100, K=60, N=40`` run twice, and a small and a large accelerator), independently of the
model code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _helpers import read_refused

from dse import get_problem
from problems.codesign import CodesignProblem, Layer, load_layers, read_layers_csv
from problems.codesign.layers import write_layers_csv

ONE_LAYER = [{"name": "gemm", "M": 100, "K": 60, "N": 40, "count": 2}]
WS, OS, IS = 0, 1, 2
C_STAT, B_STAT, A_STAT = 0, 1, 2


@pytest.fixture(scope="module")
def one() -> CodesignProblem:
    return CodesignProblem(ONE_LAYER)


@pytest.fixture(scope="module")
def base() -> CodesignProblem:
    return get_problem("codesign")


def design(hw: tuple[float, ...], tiles: tuple[int, int, int], df: int, order: int) -> np.ndarray:
    return np.array([*hw, *tiles, df, order], dtype=float)


# Small accelerator: R = 8 rows, C = 4 columns, 32 KB global buffer, 8 KB accumulator,
# 2 DRAM channels, square global buffer.
SMALL_HW = (3, 2, 5, 3, 1, 0.0)
PITCH = math.sqrt(4.05e-4)


def small_clock_and_area() -> tuple[float, float]:
    array_w, array_h = 4 * PITCH, 8 * PITCH
    acc_h = (5.55e-3 * 8 + 1.09e-3 * 4) / array_w  # 0.04876 mm^2 over the array width
    glb_side = math.sqrt(2.60e-3 * 32 + 0.0138)  # square: 0.097 mm^2
    core_w = array_w + glb_side
    core_h = array_h + acc_h  # array + accumulator (0.767 mm) is taller than the buffer
    assert core_h > glb_side
    die_w = 2 * 1.0  # two 1 mm PHYs are wider than the core (0.392 mm)
    assert die_w > core_w
    area = die_w * (core_h + 0.5)
    wire = glb_side / 2 + array_w + core_h / 2
    return 1.0 + 0.1 * wire, area


@pytest.mark.parametrize(
    ("df", "compute"),
    [
        # T = (32, 60, 8): n_M = 4, n_K = 1, n_N = 5, 20 tiles.
        (WS, 20 * math.ceil(60 / 8) * math.ceil(8 / 4) * (2 * 8 + 4 + 32 - 2)),  # 16000
        (OS, 20 * math.ceil(32 / 8) * math.ceil(8 / 4) * (2 * 8 + 4 + 60 - 2)),  # 12480
        (IS, 20 * math.ceil(60 / 8) * math.ceil(32 / 4) * (2 * 8 + 4 + 8 - 2)),  # 33280
    ],
)
@pytest.mark.parametrize(
    ("order", "traffic"),
    [
        (C_STAT, 6000 * 5 + 2400 * 4 + 4000),  # 43600
        (B_STAT, 2400 + 6000 * 5 + 4 * 4000 * (2 * 1 - 1)),  # 48400
        (A_STAT, 6000 + 2400 * 4 + 4 * 4000 * (2 * 1 - 1)),  # 31600
    ],
)
def test_hand_computed_compute_bound_layer(
    one: CodesignProblem, df: int, compute: int, order: int, traffic: int
) -> None:
    x = design(SMALL_HW, (5, 6, 3), df, order)  # T_k = min(64, 60) = 60
    out = one.breakdown(x)
    assert out["compute"][0] == compute
    assert out["bytes"][0] == traffic
    assert out["memory"][0] == traffic / (8 * 2)
    assert out["cycles"][0] == compute  # compute bound in all nine cases
    clock, area = small_clock_and_area()
    assert out["clock_ns"] == pytest.approx(clock, rel=1e-14)
    assert out["area"] == pytest.approx(area, rel=1e-14)
    F, G = one.evaluate(x, constraints=True)
    assert F[0] == pytest.approx(area, rel=1e-14)
    assert F[1] == pytest.approx(clock * 2 * compute * 1e-6, rel=1e-14)
    # Buffers: 2 (32*60 + 60*8) = 4800 B of 32 KB; 4 * 32 * 8 = 1024 B of 8 KB.
    np.testing.assert_allclose(G, [4800 / 32768 - 1, 1024 / 8192 - 1], rtol=1e-14)


def test_hand_computed_memory_bound_layer(one: CodesignProblem) -> None:
    # T = (min(128, 100), 1, 40) = (100, 1, 40): n_M = 1, n_K = 60, n_N = 1; one channel.
    hw = (3, 2, 5, 3, 0, 0.0)
    ws_compute = 60 * math.ceil(1 / 8) * math.ceil(40 / 4) * (2 * 8 + 4 + 100 - 2)  # 70800
    b_stat = 2400 + 6000 * 1 + 4 * 4000 * (2 * 60 - 1)  # 1912400 bytes
    c_stat = 6000 * 1 + 2400 * 1 + 4000  # 12400 bytes
    out = one.breakdown(np.stack([design(hw, (7, 0, 6), WS, o) for o in (B_STAT, C_STAT)]))
    np.testing.assert_array_equal(out["compute"][:, 0], [ws_compute, ws_compute])
    np.testing.assert_array_equal(out["bytes"][:, 0], [b_stat, c_stat])
    # B-stat spills partial sums 119 times: memory bound; C-stat stays compute bound.
    np.testing.assert_array_equal(out["cycles"][:, 0], [b_stat / 8, ws_compute])


def test_hand_computed_energy(one: CodesignProblem) -> None:
    prob = CodesignProblem(ONE_LAYER, energy=True)
    x = design(SMALL_HW, (5, 6, 3), WS, C_STAT)
    per_run = (
        100 * 60 * 40 * 0.561
        + (6000 * 5 + 2400 * 4) * (0.0251 * 32 + 0.49)
        + 2 * 4000 * 1 * (0.1005 * 8 / 4 + 1.94)
        + 43600 * 100
    )
    F = prob.evaluate(x)
    assert prob.objective_names == ("area_mm2", "latency_ms", "energy_mj")
    assert F[2] == pytest.approx(2 * per_run * 1e-9, rel=1e-13)
    np.testing.assert_array_equal(F[:2], one.evaluate(x))


@pytest.mark.parametrize(("dram_ch", "die_w_phy"), [(3, True), (0, False)])
def test_hand_computed_large_floorplan(one: CodesignProblem, dram_ch: int, die_w_phy: bool) -> None:
    # 128 x 128 PEs, 2 MB global buffer four times taller than wide, 8 KB accumulator.
    x = design((7, 7, 11, 3, dram_ch, 2.0), (0, 0, 0), WS, C_STAT)
    array_w = array_h = 128 * PITCH
    acc_h = (5.55e-3 * 8 + 1.09e-3 * 128) / array_w
    glb_area = 2.60e-3 * 2048 + 0.0138
    glb_w, glb_h = math.sqrt(glb_area / 4), math.sqrt(glb_area * 4)
    assert glb_h > array_h + acc_h  # the tall buffer sets the core height
    core_w = array_w + glb_w  # 3.73 mm: narrower than 8 PHYs, wider than one
    die_w = 8.0 if die_w_phy else core_w
    out = one.breakdown(x)
    assert out["area"] == pytest.approx(die_w * (glb_h + 0.5), rel=1e-14)
    wire = glb_w / 2 + array_w + glb_h / 2
    assert out["clock_ns"] == pytest.approx(1.0 + 0.1 * wire, rel=1e-14)


def test_more_dram_channels_never_slow_a_layer(base: CodesignProblem) -> None:
    rng = np.random.default_rng(1)
    X = base.sample(3000, seed=rng)
    X = X[X[:, 4] < 3]
    more = X.copy()
    more[:, 4] += 1
    a, b = base.breakdown(X), base.breakdown(more)
    assert np.all(b["cycles"] <= a["cycles"])
    assert np.all(b["latency_ms"] <= a["latency_ms"])
    assert np.all(b["memory"] < a["memory"])  # bandwidth doubles: a real effect, not a no-op


@pytest.mark.parametrize(("column", "top"), [(2, 11), (3, 10)])
def test_bigger_buffer_never_shrinks_area(base: CodesignProblem, column: int, top: int) -> None:
    X = base.sample(3000, seed=2)
    X = X[X[:, column] < top]
    bigger = X.copy()
    bigger[:, column] += 1
    area, area_big = base.evaluate(X)[:, 0], base.evaluate(bigger)[:, 0]
    assert np.all(area_big >= area)
    assert np.any(area_big > area)


def test_infeasible_tiles_are_violations_not_clipped(base: CodesignProblem) -> None:
    x = base.sample(1, seed=3)[0]
    x[:5] = (2, 2, 5, 3, 0)  # 4 x 4 PEs, 32 KB buffer, 8 KB accumulator, one channel
    x[6:11] = (14, 8, 6, WS, C_STAT)  # conv1 whole: T = (12544, 147, 64)
    F, G = base.evaluate(x, constraints=True)
    glb = 2 * (12544 * 147 + 147 * 64) / (32 * 1024) - 1
    acc = 4 * 12544 * 64 / (8 * 1024) - 1
    np.testing.assert_allclose(G[:2], [glb, acc], rtol=1e-14)
    assert G[0] > 0 and G[1] > 0
    out = base.breakdown(x)
    # The schedule is costed with the tile asked for: one tile, 37 x 16 folds.
    assert out["compute"][0] == 37 * 16 * (2 * 4 + 4 + 12544 - 2)
    assert np.isfinite(F).all()
    fixed = base.repair(torch.from_numpy(x)).numpy()
    F_fixed, G_fixed = base.evaluate(fixed, constraints=True)
    assert (G_fixed <= 0).all()
    assert F_fixed[1] != F[1]


def test_repair_makes_feasible_and_keeps_the_rest(base: CodesignProblem) -> None:
    rng = np.random.default_rng(4)
    lo, hi = base.xl.astype(int), base.xu.astype(int)
    X = rng.integers(lo, hi + 1, size=(500, base.n_var)).astype(float)
    X[:, 5] = rng.uniform(-2, 2, 500)
    X.setflags(write=False)
    G = base.evaluate(X, constraints=True)[1]
    assert (G > 0).any()
    fixed = base.repair(torch.from_numpy(X.copy())).numpy()
    G_fixed = base.evaluate(fixed, constraints=True)[1]
    assert (G_fixed <= 0).all()
    tiles = np.zeros(base.n_var, dtype=bool)
    for i in range(base.n_layers):
        tiles[6 + 5 * i : 9 + 5 * i] = True
    np.testing.assert_array_equal(fixed[:, ~tiles], X[:, ~tiles])
    assert (fixed[:, tiles] <= X[:, tiles]).all()
    assert (fixed[:, tiles] >= 0).all()
    # Layers that already fit are left alone, and repair is idempotent.
    ok = (G.reshape(500, -1, 2) <= 0).all(axis=-1)
    changed = (fixed != X)[:, tiles].reshape(500, -1, 3).any(axis=-1)
    assert not (changed & ok).any()
    again = base.repair(torch.from_numpy(fixed)).numpy()
    np.testing.assert_array_equal(again, fixed)


def test_batch_shapes_and_numpy_torch_agreement(base: CodesignProblem) -> None:
    X = base.sample(24, seed=5).reshape(2, 3, 4, base.n_var)
    F, G = base.evaluate(X, constraints=True)
    assert F.shape == (2, 3, 4, 2) and G.shape == (2, 3, 4, 20)
    assert isinstance(F, np.ndarray) and F.dtype == np.float64
    Ft, Gt = base.evaluate(torch.from_numpy(X), constraints=True)
    assert Ft.dtype == torch.float64
    np.testing.assert_array_equal(Ft.numpy(), F)
    np.testing.assert_array_equal(Gt.numpy(), G)
    F32 = base.evaluate(torch.from_numpy(X).float())
    assert F32.dtype == torch.float32
    np.testing.assert_allclose(F32.numpy(), F, rtol=1e-6)
    flat = base.evaluate(X.reshape(-1, base.n_var))
    np.testing.assert_array_equal(flat.reshape(F.shape), F)
    single = base.evaluate(X[0, 0, 0])
    np.testing.assert_array_equal(single, F[0, 0, 0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(base: CodesignProblem) -> None:
    X = torch.from_numpy(base.sample(64, seed=6))
    F, G = base.evaluate(X, constraints=True)
    Fc, Gc = base.evaluate(X.cuda(), constraints=True)
    assert Fc.device.type == "cuda"
    torch.testing.assert_close(Fc.cpu(), F)
    torch.testing.assert_close(Gc.cpu(), G)


def test_area_budget_constraint() -> None:
    prob = CodesignProblem(ONE_LAYER, area_budget=2.0)
    x = design(SMALL_HW, (5, 6, 3), WS, C_STAT)
    F, G = prob.evaluate(x, constraints=True)
    assert prob.constraint_names == ("L0.glb", "L0.acc", "area_budget")
    assert G[2] == pytest.approx(F[0] / 2.0 - 1)
    assert G[2] > 0  # the small design needs 2.53 mm^2 (two PHYs wide)


def test_variables_follow_the_spec(base: CodesignProblem) -> None:
    names = base.variable_names
    assert names[:6] == ("pe_rows", "pe_cols", "glb_kb", "acc_kb", "dram_ch", "glb_aspect")
    assert names[6:11] == ("L0.tm", "L0.tk", "L0.tn", "L0.df", "L0.ord")
    assert base.n_var == 6 + 5 * 10 and base.n_relaxed == 6 + 9 * 10
    np.testing.assert_array_equal(base.xl[:6], [2, 2, 5, 3, 0, -2])
    np.testing.assert_array_equal(base.xu[:6], [7, 7, 11, 10, 3, 2])
    # conv1: M = 12544 -> 14 (2^14 >= 12544 > 2^13), K = 147 -> 8, N = 64 -> 6.
    np.testing.assert_array_equal(base.xu[6:11], [14, 8, 6, 2, 2])
    macs = sum(layer.macs for layer in base.layers)
    assert abs(macs / 1e9 - 2.45) < 0.01


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [(6, 2.5, "L0.tm"), (9, 3.0, "L0.df"), (0, 8.0, "pe_rows"), (5, 2.5, "glb_aspect")],
)
def test_invalid_designs_are_rejected(
    base: CodesignProblem, column: int, value: float, match: str
) -> None:
    x = base.sample(1, seed=7)[0]
    x[column] = value
    with pytest.raises(ValueError, match=match):
        base.evaluate(x)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"area_budget": 0.0}, ValueError),
        ({"sharpness": -1.0}, ValueError),
        ({"aspect_grid": 1}, ValueError),
        ({"energy": "yes"}, TypeError),
        ({"layers": 3}, TypeError),
        ({"layers": []}, ValueError),
        ({"layers": [{"name": "a", "M": 0, "K": 1, "N": 1}]}, ValueError),
        ({"layers": [{"name": "a", "M": 2, "K": 1}]}, ValueError),
        ({"layers": [{"name": "a", "M": 2, "K": 1, "N": 1, "batch": 2}]}, ValueError),
        ({"bogus": 1}, ValueError),
    ],
)
def test_bad_parameters_raise(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        get_problem("codesign", **kwargs)


def test_layer_table_roundtrip(tmp_path) -> None:
    layers = (Layer("a", 64, 32, 16, 2), Layer("b", 7, 9, 5))
    path = write_layers_csv(layers, tmp_path / "net.csv")
    assert read_layers_csv(path) == layers
    prob = get_problem("codesign", layers=str(path))
    assert prob.layers == layers
    np.testing.assert_array_equal(prob.xu[6:16], [6, 5, 4, 2, 2, 3, 4, 3, 2, 2])
    (tmp_path / "short.csv").write_text("name,M,K,N\nx,3,4,5\n")
    assert read_layers_csv(tmp_path / "short.csv") == (Layer("x", 3, 4, 5, 1),)
    as_dicts = load_layers([{"name": "x", "M": "3", "K": 4, "N": 5.0}])
    assert as_dicts == (Layer("x", 3, 4, 5, 1),)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name,M,K\nx,1,2\n", "lacks the columns name, M, K, N"),
        ("name,M,K,N,count\n", "empty"),
        ("name,M,K,N,count\nx,1.5,2,3,1\n", "M must be a positive integer"),
        ("name,M,K,N,count\nx,1,2,3,-1\n", "count must be a positive integer"),
        ("name,M,K,N\nx,1,2,3\nx,4,5,6\n", "unique"),
    ],
)
def test_bad_layer_tables_raise(tmp_path, text: str, match: str) -> None:
    read_refused(read_layers_csv, tmp_path / "bad.csv", text, ValueError, match)


@pytest.mark.parametrize("content", [b"qz:x:0:0:SECRET-TOKEN\nuser:hash\n",
                                     b"\xff\xfe\x00SECRET-TOKEN"])
def test_a_file_that_is_not_a_layer_table_is_never_echoed(tmp_path, content: bytes) -> None:
    path = tmp_path / "not_layers"
    msg = str(read_refused(read_layers_csv, path, content, ValueError).value)
    assert str(path) in msg and "name,M,K,N" in msg
    assert "SECRET" not in msg and "qz:x" not in msg
    with pytest.raises(ValueError, match="FileNotFoundError"):
        read_layers_csv(tmp_path / "missing.csv")


def test_a_layer_table_saved_with_a_byte_order_mark_reads(tmp_path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffname,M,K,N\nx,3,4,5\n".encode())
    assert read_layers_csv(path) == (Layer("x", 3, 4, 5, 1),)
