"""Built-in problem families; importing this package registers them with ``dse``.

Families: ZDT and DTLZ benchmarks, the concave Pareto-MTL problem, the HW/SW co-design
surrogate and differentiable multi-task-learning problems. Each module registers its
problems with :func:`dse.register_problem`.
"""

from problems import codesign, dtlz, engineering, mtl, pmtl, zdt

__all__ = ["codesign", "dtlz", "engineering", "mtl", "pmtl", "zdt"]
