"""Fuzzing what users hand to dse: the same campaign again gives no traceback, no internal
message, no silently wrong result, no hang, no leak, no loss.

Four kinds of bad input, each a property over inputs hypothesis generates:

1. a user problem whose ``_evaluate`` returns the wrong type, dtype or shape, through
   :meth:`Problem.evaluate` and through :func:`solve`;
2. objectives NaN or infinite on scattered designs, constraints never met or NaN;
3. malformed ``key=value`` overrides, to :func:`parse_overrides` and to ``cli.py sweep``;
4. a run folder whose ``results.sqlite`` is truncated, flipped, replaced or empty.

Every failure the campaign found is fixed and each has a small reproducer at the end of the
module (``test_bug_*``), kept as a regression test; :data:`BUGS` lists any left open, each
with a strict xfail reproducer (none today: the last, a flipped digit of a stored objective
read back silently, is caught by the store's per-design checksums).

Examples are derandomised (the same ones on every run, so CI is reproducible) and few
enough that the module runs in well under a minute on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import os
import re
import shutil
import sqlite3
import struct
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from torch import Tensor

from dse.checks import MAX_BUDGET, MAX_SEED
from dse.config import ConfigError, SweepConfig, parse_overrides
from dse.problem import Problem, Real
from dse.solvers import solve
from dse.store import DB_NAME, Store
from dse.sweep import load_run, run_sweep

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # cli.py lives at the repository root, outside the package
    sys.path.insert(0, str(ROOT))

import cli  # noqa: E402


def fuzz(max_examples: int) -> settings:
    """Derandomised settings: the same examples on every run, no wall-clock deadline."""
    return settings(
        max_examples=max_examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        # No explain phase: it reruns a failing example dozens of times to point at lines.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )


# ---------------------------------------------------------------------------- known bugs
#: Failures the properties meet today; each has a strict xfail reproducer below. None now:
#: the last one (a flipped digit of a stored objective read back silently) is fixed by the
#: store's per-design checksums.
BUGS: dict[str, str] = {}


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1


# ============================================================ 1. what _evaluate returns
VARIABLES = {"a": (0.0, 1.0), "b": (0.0, 1.0)}


def objectives(x: Tensor, n_obj: int) -> Tensor:
    """The values every problem below means to return, ``(..., n_obj)``."""
    a, b = x[..., 0], x[..., 1]
    return torch.stack([a, 1.0 - a + b**2, (a - b) ** 2][:n_obj], -1)


def constraints(x: Tensor, n_constr: int) -> Tensor:
    """The constraint values meant, ``(..., n_constr)``."""
    a, b = x[..., 0], x[..., 1]
    cols = [a + b - 1.5, b - 0.9][:n_constr]
    return torch.stack(cols, -1) if cols else x.new_zeros((*x.shape[:-1], 0))


@dataclass(frozen=True)
class Mutation:
    """What ``_evaluate`` returns in place of the tensor ``T`` of intended values.

    ``documented``: a conversion the docs of :meth:`Problem._split` promise (other float
    dtypes, numpy arrays, nested lists), so raising for it is a failure too.
    """

    name: str
    apply: Callable[[Any], Any]
    documented: bool = False

    def __repr__(self) -> str:  # hypothesis prints this for a failing example
        return self.name


def _huge_like(T: Tensor) -> Any:
    return np.full(tuple(T.shape), 10**400, dtype=object).tolist()


#: Stand-ins for a batch ``T`` of shape ``(*lead, k)``.
MUTATIONS = [
    Mutation("tensor", lambda T: T, True),
    Mutation("float16 tensor", lambda T: T.half(), True),
    Mutation("bfloat16 tensor", lambda T: T.bfloat16(), True),
    Mutation("float32 tensor", lambda T: T.float(), True),
    Mutation("int64 tensor", lambda T: T.long()),
    Mutation("bool tensor", lambda T: T > 0.5),
    Mutation("numpy float64", lambda T: T.detach().numpy(), True),
    Mutation("numpy float32", lambda T: T.detach().numpy().astype(np.float32), True),
    Mutation("numpy int64", lambda T: T.detach().numpy().astype(np.int64)),
    Mutation("numpy object", lambda T: T.detach().numpy().astype(object)),
    Mutation("numpy str", lambda T: T.detach().numpy().astype(str)),
    Mutation("nested list", lambda T: T.tolist(), True),
    Mutation("list of row tensors", lambda T: list(T.unbind(0))),
    Mutation("list of column tensors", lambda T: list(T.unbind(-1))),
    Mutation("trailing axis dropped", lambda T: T[..., 0]),
    Mutation("extra trailing axis", lambda T: T[..., None]),
    Mutation("flattened", lambda T: T.reshape(-1)),
    Mutation("first and last axes swapped", lambda T: T.transpose(0, -1)),
    Mutation("one column short", lambda T: T[..., :-1]),
    Mutation("one column more", lambda T: torch.cat([T, T[..., :1]], -1)),
    Mutation("first design only", lambda T: T[:1]),
    Mutation("sum, a 0-d tensor", lambda T: T.sum()),
    Mutation("complex tensor", lambda T: T.to(torch.complex128) + 1j),
    Mutation("complex tensor, zero imaginary part", lambda T: T.to(torch.complex64)),
    Mutation("complex numpy", lambda T: T.detach().numpy() + 1j),
    Mutation("sparse tensor", lambda T: T.detach().to_sparse()),
    Mutation("int", lambda T: 3),
    Mutation("float", lambda T: 0.5),
    Mutation("huge int", lambda T: 10**400),
    Mutation("nested list of huge ints", _huge_like),
    Mutation("str", lambda T: "F"),
    Mutation("None", lambda T: None),
    Mutation("dict", lambda T: {"F": T}),
    Mutation("bytes", lambda T: b"F"),
    Mutation("set", lambda T: {0.5}),
    Mutation("generator", lambda T: (row for row in T)),
]

#: Stand-ins for one design's values ``v`` of shape ``(k,)`` (``elementwise=True``).
ROW_MUTATIONS = [
    Mutation("tensor", lambda v: v, True),
    Mutation("float16 tensor", lambda v: v.half(), True),
    Mutation("list of floats", lambda v: v.tolist(), True),
    Mutation("list of 0-d tensors", lambda v: list(v.unbind())),
    Mutation("tuple of 0-d tensors", lambda v: tuple(v.unbind())),
    Mutation("numpy", lambda v: v.detach().numpy(), True),
    Mutation("nested lists of 0-d tensors", lambda v: [[e] for e in v.unbind()]),
    Mutation("the vector inside a list", lambda v: [v]),
    Mutation("a 0-d tensor, then the vector", lambda v: (v[0], v)),
    Mutation("one value more", lambda v: [*v.tolist(), 0.0]),
    Mutation("complex tensor", lambda v: v.to(torch.complex128) + 1j),
    Mutation("complex numpy", lambda v: v.detach().numpy() + 1j),
    Mutation("sparse tensor", lambda v: v.detach().to_sparse()),
    Mutation("int", lambda v: 1),
    Mutation("huge int", lambda v: 10**400),
    Mutation("None", lambda v: None),
    Mutation("str", lambda v: "f"),
    Mutation("dict", lambda v: {"f": v}),
]

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(2**1024, 2**1100), st.floats(),
    st.complex_numbers(), st.text(max_size=4), st.binary(max_size=3),
)
# Anything at all: nested lists, pairs and dicts of numbers, text, None. A tuple at the top
# would be read as (F, G), which is the documented meaning, so the top is a list instead.
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=2), inner, max_size=2),
    ),
    max_leaves=10,
).map(lambda j: list(j) if isinstance(j, tuple) else j)


def _constant(value: Any) -> Mutation:
    return Mutation(f"junk {value!r}"[:120], lambda _: value)


def _mixed(value: Any) -> Mutation:
    return Mutation(f"a 0-d tensor, then {value!r}"[:120], lambda v: [v[0], value])


BATCH = st.one_of(st.sampled_from(MUTATIONS), JUNK.map(_constant))
ROW = st.one_of(st.sampled_from(ROW_MUTATIONS), JUNK.map(_constant), SCALARS.map(_mixed))

#: How the parts come back; the first ones are valid.
WRAPPERS = {0: ["bare", "pair", "tuple of one", "tuple of three"],
            1: ["pair", "list pair", "F alone", "tuple of one", "tuple of three"]}
VALID_WRAPPERS = ("bare", "pair", "list pair")
ROW_WRAPPERS = {0: ["bare"], 1: ["pair", "list pair", "F alone"]}


def _wrap(wrapper: str, F: Any, G: Any, intended_F: Tensor) -> Any:
    return {
        "bare": F, "pair": (F, G), "list pair": [F, G], "tuple of one": (F,),
        "tuple of three": (F, G, G), "F alone": intended_F,
    }[wrapper]


Parts = tuple[Any, Any, Any]


def builder(mutation: Mutation, target: str, wrapper: str, n_obj: int,
            n_constr: int) -> Callable[[Tensor], Parts]:
    """``x -> (what _evaluate returns, the F part, the G part)``, one target mutated."""

    def build(x: Tensor) -> Parts:
        F, G = objectives(x, n_obj), constraints(x, n_constr)
        Fp = mutation.apply(F) if target == "F" else F
        Gp = mutation.apply(G) if target == "G" else G
        return _wrap(wrapper, Fp, Gp, F), Fp, Gp

    return build


class Returning(Problem):
    """Two reals; ``_evaluate`` returns whatever ``make(x)`` builds."""

    name = "returning"

    def __init__(self, make: Callable[[Tensor], Any], n_obj: int, n_constr: int) -> None:
        super().__init__([Real("a", 0.0, 1.0), Real("b", 0.0, 1.0)], n_obj=n_obj,
                         n_constr=n_constr)
        self.make = make

    def _evaluate(self, x: Tensor) -> Any:
        return self.make(x)


def make_problem(kind: str, build: Callable[[Tensor], Parts], n_obj: int,
                 n_constr: int) -> Problem:
    def returned(x: Tensor) -> Any:
        return build(x)[0]

    if kind == "subclass":
        return Returning(returned, n_obj, n_constr)
    if kind == "function":
        return Problem.from_function(returned, VARIABLES, n_obj, n_constr, name="returning_fn")
    return Problem.from_function(returned, VARIABLES, n_obj, n_constr, name="returning_rows",
                                 elementwise=True)


def _real_array(obj: Any) -> np.ndarray | None:
    """``obj`` as a float64 array when it holds real numbers only, else ``None``."""
    if isinstance(obj, Tensor):
        return None if obj.is_complex() else obj.detach().to_dense().double().numpy()
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "c":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's ComplexWarning: not a real number
            return np.asarray(obj, dtype=float)
    except Exception:  # whatever numpy refuses means nothing as F
        return None


def meaning(obj: Any, lead: tuple[int, ...], k: int) -> np.ndarray | None:
    """What a returned part means, ``(*lead, k)``; ``None`` when it means nothing (wrong
    type or shape), so ``evaluate`` must raise."""
    arr = _real_array(obj)
    if arr is None:
        return None
    if arr.shape == (*lead, k):
        return arr
    if k == 1 and arr.shape == lead:  # one value without its trailing axis
        return arr[..., None]
    return None


def row_meaning(obj: Any, k: int) -> np.ndarray | None:
    """What one design's returned part means, ``(k,)`` (``elementwise=True``)."""
    if isinstance(obj, (list, tuple)) and any(isinstance(e, Tensor) for e in obj):
        values = []
        for e in obj:  # one number per entry
            if isinstance(e, Tensor) and not e.is_complex() and e.numel() == 1:
                values.append(float(e))
            elif isinstance(e, (bool, int, float)) and not isinstance(e, complex):
                try:
                    values.append(float(e))
                except OverflowError:
                    return None
            else:
                return None
        arr: np.ndarray | None = np.array(values)
    else:
        arr = _real_array(obj)
    return arr.reshape(k) if arr is not None and arr.size == k else None


