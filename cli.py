"""Command line of dse: sweeps, listings, comparisons, plots and the conflict advisor.

Examples::

    python cli.py sweep problem=codesign
    python cli.py sweep problem=dtlz2 problem.n_obj=3 methods=[nsga3,mgda] seeds=[0,1,2]
    python cli.py sweep problem=zdt1 solver.budget=20000 executor=dask
    python cli.py list
    python cli.py compare runs/zdt1-1a2b3c4d runs/zdt1-5e6f7a8b
    python cli.py plot runs/codesign-1a2b3c4d
    python cli.py export runs/codesign-1a2b3c4d --format parquet
    python cli.py report runs/codesign-1a2b3c4d
    python cli.py diagnose problem=pmtl_concave steps=100

This file only parses arguments, looks names up and calls the library (:mod:`dse.sweep`,
:mod:`dse.plots`, :mod:`dse.store`, :mod:`dse.advisor`); everything it does can be done
from Python the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

# Plots are files here, never windows.
os.environ.setdefault("MPLBACKEND", "Agg")


def _keys_epilog() -> str:
    from dse.config import config_help

    lines = ["configuration keys (key=value; lists as [a,b]; nested keys with dots):"]
    for key, default, text in config_help():
        shown = f" (default {default})" if default else ""
        lines.append(f"  {key:<28} {text}{shown}")
    return "\n".join(lines)


def _print_rows(title: str, rows: Sequence[tuple[str, str, str]]) -> None:
    print(title)
    for name, middle, params in rows:
        print(f"  {name:<22} {middle}")
        if params:
            print(f"  {'':<22}   {params}")


# ---------------------------------------------------------------------------- commands
def _where_plots(paths: Sequence[object]) -> str:
    """``plots: DIR (fronts, hypervolume; .png .pdf)`` for a list of plot files."""
    from pathlib import Path

    files = [Path(str(p)) for p in paths]
    folders = sorted({str(f.parent) for f in files})
    stems = list(dict.fromkeys(f.stem for f in files))
    exts = " ".join(dict.fromkeys(f.suffix for f in files))
    return f"plots: {', '.join(folders)} ({', '.join(stems)}; {exts})"


def cmd_sweep(args: argparse.Namespace) -> int:
    from dse.config import parse_overrides
    from dse.run_metrics import summary_text
    from dse.sweep import run_sweep

    overrides = list(args.overrides) + (["quiet=true"] if args.quiet else [])
    cfg = parse_overrides(overrides)
    report = run_sweep(cfg)
    print(f"run folder: {report.run_dir}")
    if not cfg.quiet:
        elsewhere = (f", left to another sweep: {report.n_elsewhere}"
                     if report.n_elsewhere else "")
        print(f"jobs run: {report.n_run}, skipped (already stored): {report.n_skipped}"
              f"{elsewhere}, failed: {len(report.failures)}, wall time "
              f"{report.wall_time:.1f} s")
        if not report.summary.empty:
            print(summary_text(report.summary))
        if report.plots:
            print(_where_plots(report.plots))
        html = report.run_dir / "report.html"
        if html.is_file():
            print(f"report: {html}")
    for key, err in report.failures:
        print(f"FAILED {key}: {err}", file=sys.stderr)
    return 1 if report.failures else 0


def cmd_list(args: argparse.Namespace) -> int:
    from dse.config import describe_methods, describe_problems, problem_defaults

    what = args.what
    if what in ("all", "problems"):
        rows = []
        for name, desc, params in describe_problems():
            d = problem_defaults(name)
            rows.append((name, desc, params + ("; " if params else "")
                         + f"default methods {list(d.methods)}, budget {d.budget}"))
        _print_rows("problems (problem=NAME, problem.<param>=value):", rows)
    if what == "all":
        print()
    if what in ("all", "methods"):
        _print_rows("methods (methods=[a,b], solver.<method>.<param>=value):",
                    describe_methods())
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from dse.plots import plot_compare
    from dse.run_metrics import summary_text
    from dse.sweep import compare_runs

    runs, summary = compare_runs(args.runs, offset=args.ref_offset)
    out = args.out
    if out:
        os.makedirs(out, exist_ok=True)
        runs.to_csv(os.path.join(out, "runs.csv"), index=False)
        summary.to_csv(os.path.join(out, "summary.csv"), index=False)
        plot_compare(args.runs, out, offset=args.ref_offset)
    if not args.quiet:
        print(summary_text(summary))
        if out:
            print(f"tables and plots in {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from dse.plots import plot_run

    paths = plot_run(args.run, offset=args.ref_offset)
    if not args.quiet:
        for p in paths:
            print(p)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dse.report import write_report

    path = write_report(args.run, offset=args.ref_offset, out=args.out)
    if not args.quiet:
        print(f"report: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dse.sweep import load_run

    with load_run(args.run) as store:
        paths = store.export(args.out or os.path.join(args.run, "export"), args.format)
    if not args.quiet:
        for p in paths:
            print(p)
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from dse.advisor import diagnose_problem
    from dse.config import parse_diagnose
    from dse.plots import save
    from dse.problem_specs import build_problem
    from dse.solvers import resolve_device

    cfg = parse_diagnose(list(args.overrides) + (["quiet=true"] if args.quiet else []))
    problem = build_problem(cfg.problem.name, **cfg.problem.params)
    report = diagnose_problem(problem, steps=cfg.steps, seed=cfg.seed,
                              device=resolve_device(cfg.device))
    print(report)
    if cfg.out:
        paths = save(report.plot_cosines(), os.path.join(cfg.out, f"cosine-{problem.name}"))
        if not cfg.quiet:
            print("\n".join(str(p) for p in paths))
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bars; print only what scripts need")
    parser = argparse.ArgumentParser(
        prog="cli.py", parents=[common],
        description="Multi-objective design-space exploration: sweeps of gradient and "
                    "evolutionary methods, stored, measured and plotted.",
        epilog="run `python cli.py sweep --help` for every configuration key, "
               "`python cli.py list` for problems, methods and their parameters",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("sweep", parents=[common], formatter_class=fmt,
                       help="run methods x seeds on a problem into a run folder",
                       description="Run every (method, seed) on a problem; finished jobs "
                                   "are stored at once and skipped on a rerun.",
                       epilog=_keys_epilog())
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("list", parents=[common],
                       help="problems, methods and their parameters")
    p.add_argument("what", nargs="?", default="all", choices=("all", "problems", "methods"))
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("compare", parents=[common],
                       help="tables and overlaid fronts of run folders")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", default=None, help="folder for tables and plots (default: none)")
    p.add_argument("--ref-offset", type=float, default=0.1,
                   help="reference point offset (default 0.1)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plot", parents=[common], help="(re)draw the plots of a run folder")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--ref-offset", type=float, default=0.1,
                   help="reference point offset (default 0.1)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", parents=[common],
                       help="one self-contained HTML report of a run folder",
                       description="Redraw the plots of a run folder and write one HTML file "
                                   "(summary table, every plot embedded, the knee of the "
                                   "front and each method's best design) that can be "
                                   "opened in a browser and shared alone.")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--out", default=None, help="file to write (default RUN/report.html)")
    p.add_argument("--ref-offset", type=float, default=0.1,
                   help="reference point offset (default 0.1)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", parents=[common],
                       help="write a run folder's database as CSV or Parquet")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--out", default=None, help="folder (default RUN/export)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("diagnose", parents=[common], formatter_class=fmt,
                       help="gradient-conflict advisor for a problem",
                       description="Watch the objectives' gradients on a problem and "
                                   "advise which family of methods fits.",
                       epilog="keys: problem=NAME, problem.<param>=v, steps=200, seed=0, "
                              "device=auto, out=FOLDER (saves the cosine plot)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=cmd_diagnose)
    return parser


def _warning_line(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: object = None, line: str | None = None) -> None:
    # A warning on the command line is a sentence for the user, not a source location.
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling a positional list at the first option, so overrides given
    # after `--quiet` come back here; they still belong to the command.
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-")
                                              for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    shown, warnings.showwarning = warnings.showwarning, _warning_line
    try:
        return int(args.func(args))
    except KeyboardInterrupt as exc:
        # Ctrl-C: one line, no traceback (a sweep's says what is stored and how to go on),
        # and the shell's status for an interrupted command.
        print(str(exc) or "interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as exc:
        # Bad names, keys, values, missing run folders and missing optional packages: one
        # clear line, no traceback (a failing job does not land here: the sweep reports it
        # and carries on).
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
