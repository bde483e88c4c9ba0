"""The advisor's probes: the convex-hull depth as a function (properties, pinned values) and
the front probe on two fronts of known shape, with its evaluations counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dse._advisor_probe import (
    PROBE_THRESHOLDS,
    distinct_count,
    hull_depth,
    probe_front,
    probe_pretraining,
)
from dse.problem import Problem

# Grid of weights: 2,000 steps for two objectives, so depths are exact to about 1e-3.
GRID = 1e-3


def _curve(kind: str, n: int = 21) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    if kind == "convex":  # f2 = (1 - sqrt f1)^2: below the chord
        return np.stack([t, (1 - np.sqrt(t)) ** 2], -1)
    if kind == "concave":  # quarter circle: above the chord
        return np.stack([np.cos(t * np.pi / 2), np.sin(t * np.pi / 2)], -1)
    return np.stack([t, 1 - t], -1)  # linear: on the chord


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("kind", ["convex", "linear"])
def test_every_point_of_a_convex_front_is_on_the_hull(kind: str) -> None:
    P = _readonly(_curve(kind))
    assert hull_depth(P, P).max() <= GRID


def test_a_concave_front_lies_behind_its_chord_and_the_ends_do_not() -> None:
    P = _readonly(_curve("concave"))
    d = hull_depth(P, P)
    assert d[0] == pytest.approx(0.0, abs=GRID) and d[-1] == pytest.approx(0.0, abs=GRID)
    assert (d[1:-1] > 0.01).all()
    # The middle of the quarter circle, (s, s) with s = 1/sqrt(2), is best reached by
    # w = (1/2, 1/2): w . p - min w . q = s - 1/2.
    assert d[10] == pytest.approx(np.sqrt(0.5) - 0.5, abs=GRID)


def test_hull_depth_properties() -> None:
    rng = np.random.default_rng(7)
    for m in (2, 3):
        Q = _readonly(rng.random((30, m)))
        P = _readonly(Q[:12])
        d = hull_depth(P, Q)
        assert (d >= 0).all() and d.shape == (12,)
        # Permutations of P and Q, a common shift and a common positive scale.
        perm, perm_q = rng.permutation(12), rng.permutation(30)
        np.testing.assert_allclose(hull_depth(P[perm], Q[perm_q]), d[perm], atol=1e-12)
        shift = rng.normal(size=m)
        np.testing.assert_allclose(hull_depth(P + shift, Q + shift), d, atol=1e-9)
        np.testing.assert_allclose(hull_depth(3.0 * P, 3.0 * Q), 3.0 * d, atol=1e-9)
        # A point of Q that minimises some weighted sum (the best in one objective) is on it.
        assert hull_depth(Q[np.argmin(Q[:, 0])], Q)[0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"P \(4, 2\).*Q \(3, 3\)"):
        hull_depth(np.zeros((4, 2)), np.zeros((3, 3)))


def test_distinct_count() -> None:
    P = _readonly([[0.0, 1.0], [0.0, 1.0], [0.005, 0.995], [1.0, 0.0]])
    assert distinct_count(P, 0.02) == 2
    assert distinct_count(P, 0.0) == 3
    assert distinct_count(np.zeros((0, 2)), 0.02) == 0


def _family(kind: str) -> Problem:
    """f1 = x0, f2 = h(x0) (1 + x1) on [0, 1]^2: the front (x1 = 0) is f2 = h(f1)."""
    h = {"concave": lambda a: 1 - a**2, "convex": lambda a: (1 - a) ** 2}[kind]

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[..., 0], h(x[..., 0]) * (1 + x[..., 1])], -1)

    return Problem.from_function(f, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, n_obj=2,
                                 name=f"{kind}_family")


def test_probe_tells_a_concave_front_from_a_convex_one_and_counts_its_evaluations() -> None:
    concave = probe_front(_family("concave"), budget=200, seed=0)
    assert concave.verdict in ("concave", "disconnected") and not concave.covered
    assert concave.n_behind >= 1 and concave.depth > PROBE_THRESHOLDS["hull_tol"]
    assert concave.hv["chebyshev"] > concave.hv["weighted_sum"]
    convex = probe_front(_family("convex"), budget=200, seed=0)
    assert convex.shape == "convex" and convex.n_behind == 0
    for p in (concave, convex):
        # Every evaluation is counted, and the budget is a cap: half for each arm.
        assert set(p.n_evals) == {"weighted_sum", "chebyshev"}
        assert all(0 < n <= 100 for n in p.n_evals.values())
        assert p.total_evals == sum(p.n_evals.values()) <= p.budget == 200
        assert all(n > 0 for n in p.n_grad_evals.values())
        text = "\n".join(p.lines())
        assert f"{p.hv['weighted_sum']:.3f}" in text and "budget 200" in text


def test_probe_rejects_what_it_cannot_measure() -> None:
    with pytest.raises(ValueError, match="2 or 3 objectives"):
        probe_front(Problem.from_function(lambda x: x[..., :1], {"a": (0.0, 1.0)}, n_obj=1))
    with pytest.raises(ValueError, match="at least 2 \\* n_points = 16"):
        probe_front("zdt1", budget=10)


def test_pretraining_probe_counts_equal_gradient_evaluations() -> None:
    p = _family("convex")
    x0 = np.array([[0.5, 0.5], [0.2, 0.9]])
    scratch = np.array([[0.5, 0.25], [0.3, 0.5]])
    r = probe_pretraining(p, x0, scratch, steps=40, lr=0.02)
    # K = 2 objectives: 10 steps each alone, then 20 joint steps, per start.
    assert r.n_grad_evals == {"scratch": 80, "pretrained": 80}
    assert np.isfinite(r.pretrained_loss) and r.spread > 0
