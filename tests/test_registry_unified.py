"""One registry mechanism for problems, solvers and weightings (dse.registry.Registry).

Checks the registry itself on a private table (aliases, metadata, queries, removal), that
every kind lives in it with its metadata, that the scalarising weightings are a query of
it, that one function words every "unknown parameter" error, and that an evolutionary
algorithm is added through one table entry.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import dse
import problems
from dse.config import ConfigError, parse_overrides
from dse.gradient import (
    WEIGHTINGS,
    Weighting,
    get_weighting,
    list_weightings,
    register_weighting,
    scalarising_weightings,
)
from dse.problem import PROBLEMS, Problem, Real
from dse.registry import Registry, UnknownNameError, reject_unknown
from dse.solvers import SOLVERS, list_solvers, solve, solver_parameters
from dse.solvers import _evolutionary as evo
from dse.solvers._api import KINDS

dse.list_problems()  # the built-in families register on first use


# ---------------------------------------------------------------------- the Registry
def _factory(a: int = 1, b: str = "x") -> tuple[int, str]:
    """A factory with two parameters."""
    return a, b


def _fresh() -> Registry[Any]:
    reg: Registry[Any] = Registry("thing")
    reg.register("Alpha-One", _factory, aliases=("A1", "first"), colour="red", size=2)
    reg.register("beta", lambda: "b", description="The second.", colour="blue")
    return reg


def test_names_and_aliases_resolve_whatever_the_spelling() -> None:
    reg = _fresh()
    for spelling in ("alpha_one", "ALPHA-ONE", " Alpha_One ", "a1", "First"):
        assert spelling in reg and reg.canonical(spelling) == "alpha_one"
    e = reg.entry("a1")
    assert (e.name, e.aliases, e.description) == ("alpha_one", ("a1", "first"),
                                                  "A factory with two parameters.")
    assert reg.names() == ["alpha_one", "beta"] == list(reg) and len(reg) == 2
    assert reg.names(aliases=True) == ["a1", "alpha_one", "beta", "first"]
    assert 3 not in reg and "gamma" not in reg


def test_a_failed_lookup_lists_names_and_aliases() -> None:
    reg = _fresh()
    with pytest.raises(UnknownNameError, match="unknown thing 'gamma'; valid names: "
                                               "a1, alpha_one, beta, first"):
        reg.get("gamma")
    with pytest.raises(TypeError, match="thing name must be a str, got int"):
        reg.canonical(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name,aliases", [("alpha_one", ()), ("gamma", ("Alpha-One",)),
                                          ("first", ())])
def test_a_taken_name_or_alias_is_refused(name: str, aliases: tuple[str, ...]) -> None:
    reg = _fresh()
    with pytest.raises(ValueError, match="already registered"):
        reg.register(name, _factory, aliases=aliases)
    assert reg.names() == ["alpha_one", "beta"]  # nothing half-registered


def test_metadata_is_read_only_and_queried() -> None:
    reg = _fresh()
    assert dict(reg.entry("alpha_one").meta) == {"colour": "red", "size": 2}
    with pytest.raises(TypeError):
        reg.entry("alpha_one").meta["colour"] = "green"  # type: ignore[index]
    assert reg.where(colour="blue") == ["beta"]
    assert reg.where(colour="red", size=2) == ["alpha_one"]
    assert reg.where(size=2, colour="blue") == []
    assert reg.where() == reg.names()
    assert reg.where(size=None) == []  # a missing key never matches, not even None


def test_parameters_come_from_the_metadata_or_the_signature() -> None:
    reg = _fresh()
    assert reg.parameters("a1") == {"a": 1, "b": "x"}
    assert reg.create("first", a=5) == (5, "x")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) c for thing 'alpha_one'; "
                                         "accepted: a, b"):
        reg.create("alpha_one", c=1)
    reg.register("gamma", lambda **kw: kw, parameters={"p": 0})
    own = reg.parameters("gamma")
    own["p"] = 99  # a copy
    assert reg.parameters("gamma") == {"p": 0} and reg.create("gamma", p=3) == {"p": 3}
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) q for thing 'gamma'"):
        reg.create("gamma", q=1)  # the registered parameters, not the open signature


def test_remove_takes_the_aliases_too() -> None:
    reg = _fresh()
    assert reg.remove("FIRST") is _factory
    assert reg.names(aliases=True) == ["beta"]
    reg.register("a1", _factory)  # the freed alias is a name again
    assert reg.canonical("a1") == "a1"


def test_register_works_as_a_decorator() -> None:
    reg: Registry[Any] = Registry("thing")

    @reg.register("deco", aliases=("d",), flag=True)
    def made() -> str:
        """Made by a decorator."""
        return "made"

    assert made() == "made" and reg.get("d") is made and reg.where(flag=True) == ["deco"]


# ---------------------------------------------------------------------- every kind in it
@pytest.mark.parametrize("registry,kind", [(PROBLEMS, "problem"), (SOLVERS, "solver"),
                                           (WEIGHTINGS, "weighting")])
def test_every_kind_lives_in_one_registry_class(registry: Registry[Any], kind: str) -> None:
    assert type(registry) is Registry and registry.kind == kind and len(registry)
    for e in registry.entries():
        assert e.description, e.name
        assert registry.get(e.name) is e.obj
        for alias in e.aliases:
            assert registry.canonical(alias) == e.name


def test_solver_entries_carry_kind_and_parameters() -> None:
    for e in SOLVERS.entries():
        assert e.meta["kind"] in KINDS
        assert dict(e.meta["parameters"]) == solver_parameters(e.name)
    listed = {d["name"]: d for d in list_solvers()}
    assert listed.keys() == set(SOLVERS.names())
    assert {n for n, d in listed.items() if d["kind"] == "gradient"} == set(
        SOLVERS.where(kind="gradient"))


def test_weighting_entries_carry_kind_needs_and_parameters() -> None:
    infos = {i.name: i for i in list_weightings()}
    assert infos.keys() == set(WEIGHTINGS.names())
    for e in WEIGHTINGS.entries():
        cls, info = e.obj, infos[e.name]
        assert (e.meta["kind"], e.meta["needs_gramian"], e.meta["needs_losses"]) == (
            cls.kind, cls.needs_gramian, cls.needs_losses)
        assert info.params == dict(e.meta["parameters"]) and info.aliases == e.aliases
    # The aliases the gradient registry used to keep in a table of its own.
    for alias, name in [("weighted_sum", "linear"), ("gradnorm_unit", "grad_normalisation"),
                        ("imtlg", "imtl_g"), ("kendall", "uncertainty")]:
        assert WEIGHTINGS.canonical(alias) == name
    assert get_weighting("Kendall").name == "uncertainty"


def test_scalarising_weightings_are_a_query_of_the_registry() -> None:
    expected = ["chebyshev", "dwa", "gradnorm", "linear", "loss_norm", "mean", "random",
                "uncertainty"]
    assert scalarising_weightings() == expected
    assert [i.name for i in list_weightings() if i.scalarising] == expected
    assert WEIGHTINGS.where(scalarising=True) == expected


class _SoftmaxLoss(Weighting):
    """Weights softmax(losses): a test weighting."""

    name = "test_softmax_loss"
    needs_gramian = False
    needs_losses = True

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__(temperature=float(temperature))

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert losses is not None
        return torch.softmax(losses / self.params["temperature"], dim=-1)


@pytest.fixture
def softmax_registered() -> Iterator[None]:
    register_weighting(_SoftmaxLoss, aliases=("test_softmax",), scalarising=True)
    try:
        yield
    finally:
        WEIGHTINGS.remove(_SoftmaxLoss.name)


@pytest.mark.usefixtures("softmax_registered")
def test_a_registered_weighting_is_found_everywhere() -> None:
    w = get_weighting("test-softmax", temperature=2.0)
    losses = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(w(None, losses=losses).sum(-1), torch.ones(2, dtype=torch.float64))
    assert "test_softmax_loss" in scalarising_weightings()
    info = next(i for i in list_weightings() if i.name == "test_softmax_loss")
    assert info.params == {"temperature": 1.0} and info.scalarising and info.needs_losses
    with pytest.raises(ValueError, match="already registered"):
        register_weighting(_SoftmaxLoss)


def test_register_weighting_refuses_what_is_not_a_weighting() -> None:
    with pytest.raises(TypeError, match="Weighting or StatefulWeighting subclass"):
        register_weighting(int)

    class Nameless(Weighting):
        """No name."""

    with pytest.raises(ValueError, match="Nameless has no name"):
        register_weighting(Nameless)


# ---------------------------------------------------------------------- unknown parameters
def test_reject_unknown_names_the_keys_and_lists_the_valid_ones() -> None:
    reject_unknown({"b": 1}, ["b", "a"], "for x")  # all known: no error
    reject_unknown([], [], "for x")
    with pytest.raises(ValueError) as info:
        reject_unknown({"z": 1, "c": 2, "b": 3}, ["b", "a"], "for solver 'x'")
    # Unknown keys sorted; valid ones in the order given.
    assert str(info.value) == "unknown parameter(s) c, z for solver 'x'; accepted: b, a"
    with pytest.raises(ConfigError, match=r"^unknown parameters k of m; valid: \(none\)$"):
        reject_unknown(["k"], [], "of m", noun="parameters", label="valid", error=ConfigError)


_ONE_FORM = re.compile(r"^unknown parameters?(\(s\))? bogus (for|of) (solver|problem|weighting"
                       r"|method) '(\w+)'; (accepted|valid): (\w+(, \w+)*)$")


@pytest.mark.parametrize("route,valid", [
    (lambda: solve("zdt1", "nsga2", bogus=1), "eta_c, eta_m, pop_size"),
    (lambda: dse.get_problem("zdt1", bogus=1), "n_var"),
    (lambda: get_weighting("mgda", bogus=1), "iters"),
    (lambda: parse_overrides(["problem=zdt1", "problem.bogus=1"]), "n_var"),
    (lambda: parse_overrides(["problem=zdt1", "methods=[nsga2]", "solver.nsga2.bogus=1",
                              "solver.nsga2.budget=200"]), "eta_c, eta_m, pop_size"),
], ids=["solve", "get_problem", "get_weighting", "config_problem", "config_method"])
def test_every_route_words_unknown_parameters_alike(route: Any, valid: str) -> None:
    with pytest.raises(ValueError) as info:
        route()
    match = _ONE_FORM.match(str(info.value))
    assert match, str(info.value)
    assert match.group(6) == valid


# ---------------------------------------------------------------------- evolutionary table
def test_every_algorithm_of_the_table_is_an_evolutionary_solver() -> None:
    evolutionary = {d["name"]: d for d in list_solvers("evolutionary")}
    assert set(evo.ALGORITHMS) == set(evolutionary) - {"random"}
    for name, algorithm in evo.ALGORITHMS.items():
        d = evolutionary[name]
        assert d["description"] == algorithm.description
        assert d["parameters"] == {"pop_size": 100, "eta_c": None, "eta_m": None,
                                   **algorithm.defaults}


class _Box(Problem):
    """Two objectives on [0, 1]^2 with one constraint, x0 + x1 >= 0.5."""

    name = "test_box"

    def __init__(self) -> None:
        super().__init__([Real("x0", 0.0, 1.0), Real("x1", 0.0, 1.0)], n_obj=2, n_constr=1)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        F = torch.stack([x[..., 0], (1 - x[..., 0]) ** 2 + x[..., 1]], -1)
        return F, (0.5 - x[..., 0] - x[..., 1])[..., None]


@pytest.fixture
def spea2_entry(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """pymoo's SPEA2 added as one table entry (with a parameter of its own and no
    constraint handling), registered as the module registers its table."""
    seen: list[dict[str, Any]] = []

    def build(problem: Problem, pop_size: int, params: dict[str, Any],
              ops: dict[str, Any]) -> tuple[Any, int]:
        from pymoo.algorithms.moo.spea2 import SPEA2

        seen.append(dict(params))
        return SPEA2(pop_size=pop_size, **ops), pop_size

    monkeypatch.setitem(evo.ALGORITHMS, "test_spea2", evo.Algorithm(
        build, "SPEA2 (test entry).", defaults={"note": 1}, constraints=False))
    evo._register("test_spea2")
    try:
        yield seen
    finally:
        SOLVERS.remove("test_spea2")


def test_an_algorithm_added_to_the_table_is_a_solver(spea2_entry: list[dict[str, Any]]) -> None:
    listed = {d["name"]: d for d in list_solvers("evolutionary")}["test_spea2"]
    assert listed["description"] == "SPEA2 (test entry)."
    assert listed["parameters"] == {"pop_size": 100, "eta_c": None, "eta_m": None, "note": 1}
    p = _Box()
    res = solve(p, "test_spea2", budget=200, seed=0, pop_size=20, note=2)
    assert res.method == "test_spea2" and res.n_evals == 200
    assert spea2_entry[-1]["note"] == 2
    # Without constraint handling the violation was a penalty for pymoo only: the result
    # keeps the exact objectives and constraints.
    F, G = p.evaluate(res.X, constraints=True)
    np.testing.assert_array_equal(res.F, F)
    np.testing.assert_array_equal(res.G, G)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) bogus for solver "
                                         r"'test_spea2'; accepted: eta_c, eta_m, note, pop"):
        solve(p, "test_spea2", budget=200, bogus=1)


def test_an_unknown_algorithm_lists_the_table() -> None:
    with pytest.raises(ValueError, match="unknown evolutionary algorithm 'nope'; valid: nsga2"):
        evo.run_evolutionary("nope", _Box(), budget=200, seed=0)


# ---------------------------------------------------------------------- problem families
def test_every_module_of_the_problems_folder_is_imported() -> None:
    folder = Path(problems.__file__).parent
    found = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")}
    found = {n for n in found if not n.startswith("_")}
    assert found == set(problems.__all__)
    assert all(f"problems.{n}" in sys.modules for n in found)