def _leaves(obj: Any) -> Iterator[Any]:
    yield obj
    if isinstance(obj, (list, tuple)):
        for e in obj:
            yield from _leaves(e)
    elif isinstance(obj, dict):
        for e in obj.values():
            yield from _leaves(e)


def says_what_evaluate_must_return(exc: BaseException, problem: Problem) -> bool:
    msg = str(exc)
    return (isinstance(exc, (TypeError, ValueError)) and f"{problem.name}._evaluate" in msg
            and "it must return" in msg)


@fuzz(250)
@given(
    kind=st.sampled_from(["subclass", "function", "elementwise"]),
    n_obj=st.integers(1, 3),
    n_constr=st.integers(0, 2),
    lead=st.sampled_from([(1,), (4,), (2, 3)]),
    given_as=st.sampled_from(["numpy", "torch", "torch requiring grad"]),
    data=st.data(),
)
def test_evaluate_gives_the_values_meant_or_says_what_evaluate_must_return(
    kind: str, n_obj: int, n_constr: int, lead: tuple[int, ...], given_as: str,
    data: st.DataObject,
) -> None:
    rows = kind == "elementwise"
    mutation = data.draw(ROW if rows else BATCH, label="mutation")
    target = data.draw(st.sampled_from(["F", "G"] if n_constr else ["F"]), label="target")
    wrappers = (ROW_WRAPPERS if rows else WRAPPERS)[min(n_constr, 1)]
    wrapper = data.draw(st.sampled_from(wrappers), label="wrapper")
    build = builder(mutation, target, wrapper, n_obj, n_constr)
    problem = make_problem(kind, build, n_obj, n_constr)
    X = np.random.default_rng(len(lead)).random((*lead, 2))

    # What the returned parts mean, read independently of the library.
    with torch.no_grad():
        xt = torch.tensor(X)
        if rows:
            built = [build(r) for r in xt.reshape(-1, 2)]
            Fs = [row_meaning(b[1], n_obj) for b in built]
            Gs = [row_meaning(b[2], n_constr) for b in built]
            expected = None if any(v is None for v in Fs + Gs) else (
                np.stack(Fs).reshape(*lead, n_obj), np.stack(Gs).reshape(*lead, n_constr))
        else:
            _, Fp, Gp = build(xt)
            Fe, Ge = meaning(Fp, lead, n_obj), meaning(Gp, lead, n_constr)
            expected = None if Fe is None or Ge is None else (Fe, Ge)
    if wrapper not in VALID_WRAPPERS:
        expected = None

    x_in: Any = X if given_as == "numpy" else torch.tensor(
        X, requires_grad=given_as == "torch requiring grad")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NaN objectives warn, as they should
            F, G = problem.evaluate(x_in, constraints=True)
    except Exception as exc:  # the property is about which ones
        if says_what_evaluate_must_return(exc, problem):
            assert not (mutation.documented and expected is not None), (
                f"{mutation} is a documented conversion, but evaluate raised: {exc}")
            return
        raise AssertionError(
            f"evaluate raised {type(exc).__name__}: {exc}; it must return the values "
            "meant or raise a TypeError saying what _evaluate must return") from exc
    assert expected is not None, f"evaluate accepted {mutation} ({wrapper}) and returned {F}"
    if given_as == "numpy":
        assert isinstance(F, np.ndarray) and isinstance(G, np.ndarray)
        assert F.dtype == np.float64 and G.dtype == np.float64
    else:
        assert isinstance(F, Tensor) and F.dtype == torch.float64
        assert isinstance(G, Tensor) and G.dtype == torch.float64
        assert F.layout == torch.strided and G.layout == torch.strided
        F, G = F.detach().numpy(), G.detach().numpy()
    assert F.shape == (*lead, n_obj) and G.shape == (*lead, n_constr)
    np.testing.assert_allclose(F, expected[0], rtol=1e-12, atol=0, equal_nan=True)
    np.testing.assert_allclose(G, expected[1], rtol=1e-12, atol=0, equal_nan=True)


