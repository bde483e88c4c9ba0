"""The naming pass of issue 13: every old name still answers, with one DeprecationWarning
that points at the caller and names the new spelling, and gives the very same object or
result as the new name; the MTL task protocol that ``dse.train`` is written against."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import torch

import dse
import dse.gradient
import dse.indicators
import dse.pareto
from dse.mtl_task import MTLTaskProtocol, MultiTaskModel
from dse.registry import deprecated_names, renamed_keywords


def _one_warning(rec: pytest.WarningsRecorder, new: str) -> None:
    deprecations = [w for w in rec if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in deprecations]
    assert new in str(deprecations[0].message)
    assert deprecations[0].filename == __file__  # points at the caller's line


@pytest.mark.parametrize(("module", "old", "new"), [
    (dse, "normalize", "normalise"),
    (dse.indicators, "normalize", "normalise"),
    (dse, "pareto_front", "nondominated_front"),
    (dse.pareto, "pareto_front", "nondominated_front"),
    (dse.gradient, "GradNormalization", "GradNormalisation"),
])
def test_old_attribute_warns_once_and_is_the_new_object(module, old, new) -> None:
    with pytest.warns(DeprecationWarning) as rec:
        obj = getattr(module, old)
    _one_warning(rec, new)
    assert obj is getattr(module, new)
    assert old not in module.__all__ and new in module.__all__


def test_from_import_of_an_old_name_warns_once() -> None:
    # The import system probes a package with hasattr before the import itself reads the
    # name: still one warning.
    with pytest.warns(DeprecationWarning) as rec:
        from dse import pareto_front
    _one_warning(rec, "nondominated_front")
    with pytest.warns(DeprecationWarning) as rec:
        from dse.gradient import GradNormalization
    _one_warning(rec, "GradNormalisation")
    assert pareto_front is dse.nondominated_front
    assert GradNormalization is dse.gradient.GradNormalisation


def test_new_names_and_star_import_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        namespace: dict[str, object] = {}
        exec("from dse import *; from dse.gradient import *", namespace)
        assert "normalise" in namespace and "normalize" not in namespace
        assert dse.solve is not None  # the lazy loader behind the aliases still works
        F = np.array([[0.0, 2.0], [1.0, 1.0], [2.0, 2.0]])
        assert dse.nondominated_front(F).shape == (2, 2)
    with pytest.raises(AttributeError, match="no attribute 'normalise_me'"):
        dse.normalise_me  # noqa: B018


def test_old_registry_spelling_is_an_alias() -> None:
    # Configs written with the old name keep working, silently: a registry alias.
    from dse.gradient import WEIGHTINGS, get_weighting

    assert WEIGHTINGS.canonical("grad_normalization") == "grad_normalisation"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        w = get_weighting("grad_normalization")
    assert type(w) is dse.gradient.GradNormalisation and w.name == "grad_normalisation"
    G = torch.tensor([[4.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert torch.equal(w(G), get_weighting("grad_normalisation")(G))


def test_plot_fronts_old_keyword() -> None:
    import matplotlib.pyplot as plt

    from dse.plots import plot_fronts

    rng = np.random.default_rng(0)
    fronts, ref = {"a": rng.random((5, 2))}, rng.random((9, 2))
    with pytest.warns(DeprecationWarning) as rec:
        old = plot_fronts(fronts, ref_front=ref)
    _one_warning(rec, "reference_front=")
    new = plot_fronts(fronts, reference_front=ref)
    lines = [[ln.get_xydata().tolist() for ln in fig.axes[0].lines] for fig in (old, new)]
    assert lines[0] == lines[1]  # the same figure
    assert any(len(xy) == len(ref) for xy in lines[0])  # the reference front is in it
    with pytest.raises(TypeError, match="reference_front"):
        plot_fronts(fronts, ref_front=ref, reference_front=ref)
    plt.close("all")


@pytest.fixture(scope="module")
def tiny_task():
    from problems.mtl import gradnorm_regression

    return gradnorm_regression(2, n_in=6, n_out=3, width=8, depth=2, n_train=32, n_val=8,
                               n_test=8, batch_size=16)


def test_train_method_keyword_is_weighting(tiny_task) -> None:
    from dse.train import train

    kw = {"steps": 3, "lr": 1e-2, "progress": False, "eval_splits": ()}
    with pytest.warns(DeprecationWarning) as rec:
        old = train(tiny_task, method="cagrad", **kw)
    _one_warning(rec, "weighting=")
    new = train(tiny_task, weighting="cagrad", **kw)
    assert old.method == new.method == "cagrad"
    assert old.history.equals(new.history)
    with pytest.raises(TypeError, match="weighting"):
        train(tiny_task, method="mean", weighting="mean", **kw)


def test_descend_method_keyword_is_weighting() -> None:
    from dse.problem_specs import build_problem
    from dse.train import descend

    p = build_problem("cagrad_toy")
    with pytest.warns(DeprecationWarning) as rec:
        old = descend(p, method="mgda", x0=p.starts[:1], steps=5)
    _one_warning(rec, "weighting=")
    new = descend(p, weighting="mgda", x0=p.starts[:1], steps=5)
    np.testing.assert_array_equal(old.X, new.X)


def test_method_params_keyword_is_weighting_params(tiny_task) -> None:
    from dse.problem_specs import build_problem
    from dse.train import descend, resolve_method, train

    kw = {"steps": 3, "lr": 1e-2, "progress": False, "eval_splits": ()}
    with pytest.warns(DeprecationWarning) as rec:
        old = train(tiny_task, "cagrad", method_params={"c": 0.2}, **kw)
    _one_warning(rec, "weighting_params=")
    new = train(tiny_task, "cagrad", weighting_params={"c": 0.2}, **kw)
    assert old.history.equals(new.history)
    assert old.config["weighting_params"] == new.config["weighting_params"] == {"c": 0.2}
    other = train(tiny_task, "cagrad", weighting_params={"c": 0.9}, **kw)
    assert not other.history.equals(new.history)  # the parameters reach the weighting
    with pytest.raises(TypeError, match="weighting_params"):
        train(tiny_task, "cagrad", method_params={"c": 0.2}, weighting_params={"c": 0.2}, **kw)

    p = build_problem("cagrad_toy")
    with pytest.warns(DeprecationWarning) as rec:
        old_x = descend(p, "cagrad", p.starts[:1], method_params={"c": 0.2}, steps=5)
    _one_warning(rec, "weighting_params=")
    new_x = descend(p, "cagrad", p.starts[:1], weighting_params={"c": 0.2}, steps=5)
    np.testing.assert_array_equal(old_x.X, new_x.X)
    with pytest.warns(DeprecationWarning) as rec:
        w = resolve_method("cagrad", method_params={"c": 0.2})
    _one_warning(rec, "weighting_params=")
    G = torch.tensor([[4.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    assert torch.equal(w(G), resolve_method("cagrad", {"c": 0.2})(G))


def test_helpers_on_their_own() -> None:
    @renamed_keywords(old="new")
    def f(*, new: int = 0) -> int:
        return new

    assert f(new=2) == 2 and f.__name__ == "f"
    with pytest.warns(DeprecationWarning, match=r"f\(old=\.\.\.\) is deprecated"):
        assert f(old=3) == 3
    getter = deprecated_names(__name__, {"_old_helper": "_one_warning"})
    with pytest.warns(DeprecationWarning):
        assert getter("_old_helper") is _one_warning
    with pytest.raises(AttributeError):
        getter("absent")


def test_mtl_task_satisfies_the_protocol_and_train_takes_any_task(tiny_task) -> None:
    from dse.train import train
    from problems.mtl import MTLTask
    from problems.mtl.base import MTLTask as BaseTask

    assert MTLTask is BaseTask and MTLTaskProtocol in MTLTask.__mro__  # declared
    assert isinstance(tiny_task, MTLTaskProtocol)
    assert isinstance(tiny_task.make_model(0), MultiTaskModel)
    assert not isinstance(object(), MTLTaskProtocol)

    class Wrapped:
        """A task of another package: plain attributes, no dataclass, no subclassing."""

        def __init__(self, inner: MTLTask) -> None:
            for k in ("name", "task_names", "data", "metric_name", "higher_is_better",
                      "batch_size", "steps", "lr"):
                setattr(self, k, getattr(inner, k))
            self._inner = inner

        @property
        def n_tasks(self) -> int:
            return len(self.task_names)

        def make_model(self, seed: int):
            return self._inner.make_model(seed)

        def losses(self, outputs, Y):
            return self._inner.losses(outputs, Y)

        def metrics(self, outputs, Y):
            return self._inner.metrics(outputs, Y)

        def split(self, name: str):
            return self._inner.split(name)

    other = Wrapped(tiny_task)
    assert isinstance(other, MTLTaskProtocol)
    kw = {"steps": 3, "lr": 1e-2, "progress": False}
    a, b = train(tiny_task, "mgda", **kw), train(other, "mgda", **kw)
    assert a.history.equals(b.history) and a.metrics == b.metrics


@pytest.mark.parametrize(("module", "old", "new"), [
    ("dse.run_metrics", "summarize", "summarise"),
    ("dse.sweep", "summarize", "summarise"),
    ("dse.mtl_table", "summarize_methods", "summarise_methods"),
])
def test_summarize_spellings_still_work(module: str, old: str, new: str) -> None:
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=new):
        got = getattr(mod, old)
    assert got is getattr(mod, new)


def test_gradient_engine_old_name_still_works() -> None:
    # ``run_sweep`` named both the job runner (dse.sweep) and the gradient engine.
    from dse.solvers import _gradient
    with pytest.warns(DeprecationWarning, match="run_gradient_sweep"):
        got = _gradient.run_sweep
    assert got is _gradient.run_gradient_sweep
