"""Small real-world engineering and constrained test problems, written on the public API.

Modules, one job each:

* :mod:`~problems.engineering.classic` -- BNH, SRN (``integer=True``: ``x1`` an integer),
  OSY, TNK: classic constrained two-objective problems;
* :mod:`~problems.engineering.structural` -- two-bar truss, welded beam and car side impact,
  each with a ``discrete=True`` variant whose sizes come from tables of standard values;
* :mod:`~problems.engineering.mw` -- the MW suite (Ma and Wang, 2019), MW1 to MW14;
* :mod:`~problems.engineering.fronts` -- reference fronts: the shared base class, even
  thinning, and the fronts stored under ``fronts/`` (built by
  ``bench/build_engineering_fronts.py``).

Every problem minimises all objectives and returns constraints ``G <= 0`` when satisfied.
Continuous defaults equal pymoo's definitions (up to a positive scaling of some constraints,
documented per module); every problem knows its feasible Pareto front (``pareto_front``),
hence ``ideal``, ``nadir`` and ``ref_point``.
"""

from problems.engineering import classic, fronts, mw, structural

__all__ = ["classic", "fronts", "mw", "structural"]
