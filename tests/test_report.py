"""The HTML report of a run folder: one self-contained file (every image embedded and
decodable), the summary table, the knee and each method's best design, co-design's hardware
and schedule; written by `cli.py report RUN` and at the end of a sweep with plots.

No headless browser is installed where these tests were written; the file is checked by
parsing it (html.parser), and its images by decoding them (PNG signature, size, matplotlib
reads them back)."""

from __future__ import annotations

import base64
import io
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from dse.report import write_report
from dse.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cli  # noqa: E402


class _Page(HTMLParser):
    """Images, tables (as lists of rows of cell texts), headings and external links."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.external: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("href", "src"):
            v = a.get(key) or ""
            if v.startswith(("http:", "https:", "//")) or (tag in ("link", "script")
                                                            and v):
                self.external.append(v)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3", "h4"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._heading):
            if part is not None:
                part.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _check_images(page: _Page, at_least: int) -> None:
    assert len(page.images) >= at_least
    for src in page.images:
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64"
        raw = base64.b64decode(data, validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 1000
        img = mpimg.imread(io.BytesIO(raw), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 100


@pytest.fixture(scope="module")
def codesign_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "cd"
    run_sweep(["problem=codesign", "methods=[nsga2,chebyshev,random]", "solver.budget=300",
               "solver.nsga2.pop_size=20", "solver.random.batch_size=50", f"out={out}",
               "quiet=true"])
    return out


def test_sweep_writes_a_self_contained_report(codesign_run: Path) -> None:
    path = codesign_run / "report.html"
    assert path.is_file()
    page = _parse(path)
    assert page.external == []  # nothing to fetch: the file can be shared alone
    _check_images(page, 3)  # fronts, hypervolume, hardware
    summary = next(t for t in page.tables if t and "HV ratio" in t[0])
    methods = {row[0] for row in summary[1:]}
    assert methods == {"nsga2", "chebyshev", "random"}
    assert any(h.startswith("The knee design") for h in page.headings)
    assert {"hardware", "cost", "schedule"} <= set(page.headings)
    schedule = next(t for t in page.tables if t and "dataflow" in t[0])
    assert len(schedule) == 1 + 10  # the baseline workload's ten layers
    hardware = next(t for t in page.tables if t and any("PE array" in r[0] for r in t[1:]))
    assert any("PEs" in r[1] for r in hardware[1:])
    best = next(t for t in page.tables if t and t[0][:2] == ["method", "seed"])
    assert {row[0] for row in best[1:]} <= methods and len(best) > 1
    text = path.read_text(encoding="utf-8")
    assert "area [mm^2]" in text and "Suggested design" in text


def test_cli_report_redraws_and_rewrites(codesign_run: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "shared.html"
    assert cli.main(["report", str(codesign_run), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out}"
    _check_images(_parse(out), 3)
    assert cli.main(["report", str(tmp_path / "nope")]) == 2
    assert "error:" in capsys.readouterr().err


def test_report_of_a_problem_without_design_description(tmp_path: Path) -> None:
    out = tmp_path / "z"
    run_sweep(["problem=zdt1", "problem.n_var=6", "methods=[nsga2,weighted_sum]",
               "solver.budget=300", "solver.nsga2.pop_size=20",
               "solver.weighted_sum.n_points=10", f"out={out}", "quiet=true",
               "plots=false"])
    assert not (out / "report.html").exists()  # plots=false: no report either
    path = write_report(out)
    page = _parse(path)
    _check_images(page, 2)
    consider = next(t for t in page.tables if t and t[0][:2] == ["design", "found by"])
    assert consider[1][0] == "knee of the combined front"
    assert [r[0] for r in consider[2:]] == ["lowest f1", "lowest f2"]
