"""Gradient weightings and aggregators for conflicting objectives (Gramian-first, batched).

A weighting maps the Gramian ``G = J J^T`` of the K task gradients (rows of ``J``) to K
weights; the update direction is ``weights @ J``. Everything is batched over leading dims
(``G (..., K, K)``, ``J (..., K, P)``), stays on the tensors' device and never calls
``.item()``; iterative solvers run a fixed number of float64 iterations.

Stateless use::

    from dse.gradient import get_weighting, aggregate, gramian, list_weightings
    w = get_weighting("cagrad", c=0.5)            # or "mgda", "upgrad", "dualproj", ...
    direction = aggregate(J, w)                   # J (..., K, P) -> (..., P)
    weights = w(gramian(J), losses=losses)        # losses only for loss-based ones

Training a model (one vmapped backward for all K task gradients)::

    from dse.gradient import mtl_backward
    opt.zero_grad()
    mtl_backward(losses, shared_params, get_weighting("upgrad"), task_params=heads)
    opt.step()

Stateful weightings (explicit state, optax style)::

    m = get_weighting("uncertainty")
    state = m.init(K, device=dev, dtype=torch.float32)
    opt = torch.optim.Adam([*model.parameters(), *m.parameters(state)])
    weights, state = m.update(state, losses=losses.detach(), G=None)
    m.loss(state, losses).backward()              # Kendall's objective; trains s too
    opt.step()

``list_weightings()`` gives every name with its kind ('stateless' / 'stateful'), parameters,
whether it needs ``G`` and/or losses and whether it scalarises. A new weighting is a
subclass registered under its ``name`` (it then works everywhere a name is taken)::

    @register_weighting(scalarising=True)
    class Softmax(Weighting):
        name, needs_gramian, needs_losses = "softmax", False, True
        def _weights(self, G, losses):
            return torch.softmax(losses, dim=-1)
"""

from dse.registry import deprecated_names

from ._base import Weighting
from ._diagnostics import conflict_rate, cosine_matrix, gradient_diagnostics, norm_ratios
from ._fair import FairGrad, NashMTL
from ._gradvac import GradVac
from ._jacobian import (
    MTLStep,
    aggregate,
    gramian,
    mtl_backward,
    param_slices,
    task_jacobian,
    write_grads,
)
from ._projection import AlignedMTL, ConFIG, DualProj
from ._qp import solve_qp
from ._registry import (
    WEIGHTINGS,
    WeightingInfo,
    get_weighting,
    list_weightings,
    register_weighting,
    scalarising_weightings,
)
from ._stateful import (
    DWA,
    GradNorm,
    LossNorm,
    StatefulWeighting,
    UncertaintyWeighting,
)
from ._weightings import (
    EPO,
    IMTLG,
    MGDA,
    CAGrad,
    Chebyshev,
    GradNormalisation,
    Linear,
    Mean,
    PCGrad,
    Random,
    UPGrad,
)

__all__ = [
    "DWA",
    "EPO",
    "IMTLG",
    "MGDA",
    "WEIGHTINGS",
    "AlignedMTL",
    "CAGrad",
    "Chebyshev",
    "ConFIG",
    "DualProj",
    "FairGrad",
    "GradNorm",
    "GradNormalisation",
    "GradVac",
    "Linear",
    "LossNorm",
    "MTLStep",
    "Mean",
    "NashMTL",
    "PCGrad",
    "Random",
    "StatefulWeighting",
    "UPGrad",
    "UncertaintyWeighting",
    "Weighting",
    "WeightingInfo",
    "aggregate",
    "conflict_rate",
    "cosine_matrix",
    "get_weighting",
    "gradient_diagnostics",
    "gramian",
    "list_weightings",
    "mtl_backward",
    "norm_ratios",
    "param_slices",
    "register_weighting",
    "scalarising_weightings",
    "solve_qp",
    "task_jacobian",
    "write_grads",
]

# Old names, served with a DeprecationWarning for one release.
__getattr__ = deprecated_names(__name__, {"GradNormalization": "GradNormalisation"})
