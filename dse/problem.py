"""The one problem shape every solver takes.

A :class:`Problem` declares its variables (real, integer, categorical, by name), the number
of objectives and constraints, and implements ``_evaluate`` once, in torch, batched over any
leading dimensions. :meth:`Problem.evaluate` is the single public entry point: it validates
the input (shape, dtype, finiteness, bounds), converts numpy to torch and back, and warns
about non-finite objectives so they never slip silently into a front.

Conventions
-----------
* Minimisation of every objective. Constraints are ``g(x) <= 0`` when satisfied.
* ``x`` has shape ``(..., n_var)``. Integer variables hold integral values; a categorical
  variable holds the index of its choice (``0 .. len(choices) - 1``) as a number.
* torch in -> torch out on the same device and dtype (differentiable for real variables);
  numpy in -> numpy out (float64).

Mixed-variable problems offer a continuous *relaxation* for gradient solvers: a vector ``z``
of ``n_relaxed`` reals (by default integers relaxed in place and each categorical as a block
of one logit per choice), :meth:`Problem.evaluate_relaxed` (differentiable) and
:meth:`Problem.decode` from ``z`` back to an exact design. Reported results always come from
the exact :meth:`Problem.evaluate` of decoded designs.
"""

from __future__ import annotations

import importlib
import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "PROBLEMS",
    "Categorical",
    "FunctionProblem",
    "Integer",
    "NonFiniteObjectiveWarning",
    "Problem",
    "Real",
    "Table",
    "Variable",
    "get_problem",
    "list_problems",
    "objective_label",
    "register_problem",
]

# Relative slack when checking bounds, so that values produced by clamping in float32 are
# not rejected for rounding noise.
_BOUND_RTOL = 1e-6

#: Categorical logits live in ``[-LOGIT_BOUND, LOGIT_BOUND]``: at +-5 a softmax over a
#: handful of choices puts more than 99% on the top one, so an encoded exact design is
#: (nearly) its own relaxation, and the box keeps gradient steps from saturating forever.
LOGIT_BOUND = 5.0


#: Unit suffixes of objective names (``area_mm2``) and how a plot axis writes them.
_UNIT_SUFFIXES = {
    "mm2": "mm^2", "um2": "µm^2", "cm2": "cm^2", "m2": "m^2", "mm": "mm", "cm": "cm",
    "um": "µm", "ns": "ns", "us": "µs", "ms": "ms", "s": "s", "pj": "pJ", "nj": "nJ",
    "uj": "µJ", "mj": "mJ", "j": "J", "mw": "mW", "w": "W", "kw": "kW", "kb": "KB",
    "mb": "MB", "gb": "GB", "kg": "kg", "pct": "%", "hz": "Hz", "mhz": "MHz", "ghz": "GHz",
}


def objective_label(name: str) -> str:
    """An axis label from an objective name: a unit suffix in brackets, underscores as
    spaces (``area_mm2`` -> ``area [mm^2]``, ``latency_ms`` -> ``latency [ms]``); a name
    without a known unit suffix is returned as it is (``f1``)."""
    stem, sep, suffix = str(name).rpartition("_")
    unit = _UNIT_SUFFIXES.get(suffix.lower()) if sep and stem else None
    return f"{stem.replace('_', ' ')} [{unit}]" if unit else str(name)


class NonFiniteObjectiveWarning(RuntimeWarning):
    """An evaluation produced NaN or infinite objective values."""


@dataclass(frozen=True)
class _Interval:
    """A named variable in ``[lower, upper]``: finite bounds, ``lower <= upper``."""

    name: str
    lower: float
    upper: float

    def __post_init__(self) -> None:
        _check_bounds(self.name, self.lower, self.upper)


@dataclass(frozen=True)
class Real(_Interval):
    """A continuous variable in ``[lower, upper]``."""


@dataclass(frozen=True)
class Integer(_Interval):
    """An integer variable in ``[lower, upper]`` (both inclusive)."""

    lower: int
    upper: int

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(self.lower) != self.lower or int(self.upper) != self.upper:
            raise ValueError(f"integer variable {self.name!r} needs integral bounds")


@dataclass(frozen=True)
class Categorical:
    """A categorical variable; ``x`` holds the index of the chosen element of ``choices``."""

    name: str
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"categorical variable {self.name!r} needs at least 2 choices")
        object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def lower(self) -> int:
        return 0

    @property
    def upper(self) -> int:
        return len(self.choices) - 1


@dataclass(frozen=True)
class Table:
    """A real value taken from a finite table: standard sizes, bar diameters, catalogue parts.

    ``x`` holds the value itself (one of ``values``), so ``_evaluate`` uses it directly.
    Gradient methods relax it in *index* space: ``z`` in ``[0, len(values) - 1]`` maps to the
    piecewise-linear interpolation of the table, exact at whole indices, so a table of
    uneven steps (a geometric series of sizes) is searched as evenly as a uniform one.
    """

    name: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        vals = tuple(sorted(float(v) for v in self.values))
        if len(vals) < 2:
            raise ValueError(f"table variable {self.name!r} needs at least 2 values")
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"table variable {self.name!r} needs finite values, got {vals}")
        if len(set(vals)) != len(vals):
            raise ValueError(f"table variable {self.name!r} has repeated values: {vals}")
        object.__setattr__(self, "values", vals)

    @property
    def lower(self) -> float:
        return self.values[0]

    @property
    def upper(self) -> float:
        return self.values[-1]


