"""Tests of dse.pareto: masks, fronts and ranks against brute force and moocore, numpy vs torch."""

from __future__ import annotations

import moocore
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dse.pareto import dominates, nondominated, nondominated_front, pareto_rank

SETTINGS = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------- independent brute force
def brute_mask(F: np.ndarray, keep_duplicates: bool = True) -> np.ndarray:
    """O(N^2) definition: no other row is <= everywhere and < somewhere."""
    n = len(F)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if np.all(F[j] <= F[i]) and np.any(F[j] < F[i]):
                mask[i] = False
        if not keep_duplicates and any(np.array_equal(F[j], F[i]) for j in range(i)):
            mask[i] = False
    return mask


def brute_ranks(F: np.ndarray) -> np.ndarray:
    """Peel fronts with the brute-force mask."""
    ranks = np.full(len(F), -1)
    left = np.arange(len(F))
    r = 0
    while len(left):
        m = brute_mask(F[left])
        ranks[left[m]] = r
        left = left[~m]
        r += 1
    return ranks


def readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


# Small integer grids make ties and duplicates frequent.
points = st.integers(1, 4).flatmap(
    lambda m: arrays(np.float64, st.tuples(st.integers(0, 25), st.just(m)),
                     elements=st.integers(0, 3).map(float))
)


# ---------------------------------------------------------------- numpy route
@SETTINGS
@given(F=points, keep=st.booleans())
def test_numpy_mask_matches_brute_force(F: np.ndarray, keep: bool) -> None:
    F = readonly(F)
    got = nondominated(F, keep_duplicates=keep)
    assert got.dtype == bool and got.shape == (len(F),)
    np.testing.assert_array_equal(got, brute_mask(F, keep), err_msg=f"F={F.tolist()}")


# ---------------------------------------------------------------- torch route
@SETTINGS
@given(F=points, keep=st.booleans(), chunk=st.sampled_from([None, 1, 2, 7]),
       dtype=st.sampled_from([torch.float64, torch.float32, torch.int64]),
       method=st.sampled_from(["auto", "sweep", "pairwise"]))
def test_torch_mask_identical_to_numpy(F: np.ndarray, keep: bool, chunk: int | None,
                                       dtype: torch.dtype, method: str) -> None:
    assume(method != "sweep" or F.shape[1] <= 3)
    T = torch.as_tensor(F).to(dtype)
    before = T.clone()
    got = nondominated(T, keep_duplicates=keep, chunk_size=chunk, method=method)
    assert got.dtype == torch.bool and got.device == T.device and got.shape == (len(F),)
    np.testing.assert_array_equal(
        got.numpy(), nondominated(F, keep_duplicates=keep),
        err_msg=f"F={F.tolist()} chunk={chunk} dtype={dtype} method={method}")
    assert torch.equal(T, before)