#: Small budgets that still make a run of each method.
SOLVE = {"nsga2": (40, {"pop_size": 8}), "chebyshev": (60, {"n_points": 10})}


@fuzz(40)
@given(
    kind=st.sampled_from(["subclass", "function"]),
    n_constr=st.integers(0, 1),
    mutation=BATCH,
    method=st.sampled_from(sorted(SOLVE)),
    seed=st.integers(0, 3),
)
def test_solve_on_a_badly_returning_problem_gives_a_result_or_a_clear_error(
    kind: str, n_constr: int, mutation: Mutation, method: str, seed: int,
) -> None:
    build = builder(mutation, "F", "pair" if n_constr else "bare", 2, n_constr)
    problem = make_problem(kind, build, 2, n_constr)
    budget, params = SOLVE[method]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = solve(problem, method, budget=budget, seed=seed, device="cpu", **params)
    except (TypeError, ValueError) as exc:
        assert problem.name in str(exc), exc
        return
    except Exception as exc:
        raise AssertionError(f"solve raised {type(exc).__name__}: {exc}") from exc
    assert res.n_evals <= budget
    assert np.isfinite(res.F).all() and np.isfinite(res.X).all()
    assert res.F.shape == (len(res.X), 2)
    if not len(res.X):
        return
    # The reported objectives are what the returned values mean at the reported designs.
    with torch.no_grad():
        _, Fp, _ = build(torch.tensor(res.X))
    meant = meaning(Fp, (len(res.X),), 2)
    assert meant is not None, f"{method} ran on {mutation} and reported {res.F[:3]}..."
    np.testing.assert_allclose(res.F, meant, rtol=1e-12, atol=0)