Variable = Real | Integer | Categorical | Table
_VARIABLE_TYPES = (Real, Integer, Categorical, Table)


def _interpolate(z: Tensor, values: tuple[float, ...]) -> Tensor:
    """Piecewise-linear interpolation of ``values`` at real indices ``z`` (differentiable)."""
    table = torch.tensor(values, dtype=z.dtype, device=z.device)
    zc = z.clamp(0, len(values) - 1)
    i = zc.detach().floor().clamp(max=len(values) - 2).long()
    return table[i] + (zc - i.to(z.dtype)) * (table[i + 1] - table[i])


def _table_index(x: Tensor, values: tuple[float, ...]) -> Tensor:
    """Index of the table entry nearest to each value of ``x``."""
    table = torch.tensor(values, dtype=x.dtype, device=x.device)
    return (x[..., None] - table).abs().argmin(-1)


def _holds_tensor(v: list[Any] | tuple[Any, ...]) -> bool:
    return any(isinstance(e, Tensor) or (isinstance(e, list | tuple) and _holds_tensor(e))
               for e in v)


def _check_bounds(name: str, lower: float, upper: float) -> None:
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise ValueError(f"variable {name!r} needs finite bounds, got [{lower}, {upper}]")
    if lower > upper:
        raise ValueError(f"variable {name!r} has lower bound {lower} > upper bound {upper}")


