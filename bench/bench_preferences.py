"""Do user-given preferences land on their rays? Angles and hypervolume, side by side.

Twenty preferences from (0.01, 0.99) to (0.99, 0.01), without the simplex corners, as other
libraries pass them, go to EPO and Chebyshev sweeps on ZDT1 and ZDT2 (``n_var=30``) and
``pmtl_concave``; each run uses ``solve(problem, method, preferences=P, budget=b,
seed=s)`` with the method's defaults. The first twenty rows of ``Result.F`` are the designs
of those preferences, in order. Printed per problem, method and seed:

- the angle (degrees) between each design and its preference ray, in objective space
  normalised by the true front (ideal 0, nadir 1): mean and max over the twenty;
- the hypervolume ratio (to the true front) of the run's front with the user's preferences
  and with the method's own twenty Das-Dennis vectors (``n_points=20``), and the relative
  difference.

Then the goals of the gradient-route issue, each marked met or not: EPO mean angle <= 1
deg and max <= 5 deg on every problem and seed; Chebyshev's HV with the user's preferences
within 2% of its HV with its own vectors.

    python bench/bench_preferences.py [--budget 10000] [--seeds 0,1,2,3,4] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dse.indicators import hypervolume
from dse.problem import get_problem
from dse.solvers import resolve_device, solve

PROBLEMS: list[tuple[str, dict[str, int]]] = [
    ("zdt1", {"n_var": 30}), ("zdt2", {"n_var": 30}), ("pmtl_concave", {}),
]


def user_preferences(n: int = 20) -> np.ndarray:
    w = np.linspace(0.01, 0.99, n)
    return np.stack([w, 1.0 - w], axis=1)


def ray_angles(F: np.ndarray, P: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Degrees between each ``F[i]`` and the ray through ``P[i]``, normalised by ``front``."""
    ideal, nadir = front.min(0), front.max(0)
    Fn = (F - ideal) / (nadir - ideal)
    return np.degrees(np.abs(np.arctan2(Fn[:, 1], Fn[:, 0]) - np.arctan2(P[:, 1], P[:, 0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=int, default=10000)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    device = resolve_device(args.device)
    P = user_preferences()
    kw = {"budget": args.budget, "device": device}
    print(f"{len(P)} user preferences, budget {args.budget}, device={device}, seeds {seeds}")
    print(f"{'problem':13s} {'method':10s} {'seed':>4s} {'ang mean':>8s} {'ang max':>8s} "
          f"{'hv user':>8s} {'hv own':>8s} {'diff %':>7s} {'stop':>9s} {'wall s':>7s}")
    worst_angle: dict[str, tuple[float, float]] = {}
    worst_diff = -np.inf
    for name, pkw in PROBLEMS:
        problem = get_problem(name, **pkw)
        front = problem.pareto_front(5000)
        hv_true = hypervolume(front, problem.ref_point)
        for method in ("epo", "chebyshev"):
            for seed in seeds:
                t0 = time.perf_counter()
                user = solve(problem, method, preferences=P, seed=seed, **kw)
                wall = time.perf_counter() - t0
                own = solve(problem, method, n_points=len(P), seed=seed, **kw)
                ang = ray_angles(user.F[: len(P)], P, front)
                hv_user = hypervolume(user.front_F, problem.ref_point) / hv_true
                hv_own = hypervolume(own.front_F, problem.ref_point) / hv_true
                diff = 100.0 * (hv_own - hv_user) / hv_own
                print(f"{name:13s} {method:10s} {seed:4d} {ang.mean():8.3f} {ang.max():8.3f} "
                      f"{hv_user:8.4f} {hv_own:8.4f} {diff:+7.2f} {user.stop_reason:>9s} "
                      f"{wall:7.1f}", flush=True)
                if method == "epo":
                    m, x = worst_angle.get(name, (0.0, 0.0))
                    worst_angle[name] = (max(m, float(ang.mean())), max(x, float(ang.max())))
                else:
                    worst_diff = max(worst_diff, diff)
    print("\ngoals (worst over problems and seeds):")
    for name, (m, x) in worst_angle.items():
        ok = "met" if m <= 1.0 and x <= 5.0 else "NOT met"
        print(f"  EPO on {name}: mean angle {m:.3f} deg (<= 1), max {x:.3f} deg (<= 5): {ok}")
    ok = "met" if worst_diff <= 2.0 else "NOT met"
    print(f"  Chebyshev HV with user preferences within 2% of own vectors: worst "
          f"{worst_diff:+.2f}%: {ok}")


if __name__ == "__main__":
    main()
