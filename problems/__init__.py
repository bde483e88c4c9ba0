"""Built-in problem families; importing this package registers them with ``dse``.

Families: ZDT and DTLZ benchmarks, the concave Pareto-MTL problem, the HW/SW co-design
surrogate and differentiable multi-task-learning problems. Each module registers its
problems with :func:`dse.register_problem`.

Every module and subpackage here is imported (except those whose name starts with ``_``), so
a new family is one new file, ``problems/<family>.py``, and its tests.
"""

import importlib
import pkgutil

__all__ = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))

for _name in __all__:
    importlib.import_module(f"{__name__}.{_name}")