# ====================================================== 2. NaN, inf and infeasible designs
class Holes(Problem):
    """Two objectives of three reals that fail (NaN, inf or -inf) on a scattered ``share``
    of the designs, like a simulator that crashes on part of the space; constraints met,
    never met, or themselves NaN or inf on those designs."""

    name = "holes"

    def __init__(self, share: float, value: float, columns: tuple[bool, bool],
                 constraint: str) -> None:
        super().__init__(
            [Real("a", 0.0, 1.0), Real("b", 0.0, 1.0), Real("c", -1.0, 1.0)], n_obj=2,
            n_constr=0 if constraint == "none" else 1,
        )
        self.share, self.value, self.columns = share, value, columns
        self.constraint = constraint

    def holes(self, x: Tensor) -> Tensor:
        # A hash of the design: holes scattered over the space, the same ones every call.
        w = torch.tensor([12.9898, 78.233, 37.719], dtype=x.dtype, device=x.device)
        u = torch.frac(torch.sin(x.detach() @ w) * 43758.5453).abs()
        return u < self.share

    def _evaluate(self, x: Tensor) -> Any:
        a, b, c = x[..., 0], x[..., 1], x[..., 2]
        F = torch.stack([a + 0.1 * c**2, 1.0 - a + b**2], -1)
        hole = self.holes(x)
        cols = torch.tensor(self.columns, device=x.device)
        F = torch.where(hole[..., None] & cols, torch.full_like(F, self.value), F)
        if self.constraint == "none":
            return F
        g = {"met": b - 0.9, "never met": 1.0 + b,
             "nan": torch.where(hole, torch.full_like(b, math.nan), b - 0.9),
             "inf": torch.where(hole, torch.full_like(b, math.inf), b - 0.9)}[self.constraint]
        return F, g[..., None]


#: Small budgets that still make a run of each method.
METHODS = {
    "nsga2": (60, {"pop_size": 10}), "random": (50, {}), "moead": (60, {"pop_size": 10}),
    "smsemoa": (40, {"pop_size": 10}), "chebyshev": (60, {"n_points": 10}),
    "epo": (60, {"n_points": 10}), "mgda": (60, {"n_points": 10}),
    "weighted_sum": (60, {"n_points": 10}), "hybrid": (120, {"pop_size": 10, "n_points": 10}),
}


@fuzz(45)
@given(
    share=st.one_of(st.sampled_from([0.0, 0.3, 1.0]), st.floats(0.0, 1.0)),
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
    columns=st.tuples(st.booleans(), st.booleans()),
    constraint=st.sampled_from(["none", "met", "never met", "nan", "inf"]),
    method=st.sampled_from(sorted(METHODS)),
    seed=st.integers(0, 3),
)
@example(share=0.3, value=math.nan, columns=(True, False), constraint="nan", method="nsga2",
         seed=0)
@example(share=1.0, value=-math.inf, columns=(False, True), constraint="none",
         method="chebyshev", seed=0)
@example(share=0.5, value=math.inf, columns=(True, True), constraint="never met",
         method="hybrid", seed=1)
def test_nan_and_infeasible_designs_never_reach_the_front(
    share: float, value: float, columns: tuple[bool, bool], constraint: str, method: str,
    seed: int,
) -> None:
    problem = Holes(share, value, columns, constraint)
    budget, params = METHODS[method]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no feasible design" is allowed, not required
        res = solve(problem, method, budget=budget, seed=seed, device="cpu", **params)
    assert res.n_evals <= budget
    assert np.isfinite(res.F).all() and np.isfinite(res.X).all()
    assert res.F.shape == (len(res.X), 2)
    assert res.G.shape == (len(res.X), problem.n_constr), res.G.shape
    assert len(res.to_frame()) == len(res.X)
    front = res.front_mask
    assert np.isfinite(res.front_F).all()
    assert np.isfinite(res.G[front]).all() and (res.G[front] <= 0).all()
    if constraint == "never met" or (share >= 1.0 and any(columns)):
        assert len(res.front_F) == 0
    if len(res.X):
        # Reported values are the designs' own, not stand-ins.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F, G = problem.evaluate(res.X, constraints=True)
        np.testing.assert_allclose(res.F, F, rtol=1e-9)
        np.testing.assert_allclose(res.G, G, rtol=1e-9, equal_nan=True)


