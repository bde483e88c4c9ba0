"""User problems defined in a module of their own, as a user would (imported by tests)."""

from __future__ import annotations

import torch

from dse.problem import Problem, Real


class Shifted(Problem):
    """f = (a, (1 - a)^2 + shift * b): a problem class with a constructor parameter."""

    name = "shifted"

    def __init__(self, shift: float = 1.0) -> None:
        super().__init__([Real("a", 0.0, 1.0), Real("b", 0.0, 1.0)], n_obj=2)
        self.shift = shift

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[..., 0], (1 - x[..., 0]) ** 2 + self.shift * x[..., 1]], -1)


def make_shifted(shift: float = 2.0) -> Problem:
    """A factory function."""
    return Shifted(shift)


@Problem.from_function(variables={"a": (0.0, 1.0), "b": (0.0, 1.0)}, n_obj=2)
def decorated(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[..., 0], 1.0 - x[..., 0] + x[..., 1] ** 2], -1)


def not_a_problem() -> int:
    return 3


NUMBER = 3
