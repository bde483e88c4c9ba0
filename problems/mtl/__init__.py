"""Differentiable multi-task-learning problems (see the MTL spec).

Importing this package registers three objective-vector problems:

* ``"cagrad_toy"``: the two-objective toy of the CAGrad paper (``variant="original"`` or
  ``"scaled"``), ``x in [-10, 10]^2``;
* ``"gradnorm_regression"``: task MSEs of the GradNorm synthetic regression over the
  flattened model parameters;
* ``"multidigits"``: task cross-entropies of a two-digit classifier over its flattened
  parameters.

The model-based setups are also available as :class:`MTLTask` objects
(:func:`gradnorm_regression`, :func:`multidigits`) for :func:`dse.train.train`.
"""

from problems.mtl.base import ModelLossProblem, MTLTask, MultiTaskNet
from problems.mtl.cagrad_toy import CAGRAD_TOY_STARTS, CAGradToy, cagrad_toy_losses
from problems.mtl.gradnorm_regression import (
    GradNormRegression,
    default_sigmas,
    gradnorm_regression,
)
from problems.mtl.multidigits import MultiDigits, make_multidigits, multidigits

__all__ = [
    "CAGRAD_TOY_STARTS",
    "CAGradToy",
    "GradNormRegression",
    "MTLTask",
    "ModelLossProblem",
    "MultiDigits",
    "MultiTaskNet",
    "cagrad_toy_losses",
    "default_sigmas",
    "gradnorm_regression",
    "make_multidigits",
    "multidigits",
]