# ============================================================ 3. malformed command lines
KEYS = [
    "problem", "problem.name", "problem.n_var", "problem.params.n_obj", "methods", "seeds",
    "device", "solver.budget", "solver.pop_size", "solver.nsga2.pop_size",
    "solver.nsga2.budget", "solver.params.lr", "solver.methods.nsga2.pop_size", "executor",
    "executor.name", "executor.address", "executor.n_workers", "executor.threads_per_worker",
    "out", "ref_offset", "plots", "quiet",
]
FRAGMENTS = [
    "[", "]", "{", "}", ",", ":", ": ", "'", '"', "\\", "=", ".", " ", "!", "!!binary",
    "!!python/object/apply:os.system ['true']", "${oc.env:HOME}", "${x}", "$", "null", "~",
    "true", "no", "nan", "inf", "-inf", "1e400", "0x10", "1_000", "-1", "0", "3", "2.5",
    "nsga2", "random", "zdt1", "cpu", "cuda:", "\u0663", "\x00", "\x1b", "\t", "\n", "\r",
    "\u2028", "\x85", "\udcff", "\u00e9", "\u6570", "\U0001f642", "&a", "*a", "#", "- ",
    "? ", "|", ">", "%", "@", "`", "a" * 300,
]
#: Names of user problems that are safe to look up (the text of a value could otherwise
#: name any module, and looking a problem up imports it).
SPECS = ["nonexistent_dse_fuzz_module:Problem", "dse.problem:Real", "dse.problem:Nope",
         "/nonexistent/fuzz.py:P", "zdt1:", ":zdt1", "a:b:c", "dse.problem:get_problem"]

VALUES = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=5).map(
        "".join),
    st.integers(1, 5000).map(lambda n: "x" * n),
)


#: Values aimed at each key's own checks.
TAILORED = {
    "methods": ["[nsga2", "{a: 1}", "[[nsga2]]", "[nsga2,nsga2]", "[]", "nsga2]", "[null]",
                "[1]"],
    "seeds": ["[0,0]", "[-1]", "[1.5]", "[true]", "[1e30]", "[]", "0x10", "{}", "[[0]]",
              "18446744073709551616"],
    "device": ["cuda:\u0663", "cuda:-1", "cuda:", "CPU", "cuda:0x1", "cuda: 1", "mps", "[cpu]"],
    "ref_offset": ["inf", "nan", "-1", "0", "1e400", "1e-400", "[1]", "true"],
    "out": ["a\x00b", "\udcff", "/proc/x", "a" * 300, "/dev/null", "{a: b}", "[a]", "~"],
    "solver.budget": ["0", "-1", "1e13", "1.5", "nan", "true", "[1]", "\u0661\u0662"],
    "executor.n_workers": ["0", "-1", "1.5", "1e400", "x"],
    "plots": ["maybe", "2", "[true]", "null"],
    "problem": ["zdt1", "nonexistent", "[zdt1]", "{a: 1}", "null", "ZDT1"],
    "problem.n_var": ["{a: [1, {b: 2}]}", "1e400", "-1", "[1]", "x"],
}


@st.composite
def override(draw: st.DrawFn) -> str:
    """One command-line item: mostly ``key=value`` with keys valid or not, sometimes
    junk; never an option (a leading ``-`` is argparse's business)."""
    key = draw(st.one_of(
        st.sampled_from(KEYS), st.text(max_size=10),
        st.builds("{}.{}".format, st.sampled_from(KEYS), st.text(max_size=5)),
    ))
    aimed = key in TAILORED and draw(st.booleans())
    value = draw(st.sampled_from(TAILORED[key]) if aimed else VALUES)
    item = f"{key}={value}" if draw(st.booleans()) else f"{key}{value}"
    if item.startswith("-"):
        item = "k" + item
    name, eq, text = item.partition("=")
    if eq and name.strip() in ("problem", "problem.name") and ":" in text:
        item = f"{name}={draw(st.sampled_from(SPECS))}"
    return item


#: Values each key takes, so that lists of plausible overrides are often accepted.
VALID = {
    "problem": ["zdt1", "dtlz2", "codesign"], "problem.name": ["zdt1"],
    "problem.n_var": ["4", "12"], "methods": ["[nsga2]", "[nsga2,random]", "random", "null"],
    "seeds": ["[0,1]", "3", "[0]"], "device": ["cpu", "auto", "cuda", "cuda:1"],
    "solver.budget": ["100", "null"], "solver.pop_size": ["20"],
    "solver.nsga2.pop_size": ["20"], "solver.nsga2.budget": ["50"],
    "executor": ["local", "dask"], "executor.address": ["tcp://127.0.0.1:8786", "null"],
    "executor.n_workers": ["2"], "out": ["runs/x", "null"], "ref_offset": ["0.2", "1"],
    "plots": ["false", "true"], "quiet": ["true", "false"],
}


@st.composite
def plausible(draw: st.DrawFn) -> str:
    """A valid key with a valid value, or one aimed at its checks."""
    key = draw(st.sampled_from(sorted(VALID)))
    return f"{key}={draw(st.sampled_from(VALID[key] + TAILORED.get(key, [])))}"


ITEMS = st.one_of(st.lists(override(), min_size=1, max_size=4),
                  st.lists(plausible(), min_size=1, max_size=4))


