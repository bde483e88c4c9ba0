"""Built-in problem families; importing this package registers them with ``dse``.

Families: ZDT and DTLZ benchmarks, the concave Pareto-MTL problem, the HW/SW co-design
surrogate and differentiable multi-task-learning problems. Each module registers its
problems with :func:`dse.register_problem`; a module that is missing (work in progress)
is skipped so the rest still load.
"""

from __future__ import annotations

import importlib

_FAMILIES = ("problems.zdt", "problems.dtlz", "problems.pmtl", "problems.codesign",
             "problems.mtl")

for _module in _FAMILIES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # only tolerate the family module itself missing
        if exc.name != _module:
            raise