@pytest.mark.parametrize("m", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_torch_batched_equals_each_set(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 6, size=(2, 3, 40, m)).astype(float)  # ties and duplicates
    for keep in (True, False):
        got = nondominated(torch.as_tensor(F), keep_duplicates=keep).numpy()
        assert got.shape == (2, 3, 40)
        np_batched = nondominated(F, keep_duplicates=keep)
        for idx in np.ndindex(2, 3):
            want = moocore.is_nondominated(F[idx], keep_weakly=keep)
            np.testing.assert_array_equal(got[idx], want, err_msg=f"seed={seed} set={idx}")
            np.testing.assert_array_equal(np_batched[idx], want, err_msg=f"seed={seed}")


@pytest.mark.parametrize("m", [2, 3, 4])
def test_torch_matches_moocore_on_larger_sets(m: int) -> None:
    """Random clouds (small front) and points on a sphere (all non-dominated) with a small
    chunk, so the archive/survivor bookkeeping runs over many chunks."""
    rng = np.random.default_rng(m)
    cloud = rng.random((3000, m))
    sphere = np.abs(rng.standard_normal((1500, m)))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    methods = ("sweep", "pairwise") if m <= 3 else ("auto",)
    for F in (cloud, sphere, np.concatenate([sphere, sphere + 0.01, sphere[:100]])):
        want = moocore.is_nondominated(F, keep_weakly=True)
        for method in methods:
            for chunk in (None, 97):
                got = nondominated(torch.as_tensor(F), chunk_size=chunk, method=method)
                np.testing.assert_array_equal(got.numpy(), want,
                                              err_msg=f"seed={m} chunk={chunk} {method}")


def test_keep_duplicates_false_keeps_first_copy() -> None:
    F = np.array([[2.0, 2.0], [1.0, 3.0], [3.0, 1.0], [1.0, 3.0], [5.0, 5.0], [3.0, 1.0]])
    want_all = [True, True, True, True, False, True]
    want_first = [True, True, True, False, False, False]
    for X in (F, torch.as_tensor(F)):
        assert np.asarray(nondominated(X)).tolist() == want_all
        assert np.asarray(nondominated(X, keep_duplicates=False)).tolist() == want_first


def test_signed_zeros_are_equal_and_zero_size_batches() -> None:
    F = np.array([[0.0, 1.0], [-0.0, 1.0], [1.0, -0.0], [1.0, 0.0]])
    for X in (F, torch.as_tensor(F)):
        assert np.asarray(nondominated(X, keep_duplicates=False)).tolist() == [
            True, False, True, False]
    assert tuple(nondominated(torch.zeros(0, 5, 3)).shape) == (0, 5)
    assert nondominated(np.zeros((0, 5, 3))).shape == (0, 5)


def test_infinities_are_ordinary_values() -> None:
    inf = np.inf
    F = np.array([[0.0, inf], [1.0, inf], [inf, 0.0], [inf, inf], [-inf, 5.0], [2.0, 2.0]])
    want = brute_mask(F)
    np.testing.assert_array_equal(nondominated(F), want)
    np.testing.assert_array_equal(nondominated(torch.as_tensor(F)).numpy(), want)


# ---------------------------------------------------------------- NaN rows
def test_nan_rows_raise_naming_rows() -> None:
    F = np.array([[1.0, 2.0], [np.nan, 0.0], [0.0, 0.0], [3.0, np.nan]])
    for X in (F, torch.as_tensor(F)):
        with pytest.raises(ValueError, match=r"2 row\(s\) \[1, 3\]"):
            nondominated(X)
        with pytest.raises(ValueError, match=r"\[1, 3\]"):
            pareto_rank(X)
    batched = np.zeros((2, 3, 2))
    batched[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"\[\(1, 2\)\]"):
        nondominated(torch.as_tensor(batched))


@SETTINGS
@given(F=points, data=st.data())
def test_nan_drop_excludes_rows_and_ignores_them(F: np.ndarray, data: st.DataObject) -> None:
    assume(len(F) > 0)
    bad = np.array(data.draw(st.lists(st.booleans(), min_size=len(F), max_size=len(F))))
    G = F.copy()
    G[bad, 0] = np.nan
    G = readonly(G)
    for keep in (True, False):
        want = np.zeros(len(F), dtype=bool)
        want[~bad] = brute_mask(F[~bad], keep)
        np.testing.assert_array_equal(nondominated(G, keep_duplicates=keep, nan="drop"), want)
        got_t = nondominated(torch.tensor(G), keep_duplicates=keep, nan="drop")
        np.testing.assert_array_equal(got_t.numpy(), want, err_msg=f"G={G.tolist()}")
    ranks = pareto_rank(G, nan="drop")
    assert np.all(ranks[bad] == -1)
    np.testing.assert_array_equal(ranks[~bad], brute_ranks(F[~bad]))
    np.testing.assert_array_equal(pareto_rank(torch.tensor(G), nan="drop").numpy(), ranks)


# ---------------------------------------------------------------- edge cases and errors
@pytest.mark.parametrize("as_torch", [False, True])
def test_empty_single_and_one_objective(as_torch: bool) -> None:
    conv = torch.as_tensor if as_torch else np.asarray
    assert tuple(nondominated(conv(np.zeros((0, 3)))).shape) == (0,)
    assert tuple(nondominated(conv(np.zeros((2, 0, 2)))).shape) == (2, 0)
    assert tuple(pareto_rank(conv(np.zeros((0, 2)))).shape) == (0,)
    assert np.asarray(nondominated(conv(np.array([[4.0, -1.0]])))).tolist() == [True]
    f = np.array([[3.0], [1.0], [2.0], [1.0]])
    assert np.asarray(nondominated(conv(f))).tolist() == [False, True, False, True]
    assert np.asarray(nondominated(conv(f), keep_duplicates=False)).tolist() == [
        False, True, False, False]
    assert np.asarray(pareto_rank(conv(f))).tolist() == [2, 0, 1, 0]


@pytest.mark.parametrize("as_torch", [False, True])
def test_bad_inputs_raise_clear_errors(as_torch: bool) -> None:
    conv = torch.as_tensor if as_torch else np.asarray
    with pytest.raises(ValueError, match=r"shape \(N, M\).*got shape \(3,\)"):
        nondominated(conv(np.zeros(3)))
    with pytest.raises(ValueError, match="at least one objective"):
        nondominated(conv(np.zeros((3, 0))))
    with pytest.raises(TypeError, match="real numbers"):
        nondominated(conv(np.zeros((3, 2), dtype=bool)))
    with pytest.raises(TypeError, match="real numbers"):
        nondominated(conv(np.zeros((3, 2), dtype=complex)))
    with pytest.raises(ValueError, match="chunk_size"):
        nondominated(conv(np.zeros((3, 2))), chunk_size=0)
    with pytest.raises(ValueError, match="'raise' or 'drop'"):
        nondominated(conv(np.zeros((3, 2))), nan="keep")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'auto', 'sweep' or 'pairwise'"):
        nondominated(conv(np.zeros((3, 2))), method="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"1 to 3 objectives, got shape \(3, 4\)"):
        nondominated(conv(np.zeros((3, 4))), method="sweep")


def test_array_like_input_goes_numpy_route() -> None:
    got = nondominated([[1, 2], [2, 1], [2, 2]])
    assert isinstance(got, np.ndarray) and got.tolist() == [True, True, False]


# ---------------------------------------------------------------- nondominated_front
def test_pareto_front_returns_copies_in_order() -> None:
    F = readonly(np.array([[2.0, 2.0], [1.0, 3.0], [3.0, 3.0], [3.0, 1.0]]))
    front = nondominated_front(F)
    assert front.tolist() == [[2.0, 2.0], [1.0, 3.0], [3.0, 1.0]]
    front[0, 0] = 99.0  # a copy: writable and independent of F
    assert F[0, 0] == 2.0
    T = torch.as_tensor(np.array(F))
    tf = nondominated_front(T)
    tf[0, 0] = 99.0
    assert T[0, 0] == 2.0
    twins = np.array([[1.0, 1.0], [1.0, 1.0]])
    assert nondominated_front(twins, keep_duplicates=False).shape == (1, 2)
    with pytest.raises(ValueError, match="one point set"):
        nondominated_front(torch.zeros(2, 3, 2))


# ---------------------------------------------------------------- pareto_rank
@SETTINGS
@given(F=points)
def test_ranks_match_brute_force_peeling_both_routes(F: np.ndarray) -> None:
    F = readonly(F)
    want = brute_ranks(F)
    np.testing.assert_array_equal(pareto_rank(F), want, err_msg=f"F={F.tolist()}")
    got_t = pareto_rank(torch.tensor(F))
    assert got_t.dtype == torch.int64
    np.testing.assert_array_equal(got_t.numpy(), want, err_msg=f"F={F.tolist()}")


def test_ranks_define_mutually_nondominated_layers() -> None:
    rng = np.random.default_rng(7)
    F = rng.random((2, 300, 3))
    ranks = pareto_rank(torch.as_tensor(F)).numpy()
    for b in range(2):
        np.testing.assert_array_equal(ranks[b], moocore.pareto_rank(F[b]), err_msg="seed=7")
        for r in range(1, ranks[b].max() + 1):
            layer, prev = F[b][ranks[b] == r], F[b][ranks[b] == r - 1]
            assert nondominated(layer).all(), f"seed=7 rank {r} not mutually non-dominated"
            # every point of layer r is dominated by some point of layer r - 1
            assert dominates(prev[None, :, :], layer[:, None, :]).any(axis=1).all()


# ---------------------------------------------------------------- dominates
def test_dominates_definition_and_broadcasting() -> None:
    a = np.array([1.0, 2.0])
    assert dominates(a, np.array([1.0, 3.0]))
    assert not dominates(a, a)
    assert not dominates(a, np.array([0.0, 3.0]))
    assert not dominates(a, np.array([np.nan, 3.0]))
    P = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    table = dominates(P[:, None, :], P[None, :, :])
    assert table.tolist() == [[False, True, True], [False, False, False],
                              [False, False, False]]
    Pt = torch.as_tensor(P)
    assert dominates(Pt[:, None, :], Pt[None, :, :]).tolist() == table.tolist()
    with pytest.raises(TypeError, match="not a mix"):
        dominates(Pt[0], P[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_stays_on_device_and_matches() -> None:
    rng = np.random.default_rng(3)
    for m, method in ((2, "auto"), (3, "sweep"), (3, "pairwise"), (4, "auto")):
        F = rng.integers(0, 8, size=(4, 500, m)).astype(float)
        F[0, :3, 0] = -0.0  # signed zeros: a radix sort must not split them
        got = nondominated(torch.as_tensor(F, device="cuda"), keep_duplicates=False,
                           method=method)
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), nondominated(F, keep_duplicates=False),
                                      err_msg=f"seed=3 m={m} {method}")
        ranks = pareto_rank(torch.as_tensor(F[0], device="cuda"))
        np.testing.assert_array_equal(ranks.cpu().numpy(), moocore.pareto_rank(F[0]))