def check_config(cfg: SweepConfig) -> None:
    """An accepted config holds what its schema says, so no job fails for it later."""
    assert isinstance(cfg, SweepConfig)
    assert isinstance(cfg.problem.name, str) and cfg.problem.name
    assert cfg.methods is None or (cfg.methods and all(isinstance(m, str) for m in cfg.methods))
    assert cfg.seeds and all(type(s) is int and 0 <= s <= MAX_SEED for s in cfg.seeds)
    assert len(set(cfg.seeds)) == len(cfg.seeds)
    b = cfg.solver.budget
    assert b is None or (type(b) is int and 1 <= b <= MAX_BUDGET)
    assert type(cfg.plots) is bool and type(cfg.quiet) is bool
    assert cfg.out is None or isinstance(cfg.out, str)
    assert cfg.executor.name in ("local", "dask")
    assert type(cfg.executor.n_workers) is int and cfg.executor.n_workers >= 1
    assert isinstance(cfg.ref_offset, float) and cfg.ref_offset > 0
    assert math.isfinite(cfg.ref_offset)
    assert re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", cfg.device), cfg.device


@fuzz(300)
@given(items=ITEMS)
@example(items=["out=a\x00b"])
@example(items=["out=\udcff"])
@example(items=["methods={a: 1}"])
@example(items=["ref_offset=inf"])
@example(items=["device=cuda:\u0663"])
def test_overrides_give_a_config_or_a_one_line_config_error(items: list[str]) -> None:
    try:
        cfg = parse_overrides(items)
    except ConfigError as exc:
        msg = str(exc)
        assert msg.strip() and one_line(msg), msg
        event("refused")
        return
    except Exception as exc:
        raise AssertionError(f"parse_overrides raised {type(exc).__name__}: {exc}") from exc
    event("accepted")
    check_config(cfg)


def run_cli(argv: list[str]) -> tuple[int | str, str, str]:
    """``cli.main(argv)``: exit status (or the name of what escaped), stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc: int | str = cli.main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:
            rc = type(exc).__name__
    return rc, out.getvalue(), err.getvalue()


@fuzz(40)
@given(items=ITEMS)
@example(items=["methods={a: 1}"])
def test_a_malformed_sweep_command_exits_2_with_one_error_line(items: list[str]) -> None:
    # Only command lines parse_overrides refuses: an accepted one would run a sweep.
    try:
        parse_overrides(items)
    except Exception as exc:
        refused = exc
    else:
        event("accepted (not run)")
        return
    rc, out, err = run_cli(["sweep", *items])
    assert isinstance(refused, ConfigError), refused
    assert rc == 2, (rc, err)
    assert err.startswith("error: ") and one_line(err), err
    assert "Traceback" not in err and not out


def test_the_same_small_campaign_twice_runs_once(tmp_path: Path) -> None:
    argv = ["sweep", "problem=zdt1", "problem.n_var=4", "methods=[random]",
            "solver.budget=10", "seeds=[0]", "plots=false", f"out={tmp_path / 'run'}",
            "--quiet"]
    for _ in range(2):
        rc, _, err = run_cli(argv)
        assert rc == 0 and "Traceback" not in err and "error" not in err, err
    with Store(tmp_path / "run", create=False) as store:
        assert len(store.runs()) == 1 and len(store.results()) == 1


# ============================================================ 4. corrupt results stores
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A finished run folder and the bytes of its database."""
    out = tmp_path_factory.mktemp("fuzz") / "run"
    run_sweep(["problem=zdt1", "problem.n_var=4", "methods=[random]", "solver.budget=50",
               "seeds=[0]", "quiet=true", "plots=false", f"out={out}"])
    return out, (out / DB_NAME).read_bytes()


OFFSETS = st.one_of(st.integers(0, 4095), st.integers(0, 2**16))  # page 1: header, schema
CORRUPTIONS = st.one_of(
    st.tuples(st.just("truncate"), OFFSETS),
    st.tuples(st.just("flip"), st.lists(st.tuples(OFFSETS, st.integers(1, 255)), min_size=1,
                                        max_size=3)),
    st.tuples(st.just("zero page"), st.integers(0, 15)),
    st.tuples(st.just("replace"), st.binary(max_size=2048)),
    st.tuples(st.just("replace"), st.binary(max_size=2048).map(b"SQLite format 3\x00".__add__)),
    st.tuples(st.just("empty"), st.none()),
    st.tuples(st.just("other database"), st.none()),
)


def corrupt(orig: bytes, how: str, arg: Any, scratch: Path) -> bytes:
    if how == "truncate":
        return orig[: arg % (len(orig) + 1)]
    if how == "flip":
        data = bytearray(orig)
        for off, mask in arg:
            data[off % len(data)] ^= mask
        return bytes(data)
    if how == "zero page":
        page = int.from_bytes(orig[16:18], "big")
        k = arg % (len(orig) // page)
        return orig[: k * page] + bytes(page) + orig[(k + 1) * page:]
    if how == "replace":
        return bytes(arg)
    if how == "empty":
        return b""
    other = scratch / "other.sqlite"  # a SQLite file, but not a results database
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('not results')")
        conn.commit()
    return other.read_bytes()


def open_fds_under(folder: Path) -> list[str]:
    """Files under ``folder`` this process holds open (Linux; empty elsewhere)."""
    if not os.path.isdir("/proc/self/fd"):
        return []
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(folder)):
                found.append(target)
    return found


READS: list[tuple[str, Callable[[Store], Any]]] = [
    ("len", len), ("runs", Store.runs), ("designs", Store.designs),
    ("history", Store.history), ("results", Store.results), ("job_keys", Store.job_keys),
    ("integrity_check", Store.integrity_check),
]
#: Methods that run SQL on the raw connection (not through Store.query).
RAW_SQL = ("len", "results", "job_keys", "integrity_check")


