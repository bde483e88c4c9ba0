"""Clean-ups that must not change behaviour: deprecated methods still answer (and say what
to use instead), shared helpers give what the code they replaced gave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dse.gradient import _cpu, _qp
from dse.gradient._stateful import DWA, DWAState
from dse.result import Result
from dse.store import Store


def _result() -> Result:
    F = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    G = np.array([[-1.0], [-1.0], [-1.0], [2.0]])  # the last design is infeasible
    return Result(problem="p", method="m", seed=3, X=np.arange(8.0).reshape(4, 2), F=F, G=G,
                  n_evals=17, n_grad_evals=5, wall_time=0.25)


def test_result_summary_is_deprecated_and_still_counts() -> None:
    r = _result()
    with pytest.warns(DeprecationWarning, match=r"Result\.metadata\(\)") as rec:
        s = r.summary()
    assert rec[0].filename == __file__  # points at the caller
    assert s == {"problem": "p", "method": "m", "seed": 3, "n_designs": 4, "n_feasible": 3,
                 "n_front": 2, "n_evals": 17, "n_grad_evals": 5, "wall_time": 0.25}
    # The replacement the warning names gives the same numbers.
    meta = r.metadata()
    for k in ("problem", "method", "seed", "n_evals", "n_grad_evals", "wall_time"):
        assert meta[k] == s[k]
    assert (len(r.F), int(r.feasible.sum()), int(r.front_mask.sum())) == (4, 3, 2)


def test_store_get_meta_is_deprecated_and_still_reads(tmp_path) -> None:
    with Store(tmp_path) as store:
        store.set_meta("config", "a: 1\n")
        with pytest.warns(DeprecationWarning, match=r"Store\.query") as rec:
            value = store.get_meta("config")
        assert rec[0].filename == __file__  # through the _reads wrapper to the caller
        assert value == "a: 1\n"
        with pytest.warns(DeprecationWarning):
            assert store.get_meta("absent") is None
        # The replacement the warning names.
        q = store.query("SELECT value FROM meta WHERE key = ?", ["config"])
        assert q["value"].tolist() == [value]


def test_dwa_state_keeps_only_the_last_losses() -> None:
    dwa = DWA(temperature=2.0)
    st = dwa.init(3)
    assert set(DWAState.__dataclass_fields__) == {"prev", "step"}
    L1 = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    L2 = torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64)
    w1, st = dwa.update(st, losses=L1)
    assert torch.equal(w1, torch.ones(3, dtype=torch.float64))
    w2, st = dwa.update(st, losses=L2)
    expected = 3 * torch.softmax((L2 / L1) / 2.0, dim=-1)
    torch.testing.assert_close(w2, expected, rtol=1e-15, atol=0.0)
    assert torch.equal(st.prev, L2) and int(st.step) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_support_path_numpy_and_torch_routes_agree(seed: int) -> None:
    # Both routes now share path_coefficients after their own bordered solve.
    rng = np.random.default_rng(seed)
    B, K = 5, 4
    J = rng.standard_normal((B, K, 6))
    G = J @ J.transpose(0, 2, 1)
    a = rng.standard_normal((B, K))
    free = rng.random((B, K)) < 0.75
    free[:, 0] = True
    out_np = _cpu._support_path(G, a, free)
    out_t = _qp._support_path(torch.from_numpy(G), torch.from_numpy(a), torch.from_numpy(free))
    assert len(out_np) == len(out_t) == 8
    for x_np, x_t in zip(out_np[:7], out_t[:7], strict=True):
        assert x_np.shape == tuple(x_t.shape)
        np.testing.assert_allclose(x_np, x_t.numpy(), rtol=1e-9, atol=1e-9,
                                   err_msg=f"seed={seed}")
    assert bool(out_np[7].all()) and bool((out_t[7] == 0).all())
    # ||J^T w(theta)||^2 = A0 + 2 A1 theta + A2 theta^2 on the support path.
    w0, w1, _, _, A0, A1, A2 = out_np[:7]
    for theta in (0.0, 0.3, 2.0):
        w = w0 + theta * w1
        quad = np.einsum("bi,bij,bj->b", w, G, w)[:, None]
        np.testing.assert_allclose(quad, A0 + 2 * A1 * theta + A2 * theta**2, rtol=1e-8,
                                   atol=1e-10, err_msg=f"seed={seed} theta={theta}")


def test_nearest_weights_match_the_inline_rule() -> None:
    from dse.solvers._gradient import _nearest

    rng = np.random.default_rng(0)
    q, ref = rng.random((6, 3)), rng.random((9, 3))
    ref[2] = q[1]  # a coincident preference takes (almost) all the weight
    near, w = _nearest(q, ref, 3)
    dist = np.linalg.norm(q[:, None] - ref[None], axis=-1)
    assert np.array_equal(near, np.argsort(dist, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-15)
    assert near[1, 0] == 2 and w[1, 0] > 1 - 1e-9
    assert (np.diff(w, axis=1) <= 0).all()  # nearest first, largest weight first
