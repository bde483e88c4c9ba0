"""The HW/SW co-design surrogate: DNN accelerator floorplan area vs latency (and energy).

``get_problem("codesign")`` builds :class:`CodesignProblem` on the spec's baseline workload;
see ``shared/specs/codesign.md`` for the model and :mod:`problems.codesign.model` for the
formulas.
"""

# The family's hardware plot and design description register themselves with dse.
from problems.codesign import plots as _plots  # noqa: F401
from problems.codesign.layers import (
    DEFAULT_LAYERS_CSV,
    Layer,
    default_layers,
    load_layers,
    read_layers_csv,
    write_layers_csv,
)
from problems.codesign.model import CONSTANTS, DATAFLOWS, LOOP_ORDERS, Constants
from problems.codesign.problem import CodesignProblem
from problems.codesign.reference import ReferenceFront, build_reference, reference_front

__all__ = [
    "CONSTANTS",
    "DATAFLOWS",
    "DEFAULT_LAYERS_CSV",
    "LOOP_ORDERS",
    "CodesignProblem",
    "Constants",
    "Layer",
    "ReferenceFront",
    "build_reference",
    "default_layers",
    "load_layers",
    "read_layers_csv",
    "reference_front",
    "write_layers_csv",
]