def read_everything(folder: Path) -> list[tuple[str, BaseException]]:
    """Open the store and read all of it; the failures met on the way."""
    try:
        with load_run(folder):
            pass
        store = Store(folder, create=False)
    except Exception as exc:
        return [("open", exc)]
    failed: list[tuple[str, BaseException]] = []
    with store:
        for where, read in READS:
            try:
                got = read(store)
            except Exception as exc:
                failed.append((where, exc))
                continue
            if where == "results":  # what reads back is at least well formed
                for r in got:
                    assert len(r.X) == len(r.F) == len(r.G)
                    assert r.F.shape[1] == len(r.objective_names)
    return failed


@fuzz(50)
@given(corruption=CORRUPTIONS)
def test_a_damaged_store_is_one_error_naming_the_file_and_is_left_as_it_is(
    run_folder: tuple[Path, bytes], corruption: tuple[str, Any],
) -> None:
    base, orig = run_folder
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        shutil.copytree(base, folder)
        db = folder / DB_NAME
        data = corrupt(orig, *corruption, Path(tmp))
        db.write_bytes(data)
        files = set(os.listdir(folder))
        failures = read_everything(folder)
        judged = [(where, type(exc), str(exc)) for where, exc in failures]
        del failures[:]
        db_changed = db.read_bytes() != data
        db.write_bytes(data)
        rc, _, err = run_cli(["compare", str(folder), "--quiet"])
        cli_changed = db.read_bytes() != data
        if judged or rc != 0:
            # A failed read leaves its cursor in the cycle of the exception's traceback
            # (kept as the __context__ of the ValueError raised from it), so the file
            # closes when the collector runs: only what outlives it is a leak.
            gc.collect()
        leaked = open_fds_under(folder)
        leftovers = set(os.listdir(folder)) - files

    for where, kind, msg in judged:
        assert issubclass(kind, ValueError) and str(db) in msg and one_line(msg), (
            f"Store {where}: {kind.__name__}: {msg}")
    if rc == 2:
        assert err.startswith("error: ") and one_line(err) and str(db) in err, err
    else:
        assert rc == 0, (rc, err)
    if judged or rc != 0:
        assert not (db_changed or cli_changed), "a damaged database was written to"
    assert not leaked, leaked
    assert not leftovers, leftovers  # no -wal or -shm left behind


# ============================================================ reproducers of known bugs
def _strict(bug: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=BUGS[bug])


def _values(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).random((n, 2))


def test_bug_a_complex_numpy_f_is_refused() -> None:
    p = Problem.from_function(lambda x: x.numpy() + 1j, VARIABLES, n_obj=2, name="cplx")
    with pytest.raises(TypeError, match=r"cplx\._evaluate returned"):
        p.evaluate(_values())


def test_bug_a_complex_tensor_per_design_is_refused() -> None:
    p = Problem.from_function(lambda x: x.to(torch.complex128) + 1j, VARIABLES, n_obj=2,
                              name="cplx", elementwise=True)
    with pytest.raises(TypeError, match=r"cplx\._evaluate returned"):
        p.evaluate(_values())


def test_bug_an_int_beyond_float_range_is_refused() -> None:
    p = Problem.from_function(lambda x: [[10**400, 0]] * len(x), VARIABLES, n_obj=2,
                              name="huge")
    with pytest.raises(TypeError, match=r"huge\._evaluate returned"):
        p.evaluate(_values())


def _converted_or_refused(p: Problem) -> None:
    """Either the values come back exactly, or a TypeError names what ``_evaluate`` gave."""
    try:
        F = p.evaluate(_values())
    except TypeError as exc:
        assert f"{p.name}._evaluate returned" in str(exc)
    else:
        np.testing.assert_array_equal(F, _values())


def test_bug_a_sparse_f_is_converted_or_refused() -> None:
    _converted_or_refused(
        Problem.from_function(lambda x: x.to_sparse(), VARIABLES, n_obj=2, name="sparse"))


def test_bug_a_list_of_row_tensors_under_autograd() -> None:
    p = Problem.from_function(lambda x: list(x.unbind(0)), VARIABLES, n_obj=2, name="rows")
    x = torch.tensor(_values(), requires_grad=True)
    np.testing.assert_array_equal(p.evaluate(x).detach().numpy(), _values())


def test_bug_one_designs_vector_inside_a_list() -> None:
    _converted_or_refused(Problem.from_function(lambda x: [x], VARIABLES, n_obj=2,
                                                name="wrapped", elementwise=True))


def test_bug_a_tensor_and_none_for_one_design() -> None:
    p = Problem.from_function(lambda x: [x[0], None], VARIABLES, n_obj=2, name="mixed",
                              elementwise=True)
    with pytest.raises(TypeError, match=r"mixed\._evaluate returned"):
        p.evaluate(_values())


def test_bug_nan_constraints_in_nsga2() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve(Holes(1.0, 0.5, (False, False), "nan"), "nsga2", budget=40, seed=0,
                    pop_size=10)
    assert res.n_evals == 40 and len(res.front_F) == 0


def test_bug_a_run_without_a_finite_design_keeps_its_constraint_columns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve(Holes(1.0, math.nan, (True, True), "met"), "random", budget=20, seed=0)
    assert res.G.shape == (0, 1)
    assert "g.g1" in res.to_frame().columns


def test_bug_out_with_a_nul_character() -> None:
    with pytest.raises(ConfigError, match="control character"):
        parse_overrides(["out=a\x00b"])