class Problem:
    """Base class of all problems: subclasses implement :meth:`_evaluate` in torch.

    Parameters
    ----------
    variables
        The design variables, in the order of the last axis of ``x``.
    n_obj
        Number of objectives (all minimised).
    n_constr
        Number of inequality constraints ``g(x) <= 0``.
    objective_names, constraint_names
        Optional labels for tables and plots.
    objective_labels
        Optional axis labels with units for plots and reports (``"area [mm^2]"``);
        default: from the names by :func:`objective_label` (``area_mm2`` -> ``area
        [mm^2]``).
    """

    #: Registry name (set by subclasses).
    name: str = "problem"
    #: Whether :meth:`evaluate_relaxed` is differentiable w.r.t. its input.
    differentiable: bool = True

    def __init__(
        self,
        variables: Sequence[Variable],
        n_obj: int,
        n_constr: int = 0,
        *,
        objective_names: Sequence[str] | None = None,
        constraint_names: Sequence[str] | None = None,
        objective_labels: Sequence[str] | None = None,
    ) -> None:
        if len(variables) == 0:
            raise ValueError("a problem needs at least one variable")
        bad = [type(v).__name__ for v in variables if not isinstance(v, _VARIABLE_TYPES)]
        if bad:
            raise TypeError(
                f"variables must be Real, Integer, Categorical or Table objects, got {bad[0]}"
            )
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ValueError(f"variable names must be unique, got {names}")
        if n_obj < 1:
            raise ValueError(f"n_obj must be >= 1, got {n_obj}")
        if n_constr < 0:
            raise ValueError(f"n_constr must be >= 0, got {n_constr}")
        self.variables: tuple[Variable, ...] = tuple(variables)
        self.n_obj = int(n_obj)
        self.n_constr = int(n_constr)
        self.objective_names = tuple(objective_names or (f"f{i + 1}" for i in range(n_obj)))
        self.constraint_names = tuple(
            constraint_names or (f"g{i + 1}" for i in range(n_constr))
        )
        if len(self.objective_names) != self.n_obj:
            raise ValueError("objective_names must have n_obj entries")
        if len(self.constraint_names) != self.n_constr:
            raise ValueError("constraint_names must have n_constr entries")
        self.objective_labels = objective_labels  # type: ignore[assignment]
        self.xl = np.array([float(v.lower) for v in self.variables])
        self.xu = np.array([float(v.upper) for v in self.variables])
        self.xl.setflags(write=False)
        self.xu.setflags(write=False)

    # ------------------------------------------------------------------ description
    @property
    def n_var(self) -> int:
        return len(self.variables)

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def objective_labels(self) -> tuple[str, ...]:
        """Axis labels with units, one per objective (given, or from the names)."""
        given = self.__dict__.get("_objective_labels")
        return given or tuple(objective_label(n) for n in self.objective_names)

    @objective_labels.setter
    def objective_labels(self, labels: Sequence[str] | None) -> None:
        if labels is not None:
            labels = tuple(str(v) for v in labels)
            if len(labels) != len(self.objective_names):
                raise ValueError(f"objective_labels has {len(labels)} entries for "
                                 f"{len(self.objective_names)} objectives")
        self._objective_labels = labels

    @property
    def is_mixed(self) -> bool:
        """True when any variable is integer or categorical."""
        return any(not isinstance(v, Real) for v in self.variables)

    def kind_mask(self, kind: type) -> np.ndarray:
        """Boolean mask over variables of the given kind (``Real``, ``Integer``, ...)."""
        return np.array([isinstance(v, kind) for v in self.variables])

    def bounds(self, like: Tensor | None = None) -> tuple[Any, Any]:
        """``(xl, xu)`` as numpy arrays, or as tensors on ``like``'s device and dtype."""
        if like is None:
            return self.xl.copy(), self.xu.copy()
        return (
            torch.tensor(self.xl, dtype=like.dtype, device=like.device),
            torch.tensor(self.xu, dtype=like.dtype, device=like.device),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, n_var={self.n_var}, "
            f"n_obj={self.n_obj}, n_constr={self.n_constr})"
        )

    # ------------------------------------------------------------------ to implement
    def _evaluate(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Objectives ``(..., n_obj)`` (and constraints ``(..., n_constr)``) of valid ``x``.

        ``x`` is a floating tensor of shape ``(..., n_var)`` that has passed validation.
        Problems with constraints return ``(F, G)``; others may return ``F`` alone.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ evaluation
    @overload
    def evaluate(self, x: Tensor, *, constraints: bool = ..., check: bool = ...) -> Any: ...
    @overload
    def evaluate(self, x: np.ndarray, *, constraints: bool = ..., check: bool = ...) -> Any: ...

    def evaluate(self, x: Any, *, constraints: bool = False, check: bool = True) -> Any:
        """Evaluate designs exactly.

        Parameters
        ----------
        x
            Designs of shape ``(..., n_var)``: a floating torch tensor, or anything numpy
            can turn into a real array.
        constraints
            Also return the constraint values ``G`` of shape ``(..., n_constr)``.
        check
            Validate shape, finiteness, bounds and integrality (solvers that already
            guarantee these may switch it off).

        Returns
        -------
        F, or (F, G) when ``constraints`` is true; same library (and for torch the same
        device and dtype) as ``x``.
        """
        is_numpy = not isinstance(x, Tensor)
        xt = self._as_tensor(x)
        if check:
            self._check_input(xt, exact=True)
        if is_numpy:
            with torch.no_grad():
                F, G = self._split(self._evaluate(xt), xt)
            # Checked after the conversion: numpy's test on a small array costs a fraction
            # of torch's, and evolutionary solvers evaluate this way at every generation.
            F, G = F.numpy(force=True), G.numpy(force=True)
            if not np.isfinite(F).all():
                self._warn_nonfinite(torch.from_numpy(F))
        else:
            F, G = self._split(self._evaluate(xt), xt)
            self._warn_nonfinite(F)
        return (F, G) if constraints else F

    __call__ = evaluate

    @classmethod
    def from_function(
        cls,
        f: Callable[..., Any] | None = None,
        variables: Sequence[Variable] | Mapping[str, tuple[float, float]] | None = None,
        n_obj: int | None = None,
        n_constr: int = 0,
        *,
        name: str | None = None,
        elementwise: bool = False,
        objective_names: Sequence[str] | None = None,
        constraint_names: Sequence[str] | None = None,
        objective_labels: Sequence[str] | None = None,
    ) -> Any:
        """A problem from a plain function, or a decorator making one.

        Parameters
        ----------
        f
            ``f(x) -> F`` or ``(F, G)`` with ``x`` of shape ``(..., n_var)`` (batched),
            or with ``elementwise=True`` one design of shape ``(n_var,)`` -> ``n_obj``
            values (and ``n_constr`` constraint values). Written with torch operations it
            serves the gradient methods too. Omitted: returns a decorator.
        variables
            :class:`Real`/:class:`Integer`/:class:`Categorical`/:class:`Table` variables,
            or a mapping ``{name: (lower, upper)}`` of real variables.
        n_obj, n_constr
            Number of objectives and of constraints ``g(x) <= 0``.
        name
            The problem's name in tables, plots and errors (default: the function's).
        objective_names, constraint_names, objective_labels
            As for :class:`Problem` (``objective_labels``: axis labels with units, such as
            ``"area [mm^2]"``).

        Examples
        --------
        >>> p = Problem.from_function(lambda x: torch.stack([x[..., 0], 1 - x[..., 0]], -1),
        ...                           {"a": (0.0, 1.0)}, n_obj=2)
        >>> @Problem.from_function(variables={"a": (0.0, 1.0)}, n_obj=2)
        ... def tradeoff(x):
        ...     return torch.stack([x[..., 0], (1 - x[..., 0]) ** 2], -1)
        """
        if variables is None or n_obj is None:
            missing = [k for k, v in (("variables", variables), ("n_obj", n_obj)) if v is None]
            raise TypeError(f"Problem.from_function needs {' and '.join(missing)}")

        def build(func: Callable[..., Any]) -> FunctionProblem:
            return FunctionProblem(
                func, variables, n_obj, n_constr, name=name, elementwise=elementwise,
                objective_names=objective_names, constraint_names=constraint_names,
                objective_labels=objective_labels,
            )

        return build if f is None else build(f)

    # ------------------------------------------------------------------ relaxation
    @property
    def has_relaxation(self) -> bool:
        """Whether gradient solvers can work on this problem.

        Real, integer and table variables have a default relaxation (integers in place,
        tables interpolated), used when ``_evaluate`` is written in torch operations that
        accept non-integral values; categorical variables need :meth:`relaxation`.
        """
        has_categorical = any(isinstance(v, Categorical) for v in self.variables)
        return self.overrides_relaxation or not has_categorical

    @property
    def overrides_relaxation(self) -> bool:
        """True when the problem writes its own relaxation instead of the default one."""
        cls = type(self)
        return (cls.relaxation is not Problem.relaxation
                or cls._evaluate_relaxed is not Problem._evaluate_relaxed)

    def relaxed_logit_mask(self) -> np.ndarray:
        """Boolean mask over the entries of ``z`` that are categorical logits."""
        return np.concatenate(
            [
                np.ones(len(v.choices), bool) if isinstance(v, Categorical) else np.zeros(1, bool)
                for v in self.variables
            ]
        )

    @property
    def n_relaxed(self) -> int:
        """Length of the relaxed vector ``z`` (one logit per choice for categoricals)."""
        return sum(
            len(v.choices) if isinstance(v, Categorical) else 1 for v in self.variables
        )

    def relaxed_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Box of the relaxed vector ``z``.

        Logits of categoricals live in ``[-LOGIT_BOUND, LOGIT_BOUND]``; a table variable
        in its index range ``[0, len(values) - 1]``; reals and integers in their bounds.
        """
        lo: list[float] = []
        hi: list[float] = []
        for v in self.variables:
            if isinstance(v, Categorical):
                lo += [-LOGIT_BOUND] * len(v.choices)
                hi += [LOGIT_BOUND] * len(v.choices)
            elif isinstance(v, Table):
                lo.append(0.0)
                hi.append(float(len(v.values) - 1))
            else:
                lo.append(float(v.lower))
                hi.append(float(v.upper))
        return np.array(lo), np.array(hi)

    def relaxation(self, z: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Override to give gradient methods a differentiable model of relaxed designs.

        ``z`` has shape ``(..., n_relaxed)``; return what :meth:`_evaluate` returns, as
        smooth functions of ``z``. :meth:`relaxed_values` splits ``z`` by variable (reals
        and integers as values, tables interpolated, categoricals as softmax
        probabilities), which is usually all a relaxation needs. The default relaxes
        integers in place and tables by interpolation and calls :meth:`_evaluate`;
        problems with categorical variables must override it (or use an evolutionary
        method). Exact results always come from :meth:`_evaluate` of decoded designs.
        """
        if any(isinstance(v, Categorical) for v in self.variables):
            names = [v.name for v in self.variables if isinstance(v, Categorical)]
            raise NotImplementedError(
                f"{self.name} has categorical variable(s) {names} and no relaxation: "
                "override Problem.relaxation(z) (see Problem.relaxed_values) or use an "
                "evolutionary method"
            )
        return self._evaluate(self.relaxed_design(z))

    def relaxed_values(self, z: Tensor) -> dict[str, Tensor]:
        """``z`` -> one tensor per variable name, for writing :meth:`relaxation`.

        Reals and integers give their (relaxed) value ``(...)``, tables the interpolated
        table value ``(...)``, categoricals the softmax probabilities of their choices
        ``(..., len(choices))``. Differentiable in ``z``.
        """
        if z.shape[-1:] != (self.n_relaxed,):
            raise ValueError(
                f"z must have shape (..., n_relaxed={self.n_relaxed}), got {tuple(z.shape)}"
            )
        out: dict[str, Tensor] = {}
        j = 0
        for v in self.variables:
            if isinstance(v, Categorical):
                k = len(v.choices)
                out[v.name] = torch.softmax(z[..., j : j + k], dim=-1)
                j += k
            elif isinstance(v, Table):
                out[v.name] = _interpolate(z[..., j], v.values)
                j += 1
            else:
                out[v.name] = z[..., j]
                j += 1
        return out

    def relaxed_design(self, z: Tensor) -> Tensor:
        """``z`` -> the real-valued design ``_evaluate`` sees (tables interpolated).

        Only for problems without categorical variables (their ``z`` holds logits).
        """
        if not any(isinstance(v, Table) for v in self.variables):
            return z
        cols = list(z.unbind(dim=-1))
        for i, v in enumerate(self.variables):
            if isinstance(v, Table):
                cols[i] = _interpolate(cols[i], v.values)
        return torch.stack(cols, dim=-1)

    def _evaluate_relaxed(self, z: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        # Kept for problems written before the public hook: overriding this still works.
        return self.relaxation(z)

    def evaluate_relaxed(self, z: Tensor, *, constraints: bool = False) -> Any:
        """Evaluate the continuous relaxation (differentiable); ``z`` is ``(..., n_relaxed)``.

        For problems whose variables are all real this is :meth:`evaluate` without the
        exact-design checks.
        """
        if not isinstance(z, Tensor):
            raise TypeError("evaluate_relaxed takes a torch tensor")
        if not self.has_relaxation:
            raise NotImplementedError(
                f"problem {self.name!r} has integer/categorical variables and no relaxation"
            )
        if not z.is_floating_point():
            raise TypeError(f"z must be a floating tensor, got dtype {z.dtype}")
        if z.shape[-1:] != (self.n_relaxed,):
            raise ValueError(
                f"z must have shape (..., n_relaxed={self.n_relaxed}), got {tuple(z.shape)}"
            )
        F, G = self._split(self._evaluate_relaxed(z), z)
        return (F, G) if constraints else F

    def encode(self, x: Any) -> Any:
        """Exact design(s) -> relaxed vector(s) (one-hot logits for categoricals)."""
        is_numpy = not isinstance(x, Tensor)
        xt = self._as_tensor(x)
        # Exact designs only: an out-of-range category would otherwise fail inside one_hot.
        self._check_input(xt, exact=True)
        if not self.is_mixed:
            # _as_tensor already copied numpy input (and turned lists into float64 arrays).
            return xt.numpy() if is_numpy else xt.clone()
        parts = []
        for i, v in enumerate(self.variables):
            if isinstance(v, Categorical):
                idx = xt[..., i].round().long()
                onehot = torch.nn.functional.one_hot(idx, len(v.choices)).to(xt.dtype)
                # The chosen logit at the top of the box, the others at the bottom: the
                # softmax of a one-hot design is (nearly) that design.
                parts.append((onehot * 2.0 - 1.0) * LOGIT_BOUND)
            elif isinstance(v, Table):
                parts.append(_table_index(xt[..., i], v.values).to(xt.dtype)[..., None])
            else:
                parts.append(xt[..., i : i + 1])
        z = torch.cat(parts, dim=-1)
        return z.cpu().numpy() if is_numpy else z

    def decode(self, z: Any) -> Any:
        """Relaxed vector(s) ``(..., n_relaxed)`` -> exact, repaired design(s) ``(..., n_var)``.

        Reals are clipped to their bounds, integers rounded, tables take the value at the
        nearest index, categoricals the argmax of their logits; then :meth:`repair` makes
        the design feasible where the problem can.
        """
        is_numpy = not isinstance(z, Tensor)
        zt = self._as_tensor(z).detach()
        if zt.shape[-1:] != (self.n_relaxed,):
            raise ValueError(
                f"z must have shape (..., n_relaxed={self.n_relaxed}), got {tuple(zt.shape)}"
            )
        finite = torch.isfinite(zt).all(dim=-1)
        if not bool(finite.all()):
            raise ValueError(
                f"{self.name}.decode: {int((~finite).sum())} relaxed design(s) hold NaN or "
                "inf; decode needs finite values (a diverged optimiser step?)"
            )
        cols = []
        j = 0
        for v in self.variables:
            if isinstance(v, Categorical):
                k = len(v.choices)
                cols.append(zt[..., j : j + k].argmax(dim=-1).to(zt.dtype))
                j += k
            elif isinstance(v, Table):
                table = torch.tensor(v.values, dtype=zt.dtype, device=zt.device)
                idx = zt[..., j].nan_to_num(0.0).clamp(0, len(v.values) - 1).round().long()
                cols.append(table[idx])
                j += 1
            else:
                col = zt[..., j].clamp(float(v.lower), float(v.upper))
                if isinstance(v, Integer):
                    col = col.round()
                cols.append(col)
                j += 1
        x = self.repair(torch.stack(cols, dim=-1))
        return x.cpu().numpy() if is_numpy else x

    def repair(self, x: Tensor) -> Tensor:
        """Map exact designs to feasible ones where the problem knows how (default: none)."""
        return x

    def has_bounds(self) -> bool:
        """Not for dse: pymoo calls this first on the problem given to ``minimize``."""
        raise TypeError(
            f"{self.name} is a dse Problem, not a pymoo one: pass "
            "dse.pymoo_bridge.to_pymoo(problem) to pymoo.optimize.minimize"
        )

    def snap(self, x: Any) -> Any:
        """The nearest exact design(s) to real-valued ``x`` ``(..., n_var)``, repaired.

        Every column is clipped to its bounds, integers and categorical indices rounded,
        table columns moved to the nearest table value; then :meth:`repair`. For designs
        from tools that know only real boxes (pymoo's real operators, a user's grid).
        """
        is_numpy = not isinstance(x, Tensor)
        xt = self._as_tensor(x).detach()
        if xt.ndim == 0 or xt.shape[-1] != self.n_var:
            raise ValueError(
                f"{self.name}: x must have shape (..., n_var={self.n_var}), got {tuple(xt.shape)}"
            )
        if not bool(torch.isfinite(xt).all()):
            raise ValueError(f"{self.name}.snap: x holds NaN or inf")
        xl, xu = self.bounds(like=xt)
        out = torch.minimum(torch.maximum(xt, xl), xu)
        integral = torch.as_tensor(self.kind_mask(Integer) | self.kind_mask(Categorical),
                                   device=xt.device)
        out = torch.where(integral, out.round(), out)
        for i, v in enumerate(self.variables):
            if isinstance(v, Table):
                table = torch.tensor(v.values, dtype=xt.dtype, device=xt.device)
                out[..., i] = table[(out[..., i, None] - table).abs().argmin(dim=-1)]
        out = self.repair(out)
        return out.cpu().numpy() if is_numpy else out

    # ------------------------------------------------------------------ optional knowledge
    def pareto_front(self, n: int = 100) -> np.ndarray | None:
        """About ``n`` samples of the true Pareto front, or ``None`` when unknown."""
        return None

    @property
    def ideal(self) -> np.ndarray | None:
        """Ideal point (component-wise minimum over the front), when known."""
        front = self.pareto_front()
        return None if front is None else front.min(axis=0)

    @property
    def nadir(self) -> np.ndarray | None:
        """Nadir point (component-wise maximum over the front), when known."""
        front = self.pareto_front()
        return None if front is None else front.max(axis=0)

    @property
    def ref_point(self) -> np.ndarray | None:
        """Default hypervolume reference point, from the rule in :mod:`dse.indicators`."""
        ideal, nadir = self.ideal, self.nadir
        if ideal is None or nadir is None:
            return None
        from dse.indicators import reference_point

        return np.asarray(reference_point(ideal, nadir))

    def sample(self, n: int, *, seed: int | np.random.Generator | None = 0) -> np.ndarray:
        """``n`` uniformly random exact designs (integers and choices uniform)."""
        rng = np.random.default_rng(seed)
        x = rng.uniform(self.xl, self.xu, size=(n, self.n_var))
        discrete = self.kind_mask(Integer) | self.kind_mask(Categorical)
        if discrete.any():
            lo, hi = self.xl[discrete], self.xu[discrete]
            x[:, discrete] = rng.integers(lo.astype(int), hi.astype(int) + 1, size=(n, len(lo)))
        for i, v in enumerate(self.variables):
            if isinstance(v, Table):
                x[:, i] = np.asarray(v.values)[rng.integers(0, len(v.values), size=n)]
        return self.repair(torch.from_numpy(x)).numpy()

    # ------------------------------------------------------------------ helpers
    def _as_tensor(self, x: Any) -> Tensor:
        if isinstance(x, Tensor):
            if not x.is_floating_point():
                raise TypeError(
                    f"{self.name}: x must be a floating tensor (float32/float64), "
                    f"got dtype {x.dtype}"
                )
            return x
        arr = np.asarray(x)
        if arr.dtype == object or arr.dtype.kind not in "iuf":
            raise TypeError(
                f"{self.name}: x must be a real-valued array, got dtype {arr.dtype}"
            )
        return torch.from_numpy(np.array(arr, dtype=np.float64))

    def _check_input(self, x: Tensor, *, exact: bool) -> None:
        if x.ndim == 0 or x.shape[-1] != self.n_var:
            raise ValueError(
                f"{self.name}: x must have shape (..., n_var={self.n_var}), "
                f"got {tuple(x.shape)}"
            )
        xd = x.detach()
        finite = torch.isfinite(xd)
        if not bool(finite.all()):
            bad = int((~finite).any(dim=-1).sum())
            raise ValueError(f"{self.name}: x contains NaN or inf in {bad} design(s)")
        xl, xu = self.bounds(like=xd)
        slack = _BOUND_RTOL * (1.0 + torch.maximum(xl.abs(), xu.abs()))
        below = xd < xl - slack
        above = xd > xu + slack
        if bool((below | above).any()):
            col = int((below | above).reshape(-1, self.n_var).any(dim=0).nonzero()[0, 0])
            v = self.variables[col]
            vals = xd[..., col].reshape(-1)
            worst = float(vals.min() if bool(below[..., col].any()) else vals.max())
            raise ValueError(
                f"{self.name}: variable {v.name!r} (column {col}) must lie in "
                f"[{v.lower}, {v.upper}], got {worst}"
            )
        if exact and self.is_mixed:
            integral = self.kind_mask(Integer) | self.kind_mask(Categorical)
            discrete = torch.as_tensor(integral, device=xd.device)
            frac = (xd - xd.round()).abs() > 1e-6
            bad = frac & discrete
            if bool(bad.any()):
                col = int(bad.reshape(-1, self.n_var).any(dim=0).nonzero()[0, 0])
                raise ValueError(
                    f"{self.name}: variable {self.variables[col].name!r} (column {col}) "
                    "is integer/categorical and needs integral values; "
                    "use problem.decode() to map relaxed values to exact designs"
                )
            for col, v in enumerate(self.variables):
                if isinstance(v, Table):
                    table = torch.tensor(v.values, dtype=xd.dtype, device=xd.device)
                    gap = (xd[..., col, None] - table).abs().amin(-1)
                    if bool((gap > 1e-9 * (1.0 + table.abs().max())).any()):
                        raise ValueError(
                            f"{self.name}: variable {v.name!r} (column {col}) takes a value "
                            f"from its table {list(v.values)}; use problem.decode() to map "
                            "relaxed values to exact designs"
                        )

    def _split(self, out: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(F, G)`` from what ``_evaluate`` returned, as tensors like ``x``.

        Objectives may come back as a tensor, a numpy array or a nested list, in another
        floating dtype or on another device: they are converted (a tensor keeps its
        autograd graph). Anything else, or the wrong shape, is a ``TypeError`` that says
        what ``_evaluate`` must return.
        """
        # A list of two is (F, G) only where constraints are expected; else it is F's rows.
        if isinstance(out, tuple) or (isinstance(out, list) and len(out) == 2
                                      and self.n_constr > 0):
            if len(out) != 2:
                raise TypeError(self._output_contract(f"a tuple of {len(out)} items", x))
            F, G = self._as_output(out[0], x, "F"), self._as_output(out[1], x, "G")
        elif self.n_constr:
            raise TypeError(self._output_contract("F alone, without G", x))
        else:
            F, G = self._as_output(out, x, "F"), x.new_zeros((*x.shape[:-1], 0))
        lead = tuple(x.shape[:-1])
        if self.n_obj == 1 and tuple(F.shape) == lead:
            F = F[..., None]  # one objective returned without its trailing axis
        if tuple(F.shape) != (*lead, self.n_obj):
            raise TypeError(self._output_contract(f"F of shape {tuple(F.shape)}", x))
        if self.n_constr == 1 and tuple(G.shape) == lead:
            G = G[..., None]
        if tuple(G.shape) != (*lead, self.n_constr):
            raise TypeError(self._output_contract(f"G of shape {tuple(G.shape)}", x))
        return F, G

    def _as_output(self, v: Any, x: Tensor, what: str) -> Tensor:
        if isinstance(v, Tensor):
            if v.is_complex():
                raise TypeError(self._output_contract(f"{what} of dtype {v.dtype}", x))
            if v.layout != torch.strided:  # sparse (or other) layouts: dense values
                v = v.to_dense()
            return v.to(device=x.device, dtype=x.dtype)
        if isinstance(v, list | tuple) and _holds_tensor(v):
            # Rows or values as tensors (which may carry a graph): stacked, not via numpy.
            parts = [self._as_output(e, x, what) for e in v]
            if len({tuple(p.shape) for p in parts}) > 1:
                raise TypeError(self._output_contract(
                    f"{what} as a list of tensors of different shapes", x))
            return torch.stack(parts) if parts else x.new_zeros((0,))
        try:
            arr = np.asarray(v)
            if arr.dtype.kind == "c":
                raise TypeError(f"{what} of dtype {arr.dtype}")
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError, OverflowError) as exc:
            got = str(exc) if str(exc).startswith(what) else f"{what} of type {type(v).__name__}"
            if isinstance(exc, OverflowError):
                got = f"{what} holding a number beyond float range"
            raise TypeError(self._output_contract(got, x)) from None
        return torch.as_tensor(arr, dtype=x.dtype, device=x.device)

    def _output_contract(self, got: str, x: Tensor) -> str:
        lead = tuple(x.shape[:-1])
        want = f"F of shape {(*lead, self.n_obj)}"
        if self.n_constr:
            want = f"a tuple (F, G) with {want} and G of shape {(*lead, self.n_constr)}"
        return (f"{self.name}._evaluate returned {got}; for designs of shape "
                f"{tuple(x.shape)} it must return {want} (torch tensors; numpy arrays and "
                "lists are converted, but only torch operations give gradient methods "
                "their derivatives)")

    def _warn_nonfinite(self, F: Tensor) -> None:
        finite = torch.isfinite(F.detach())
        if not bool(finite.all()):
            bad = int((~finite).any(dim=-1).sum())
            warnings.warn(
                f"{self.name}: {bad} design(s) gave NaN/inf objectives; they are excluded "
                "from fronts and indicators",
                NonFiniteObjectiveWarning,
                stacklevel=3,
            )


# ---------------------------------------------------------------------- from a function
def _as_variables(
    variables: Sequence[Variable] | Mapping[str, tuple[float, float]],
) -> list[Variable]:
    if isinstance(variables, Mapping):
        out: list[Variable] = []
        for key, box in variables.items():
            if not (isinstance(box, Sequence) and len(box) == 2) or isinstance(box, str):
                raise TypeError(
                    f"variable {key!r}: a mapping of variables takes (lower, upper) pairs, "
                    f"got {box!r}; use Integer/Categorical/Table objects for other kinds"
                )
            out.append(Real(str(key), float(box[0]), float(box[1])))
        return out
    if isinstance(variables, (str, bytes)) or not isinstance(variables, Sequence):
        raise TypeError(
            "variables must be a sequence of Real/Integer/Categorical/Table or a mapping "
            f"{{name: (lower, upper)}}, got {type(variables).__name__}"
        )
    return list(variables)


def _module_attribute(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


class FunctionProblem(Problem):
    """A :class:`Problem` around a plain function; see :meth:`Problem.from_function`.

    ``name`` and ``elementwise`` are its own; the other keywords (``objective_names``,
    ``constraint_names``, ``objective_labels``) go to :class:`Problem` as they are.
    Pickles with its function, so it runs on Dask workers when the function is importable
    there (a module-level function, not a lambda).
    """

    def __init__(
        self,
        f: Callable[..., Any],
        variables: Sequence[Variable] | Mapping[str, tuple[float, float]],
        n_obj: int,
        n_constr: int = 0,
        *,
        name: str | None = None,
        elementwise: bool = False,
        **labels: Any,
    ) -> None:
        if not callable(f):
            raise TypeError(f"Problem.from_function needs a callable, got {type(f).__name__}")
        if name is None:
            own = getattr(f, "__name__", "")
            name = own if own.isidentifier() else "function"
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        for key, val in (("n_obj", n_obj), ("n_constr", n_constr)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
                raise TypeError(f"{key} must be an int, got {val!r}")
        super().__init__(_as_variables(variables), int(n_obj), int(n_constr), **labels)
        self.name = name
        self.function = f
        self.elementwise = bool(elementwise)

    def __reduce__(self) -> Any:
        # Made with the decorator, the module's attribute is this problem, not the
        # function, so pickle would not find the function by name: refer to the problem.
        module = sys.modules.get(getattr(self.function, "__module__", None) or "")
        qualname = getattr(self.function, "__qualname__", "")
        if module is not None and getattr(module, qualname, None) is self:
            return (_module_attribute, (module.__name__, qualname))
        return super().__reduce__()

    def __repr__(self) -> str:
        fn = getattr(self.function, "__qualname__", type(self.function).__name__)
        return f"{super().__repr__()[:-1]}, function={fn})"

    def _evaluate(self, x: Tensor) -> Any:
        if not self.elementwise:
            return self.function(x)
        rows = x.reshape(-1, self.n_var)
        outs = [self.function(row) for row in rows.unbind(0)]
        lead = tuple(x.shape[:-1])
        if self.n_constr:
            bad = next((o for o in outs if not (isinstance(o, (tuple, list)) and len(o) == 2)),
                       None)
            if bad is not None:
                raise TypeError(self._output_contract(
                    f"{type(bad).__name__} for one design (elementwise=True and n_constr > 0 "
                    "need (f values, g values) per design)", x))
            F = self._stack_rows([o[0] for o in outs], self.n_obj, x, "F")
            G = self._stack_rows([o[1] for o in outs], self.n_constr, x, "G")
            return F.reshape(*lead, self.n_obj), G.reshape(*lead, self.n_constr)
        return self._stack_rows(outs, self.n_obj, x, "F").reshape(*lead, self.n_obj)

    def _stack_rows(self, vals: list[Any], width: int, x: Tensor, what: str) -> Tensor:
        rows = []
        for v in vals:
            if isinstance(v, list | tuple) and any(isinstance(e, Tensor) for e in v):
                # One design's values, some as 0-d tensors (keeping their graph).
                bad = [e for e in v if isinstance(e, Tensor) and e.numel() != 1]
                if bad:
                    raise TypeError(self._output_contract(
                        f"a tensor of {bad[0].numel()} values among one design's {what} "
                        "values (elementwise=True wants one number per objective)", x))
                v = [e.reshape(()) if isinstance(e, Tensor) else e for e in v]
                if any(not isinstance(e, Tensor | int | float) or isinstance(e, bool)
                       for e in v):
                    odd = next(e for e in v if not isinstance(e, Tensor | int | float)
                               or isinstance(e, bool))
                    raise TypeError(self._output_contract(
                        f"{type(odd).__name__} among one design's {what} values", x))
            t = self._as_output(v, x, what).reshape(-1)
            if t.numel() != width:
                raise TypeError(self._output_contract(
                    f"{t.numel()} {what} value(s) for one design (elementwise=True)", x))
            rows.append(t)
        if not rows:
            return x.new_zeros((0, width))
        return torch.stack(rows)


# ---------------------------------------------------------------------- registry
from dse.registry import Registry  # noqa: E402  (kept beside the API it serves)

#: Every built-in and user problem, by name.
PROBLEMS: Registry[type[Problem]] = Registry("problem")


def register_problem(name: str, *, aliases: tuple[str, ...] = ()) -> Any:
    """Class decorator adding a problem factory to :data:`PROBLEMS` under ``name``."""
    return PROBLEMS.register(name, aliases=aliases)


#: Entry-point group through which packages register problem families (``problems``, the
#: built-in one, and any user package: ``[project.entry-points."dse.problems"]``).
PLUGIN_GROUP = "dse.problems"
_plugins_loaded = False


def _load_builtin_problems() -> None:
    # Families register themselves when imported; they are found through package metadata,
    # so the library never imports a family (which would import dse back).
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken plug-in must not hide the others
            warnings.warn(f"problem plug-in {ep.name!r} ({ep.value}) failed to load: "
                          f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)
    if not len(PROBLEMS):
        warnings.warn(
            f"no problem families found (entry-point group {PLUGIN_GROUP!r}): install the "
            "project (pip install -e .) so its built-in problems register",
            RuntimeWarning, stacklevel=3,
        )


def get_problem(name: str, **params: Any) -> Problem:
    """Build a registered problem, e.g. ``get_problem("zdt1", n_var=30)``.

    Unknown names raise a ``ValueError`` listing the valid ones; unknown parameters one
    listing the accepted parameters.
    """
    _load_builtin_problems()
    return PROBLEMS.create(name, **params)


def list_problems() -> list[str]:
    """Names of all registered problems."""
    _load_builtin_problems()
    return PROBLEMS.names()
