"""Sweep configuration: overrides parse to typed values, bad input names the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers import read_refused

from dse.config import (
    ConfigError,
    SweepConfig,
    config_hash,
    config_help,
    load_config,
    parse_diagnose,
    parse_overrides,
    problem_defaults,
    resolve,
    solver_kinds,
    to_yaml,
)
from dse.problem import list_problems
from dse.solvers import solver_parameters


def test_overrides_from_the_issue_parse_to_typed_values() -> None:
    cfg = parse_overrides([
        "problem=zdt1", "problem.n_var=12", "methods=[nsga2,cagrad]", "solver.budget=20000",
        "seeds=[0,1,2]", "device=cpu", "solver.nsga2.pop_size=40", "executor=dask",
        "executor.address=tcp://127.0.0.1:8786", "out=runs/x", "quiet=true",
    ])
    assert cfg.problem.name == "zdt1" and cfg.problem.params == {"n_var": 12}
    assert cfg.methods == ["nsga2", "cagrad"]
    assert cfg.seeds == [0, 1, 2] and all(type(s) is int for s in cfg.seeds)
    assert cfg.solver.budget == 20000 and type(cfg.solver.budget) is int
    assert cfg.device == "cpu" and cfg.quiet is True and cfg.out == "runs/x"
    assert cfg.executor.name == "dask" and cfg.executor.address == "tcp://127.0.0.1:8786"
    assert cfg.solver.methods == {"nsga2": {"pop_size": 40}}


def test_problem_n_obj_for_dtlz() -> None:
    cfg = parse_overrides(["problem=dtlz2", "problem.n_obj=3"])
    assert cfg.problem.params == {"n_obj": 3}


def test_scalar_seeds_and_methods_mean_one_element_lists() -> None:
    cfg = parse_overrides(["seeds=3", "methods=nsga2", "problem=zdt1"])
    assert cfg.seeds == [3] and cfg.methods == ["nsga2"]


def test_defaults_come_from_the_schema() -> None:
    cfg = parse_overrides([])
    assert cfg == SweepConfig()
    assert cfg.problem.name == "codesign" and cfg.seeds == [0] and cfg.executor.name == "local"


@pytest.mark.parametrize(
    ("override", "must_name"),
    [
        (["foo=1"], ["problem", "methods", "seeds", "solver", "executor"]),
        (["methods=[nsga2,nope]"], ["nsga2", "cagrad", "weighted_sum"]),
        (["problem=nope"], ["codesign", "zdt1", "dtlz2"]),
        (["problem=zdt1", "problem.wrong=3"], ["n_var"]),
        (["problem=zdt1", "solver.nsga2.wrong=1"], ["pop_size"]),
        (["device=tpu"], ["cpu", "cuda", "auto"]),
        (["executor=ray"], ["local", "dask"]),
        (["executor.port=1"], ["executor.address", "executor.n_workers"]),
        (["problem=zdt1", "methods=[nsga2]", "solver.wrong=1"], ["pop_size"]),
        (["solver.nope.pop_size=1"], ["nsga2"]),
        (["seeds.x=1"], ["seeds"]),
        (["noequals"], ["key=value"]),
    ],
)
def test_unknown_keys_and_values_name_the_valid_ones(override: list[str],
                                                     must_name: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides(override)
    for word in must_name:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("bad", ["seeds=[a]", "solver.budget=abc", "executor.n_workers=x",
                                 "plots=maybe"])
def test_wrong_types_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_overrides([bad])


@pytest.mark.parametrize("bad", ["seeds=[]", "seeds=[1,1]", "seeds=[-1]", "methods=[]",
                                 "methods=[nsga2,nsga2]", "solver.budget=0", "ref_offset=0"])
def test_invalid_values_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_overrides(["problem=zdt1", bad])


_SEEDS_AND_BUDGETS = "methods=[nsga2,random]"
_PARAMETERS = "methods=[nsga2,epo]"


@pytest.mark.parametrize(("methods", "bad", "said"), [
    # Seeds and budgets a run cannot take fail before any job: a seed of 2^64 used to abort
    # the sweep after its job ran (SQLite INTEGER overflow), and a budget of 1e24 to run
    # without end.
    (_SEEDS_AND_BUDGETS, "seeds=[18446744073709551616]",
     "seeds must be a whole number in [0, 9223372036854775807]"),
    (_SEEDS_AND_BUDGETS, "solver.random.budget=1e24",
     "solver.random.budget must be a whole number in [1, "),
    (_SEEDS_AND_BUDGETS, "solver.nsga2.budget=abc", "solver.nsga2.budget must be a whole number"),
    (_SEEDS_AND_BUDGETS, "solver.nsga2.budget=2.5", "got 2.5"),
    # Parameter values of the wrong kind are named at parse.
    (_PARAMETERS, "problem.n_var={a:1}",
     "problem.n_var must be a number (default 30), got {'a:1': None}"),
    (_PARAMETERS, "problem.n_var=abc", "problem.n_var must be a number (default 30), got 'abc'"),
    (_PARAMETERS, "problem.n_var=2.5",
     "problem.n_var must be a whole number (default 30), got 2.5"),
    (_PARAMETERS, "solver.nsga2.pop_size=x",
     "solver.nsga2.pop_size must be a number (default 100)"),
    (_PARAMETERS, "solver.epo.lr=[1]", "solver.epo.lr must be a number (default 0.05), got [1]"),
    (_PARAMETERS, "solver.epo.anchors=3",
     "solver.epo.anchors must be true or false (default true)"),
])
def test_values_a_run_cannot_take_are_named_at_parse(methods: str, bad: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides(["problem=zdt1", methods, bad])
    assert said in str(info.value)


def test_a_whole_number_written_as_a_float_is_taken() -> None:
    assert parse_overrides(["problem=zdt1", "problem.n_var=6.0"]).problem.params["n_var"] == 6


def test_resolve_gives_each_method_its_parameters() -> None:
    cfg = parse_overrides([
        "problem=zdt1", "methods=[nsga2,moead,weighted_sum]", "solver.pop_size=24",
        "solver.moead.pop_size=30", "solver.budget=900", "solver.nsga2.budget=500",
        "solver.weighted_sum.lr=0.05",
    ])
    rs = resolve(cfg)
    assert rs.methods == ("nsga2", "moead", "weighted_sum")
    # A method's own value wins over the shared one; shared only where accepted.
    assert rs.method_params["nsga2"] == {"pop_size": 24}
    assert rs.method_params["moead"] == {"pop_size": 30}
    assert "pop_size" not in solver_parameters("weighted_sum")
    assert rs.method_params["weighted_sum"] == {"lr": 0.05}
    assert rs.budgets == {"nsga2": 500, "moead": 900, "weighted_sum": 900}


def test_dict_valued_method_parameters_take_nested_keys() -> None:
    cfg = parse_overrides(["problem=zdt1", "methods=[cagrad]",
                           "solver.cagrad.weighting_params.c=0.3"])
    assert resolve(cfg).method_params["cagrad"] == {"weighting_params": {"c": 0.3}}


def test_default_methods_and_quick_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = solver_kinds()
    for name in list_problems():
        d = problem_defaults(name)
        assert set(d.methods) <= set(kinds), (name, d.methods)
        assert 0 < d.quick_budget <= d.budget
    # Every kind by default on co-design: gradient, evolutionary and the hybrid of both.
    assert {kinds[m] for m in problem_defaults("codesign").methods} == {
        "gradient", "evolutionary", "hybrid"}
    # The engineering problems (and their variants) pick up their family's defaults.
    assert problem_defaults("mw7") == problem_defaults("welded_beam")
    assert "hybrid" in problem_defaults("welded_beam").methods
    cfg = parse_overrides(["problem=codesign"])
    monkeypatch.setenv("DSE_QUICK", "1")
    quick = resolve(cfg).budgets
    monkeypatch.setenv("DSE_QUICK", "0")
    full = resolve(cfg).budgets
    assert set(quick.values()) == {problem_defaults("codesign").quick_budget}
    assert set(full.values()) == {problem_defaults("codesign").budget}


def test_config_hash_depends_on_results_only() -> None:
    base = ["problem=zdt1", "methods=[nsga2,mgda]", "seeds=[0,1]"]
    h = config_hash(parse_overrides(base))
    # Order of overrides, device, executor, output and quiet do not change the results.
    same = ["seeds=[0,1]", "methods=[nsga2,mgda]", "problem=zdt1", "device=cpu",
            "executor=dask", "quiet=true", "plots=false"]
    assert config_hash(parse_overrides(same)) == h
    assert config_hash(parse_overrides([*base, "seeds=[0,2]"])) != h
    assert config_hash(parse_overrides([*base, "solver.budget=123"])) != h
    assert config_hash(parse_overrides([*base, "problem.n_var=5"])) != h
    # Stability across processes is checked by tests/test_cli_kill.py, whose rerun in a
    # new process must find the default run folder of the killed one.


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = parse_overrides(["problem=dtlz2", "problem.n_obj=3", "methods=[nsga3]",
                           "solver.nsga3.pop_size=20", "seeds=[4,5]"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    assert load_config(path) == cfg


def test_help_documents_every_key() -> None:
    rows = config_help()
    keys = {k for k, _, _ in rows}
    for k in ("problem", "methods", "seeds", "device", "solver.budget", "executor.address",
              "executor.name", "out", "quiet"):
        assert k in keys
    assert all(text for _, _, text in rows)


def test_diagnose_config() -> None:
    cfg = parse_diagnose(["problem=pmtl_concave", "steps=7", "seed=2"])
    assert (cfg.problem.name, cfg.steps, cfg.seed) == ("pmtl_concave", 7, 2)
    with pytest.raises(ConfigError, match="steps"):
        parse_diagnose(["steps=0"])
    with pytest.raises(ConfigError, match="valid keys"):
        parse_diagnose(["methods=[nsga2]"])


@pytest.mark.parametrize("bad", ["problem.n_var=${oc.env:HOME}", "out=${oc.env:HOME}/x",
                                 "solver.nsga2.pop_size=${oc.env:PATH}",
                                 "seeds=[${oc.env:UID}]"])
def test_interpolations_in_overrides_are_refused_not_expanded(bad: str) -> None:
    # Expanded, they would write the environment into config.yaml and the database.
    with pytest.raises(ConfigError, match="interpolations") as info:
        parse_overrides(["problem=zdt1", "methods=[nsga2]", bad])
    assert "/root" not in str(info.value) and "/bin" not in str(info.value)


@pytest.mark.parametrize(("text", "said"), [
    ("", "is empty or not a mapping"),
    ("just text\n", "is empty or not a mapping"),
    ("problem: {name: zdt1\n", "is not valid YAML"),
    ("problem: !!python/object:os.system {}\n", "is not valid YAML"),
    ("bogus: 1\n", "Key 'bogus' not in 'SweepConfig'"),
    ("out: ${oc.env:HOME}\n", "interpolations"),
])
def test_load_config_refuses_empty_and_malformed_files(tmp_path, text: str, said: str) -> None:
    path = tmp_path / "config.yaml"
    err = read_refused(load_config, path, text, ConfigError)
    assert said in str(err.value) and str(path) in str(err.value)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("override", "said"), [
    ("methods=[nsga2", "cannot parse value '[nsga2'"),
    ("methods=[,]", "cannot parse value '[,]'"),
    ("seeds=[0,1", "lists are [a,b]"),
    ("problem=!!python/object/apply:os.system [ls]", "YAML tags (!...) are not accepted"),
    ("seeds=[!!python/int 3]", "YAML tags"),
    ("methods=[nsga2]\tx", "control character(s) U+0009"),
    ("problem=zdt1\x00", "control character(s) U+0000"),
    ("out=" + "a" * 300, "a folder name is 300 bytes"),
    ("out=/proc/x", "not a place for a run folder"),
])
def test_malformed_values_are_named(override: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_overrides([override])
    assert said in str(err.value)


def test_out_naming_an_existing_file_is_refused(tmp_path) -> None:
    f = tmp_path / "taken"
    f.write_text("x")
    with pytest.raises(ConfigError, match="a file of that name exists"):
        parse_overrides([f"out={f}"])