def test_bug_a_value_from_a_non_utf8_argument() -> None:
    with pytest.raises(ConfigError):
        parse_overrides(["out=\udcff"])


def test_bug_methods_given_a_mapping() -> None:
    with pytest.raises(ConfigError):
        parse_overrides(["methods={a: 1}"])


def test_bug_an_infinite_reference_offset() -> None:
    with pytest.raises(ConfigError, match="ref_offset"):
        parse_overrides(["ref_offset=inf"])


def test_bug_a_device_number_in_other_digits() -> None:
    with pytest.raises(ConfigError, match="device"):
        parse_overrides(["device=cuda:\u0663"])


def _damaged(folder: Path, tmp: Path, old: bytes, new: bytes) -> Path:
    """A copy of ``folder`` whose database has its first ``old`` replaced by ``new``."""
    copy = tmp / "run"
    shutil.copytree(folder, copy)
    db = copy / DB_NAME
    data = db.read_bytes()
    assert old in data and len(old) == len(new)
    db.write_bytes(data.replace(old, new, 1))
    return copy


def _first_objectives(folder: Path) -> bytes:
    """The stored JSON text of the first design's objectives."""
    with Store(folder, create=False) as store:
        return json.dumps(store.results()[0].F[0].tolist()).encode()


def test_bug_an_empty_database_file_is_refused_and_left_empty(
    run_folder: tuple[Path, bytes], tmp_path: Path,
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_folder[0], copy)
    (copy / DB_NAME).write_bytes(b"")
    try:
        with pytest.raises(ValueError, match=re.escape(str(copy / DB_NAME))):
            with Store(copy, create=False) as store:
                store.results()
    finally:
        assert (copy / DB_NAME).read_bytes() == b""


def test_bug_undecodable_text_read_by_results(run_folder: tuple[Path, bytes],
                                              tmp_path: Path) -> None:
    text = _first_objectives(run_folder[0])
    copy = _damaged(run_folder[0], tmp_path, text, text[:1] + b"\xff" + text[2:])
    with Store(copy, create=False) as store, pytest.raises(ValueError, match=DB_NAME):
        store.results()


def test_bug_corrupt_json_names_the_file(run_folder: tuple[Path, bytes],
                                         tmp_path: Path) -> None:
    text = _first_objectives(run_folder[0])
    copy = _damaged(run_folder[0], tmp_path, text, text.replace(b",", b";", 1))
    with Store(copy, create=False) as store, pytest.raises(ValueError, match=DB_NAME):
        store.designs()


def test_bug_a_damaged_schema_is_a_one_line_error(run_folder: tuple[Path, bytes],
                                                  tmp_path: Path) -> None:
    copy = _damaged(run_folder[0], tmp_path, b" n_front INTEGER", b" `_front INTEGER")
    rc, _, err = run_cli(["compare", str(copy), "--quiet"])
    assert rc == 2 and one_line(err), err


def test_bug_a_renamed_column_in_compare(run_folder: tuple[Path, bytes],
                                         tmp_path: Path) -> None:
    copy = _damaged(run_folder[0], tmp_path, b" n_front INTEGER", b" x_front INTEGER")
    rc, _, err = run_cli(["compare", str(copy), "--quiet"])
    assert rc == 2 and one_line(err) and DB_NAME in err, (rc, err)


def test_bug_a_flipped_digit_is_noticed(run_folder: tuple[Path, bytes],
                                        tmp_path: Path) -> None:
    text = _first_objectives(run_folder[0])
    digit = re.search(rb"[1-8]", text[3:]).start() + 3
    new = text[:digit] + bytes([text[digit] + 1]) + text[digit + 1:]
    copy = _damaged(run_folder[0], tmp_path, text, new)
    with Store(run_folder[0], create=False) as store:
        before = store.results()[0].F
    assert len(before)
    # Each design row carries a checksum of its values: reading names the file and the row.
    for read in (lambda st: st.results(), lambda st: st.designs()):
        with Store(copy, create=False) as store, pytest.raises(
            ValueError, match=re.escape(str(copy / DB_NAME)) + ".*run 1, design 0.*checksum",
        ):
            read(store)


def _one_double(folder: Path, value: float) -> bytes:
    """How the database holds ``value`` (a big-endian float64), checked to occur once."""
    data = (folder / DB_NAME).read_bytes()
    packed = struct.pack(">d", value)
    assert data.count(packed) == 1, value
    return packed


@pytest.mark.parametrize("table", ["runs", "history"])
def test_bug_a_changed_bit_of_a_stored_number_is_noticed(
        run_folder: tuple[Path, bytes], tmp_path: Path, table: str) -> None:
    # The last bit of a run's wall time (runs) or of a checkpoint's (history), changed in
    # the file: each row carries a checksum of its values, as design rows do.
    with Store(run_folder[0], create=False) as store:
        value = float(store.runs()["wall_time"].iloc[0] if table == "runs"
                      else store.history()["wall_time"].iloc[0])
    old = _one_double(run_folder[0], value)
    copy = _damaged(run_folder[0], tmp_path, old,
                    struct.pack(">d", float(np.nextafter(value, np.inf))))
    where = "run 1: its runs row" if table == "runs" else "run 1, history step 0"
    for read in (lambda st: st.results(), lambda st: st.history(), lambda st: st.runs()
                 if table == "runs" else st.history(1)):
        with Store(copy, create=False) as store, pytest.raises(
            ValueError, match=re.escape(str(copy / DB_NAME)) + ".*" + where + ".*checksum",
        ):
            read(store)
