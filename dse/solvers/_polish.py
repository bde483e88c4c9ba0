"""Exact neighbourhood polish of decoded designs: one batched local-search step.

A gradient sweep on a mixed problem optimises a relaxation; rounding its optimum is rarely
the best exact design nearby (a tile one step larger may still fit the buffer, another
dataflow may suit the rounded array better). A polish step evaluates, exactly and in one
batch, every design one discrete move away from each row's design:

- an integer variable one unit up or down, a table variable one entry up or down;
- a categorical variable set to each of its other choices;

repairs them with the problem's own :meth:`~dse.problem.Problem.repair`, and moves each row
to its best neighbour when that improves the row's own scalar value. Real variables are
left to the gradient. Every neighbour evaluated is counted by the caller and feeds the
run's archive: neighbours of near-optimal designs are themselves good trade-offs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dse.problem import Categorical, Integer, Problem, Table

__all__ = ["combine", "neighbours"]


def _moves(problem: Problem, X: Tensor) -> list[tuple[int, Tensor]]:
    """``(column, new values (n,))`` for every single-variable move of the rows of ``X``."""
    moves: list[tuple[int, Tensor]] = []
    for i, v in enumerate(problem.variables):
        col = X[:, i]
        if isinstance(v, Integer):
            moves += [(i, col - 1), (i, col + 1)]
        elif isinstance(v, Table):
            table = torch.tensor(v.values, dtype=X.dtype, device=X.device)
            idx = (col[:, None] - table).abs().argmin(-1)
            for step in (-1, 1):
                j = (idx + step).clamp(0, len(v.values) - 1)
                moves.append((i, torch.where(j == idx + step, table[j], col)))
        elif isinstance(v, Categorical):
            moves += [
                (i, torch.full_like(col, float(c)))
                for c in range(len(v.choices))
            ]
    return moves


def neighbours(
    problem: Problem,
    X: Tensor,
    *,
    limit: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Every repaired design one discrete move away from each row of ``X``.

    Parameters
    ----------
    problem
        The problem (its variables say which moves exist; its repair is applied).
    X
        Exact designs ``(n, n_var)``.
    limit
        At most this many neighbours per row, drawn at random (``generator``) when a row
        has more; ``None`` keeps them all.

    Returns
    -------
    ``(Y, owner, var)``: neighbours ``(m, n_var)``, the row of ``X`` each belongs to and
    the variable its move changed (both ``(m,)``, rows in ascending order). Moves that
    leave the bounds, and neighbours that repair back to their own row's design, are
    dropped; duplicates within a row are kept once.
    """
    n = X.shape[0]
    moves = _moves(problem, X)
    if not moves:
        empty = torch.zeros(0, dtype=torch.long, device=X.device)
        return X.new_zeros((0, X.shape[1])), empty, empty
    # All moves at once, (M, n): one host sync (the nonzero below) instead of several per
    # move, which on a GPU drained the queue hundreds of times per polish.
    cols = [i for i, _ in moves]
    V = torch.stack([values for _, values in moves])
    bounds = torch.tensor(
        [(problem.variables[i].lower, problem.variables[i].upper) for i in cols],
        dtype=X.dtype,
    ).to(X.device, non_blocking=True)
    col_t = torch.tensor(cols, dtype=torch.long).to(X.device, non_blocking=True)
    ok = (V >= bounds[:, :1]) & (V <= bounds[:, 1:]) & (V != X.T[col_t])
    # nonzero orders by move, then row: the order in which moves were listed.
    move, owner = ok.nonzero(as_tuple=True)
    var = col_t[move]
    Y = X[owner].clone()
    Y[torch.arange(len(owner), device=X.device), var] = V[move, owner]
    if not len(owner):
        return Y, owner, var
    Y = problem.repair(Y)
    keep = (Y != X[owner]).any(-1)
    Y, owner, var = Y[keep], owner[keep], var[keep]
    # One copy of each (owner, design): repair can map several moves to the same design.
    key = torch.cat([owner[:, None].to(Y.dtype), Y], dim=1)
    _, first = _unique_rows(key)
    Y, owner, var = Y[first], owner[first], var[first]
    if limit is not None and len(owner):
        keep = _subsample(owner, n, limit, generator)
        Y, owner, var = Y[keep], owner[keep], var[keep]
    order = torch.argsort(owner, stable=True)
    return Y[order], owner[order], var[order]


def combine(problem: Problem, X: Tensor, Y: Tensor, owner: Tensor, var: Tensor,
            gain: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's design with all its improving moves at once, one per variable.

    ``gain`` ``(m,)`` is how much each neighbour improves its row (``<= 0``: not at all).
    For every row, the best improving move of each variable is applied together (then
    repaired). Where the problem is separable in those variables (a schedule per layer)
    this takes in one evaluation the steps a one-move-at-a-time search takes one by one;
    the caller keeps it only if it beats the best single move. Returns ``(Xc, rows)``
    for the rows with at least two improving moves.
    """
    good = gain > 0
    if not bool(good.any()):
        return X[:0], owner[:0]
    o, v, g, y = owner[good], var[good], gain[good], Y[good]
    # Best move per (row, variable): sort by gain, keep the first of each pair.
    order = torch.argsort(-g, stable=True)
    o, v, y = o[order], v[order], y[order]
    key = o * X.shape[1] + v
    _, first = _unique_rows(key[:, None])
    o, v, y = o[first], v[first], y[first]
    counts = torch.bincount(o, minlength=X.shape[0])
    rows = torch.nonzero(counts >= 2).flatten()
    if not len(rows):
        return X[:0], rows
    Xc = X.clone()
    Xc[o, v] = y[torch.arange(len(o), device=X.device), v]
    return problem.repair(Xc[rows]), rows


def _unique_rows(A: Tensor) -> tuple[Tensor, Tensor]:
    """Unique rows of ``A`` and the index of the first occurrence of each."""
    uniq, inverse = torch.unique(A, dim=0, return_inverse=True)
    first = torch.full((len(uniq),), len(A), dtype=torch.long, device=A.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(A), device=A.device), reduce="amin")
    return uniq, torch.sort(first).values


def _subsample(
    owner: Tensor, n: int, limit: int, generator: torch.Generator | None
) -> Tensor:
    """Indices of at most ``limit`` neighbours per owner, chosen uniformly at random."""
    key = torch.rand(len(owner), generator=generator, dtype=torch.float64).to(owner.device)
    # Sort by (owner, random key): each owner's neighbours in random order, then keep the
    # first ``limit`` of each owner.
    order = torch.argsort(owner.to(torch.float64) * 2.0 + key, stable=True)
    owner_sorted = owner[order]
    start = torch.searchsorted(owner_sorted, torch.arange(n, device=owner.device))
    rank = torch.arange(len(owner), device=owner.device) - start[owner_sorted]
    return order[rank < limit]
