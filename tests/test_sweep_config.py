"""Sweep files: validation with one-line errors, and a deterministic expansion into cases."""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest

from descentcheck.properties.sweep import (
    SweepConfigError,
    evaluate,
    expand,
    load_config,
    parse_config,
)
from descentcheck.properties.sweep.canonical import canonical_json
from descentcheck.properties.sweep.config import RandomDags
from descentcheck.properties.sweep.expand import random_architectures
from descentcheck.properties.sweep.worker import run_case

BASE = {
    "name": "unit",
    "steps": 5,
    "seeds": [0, 1],
    "architectures": {
        "specs": ["sine_skip"],
        "random": {"count": 2, "seed": 0, "max_steps": 3, "max_params": 40},
    },
    "data": [{"source": "random", "n": 6}],
    "optimizers": [
        {"name": "adaptive_momentum", "relative_to_L": True, "lr": [0.5, 1.5], "tau": 0.05},
        {
            "name": "momentum",
            "search": "random",
            "count": 2,
            "seed": 3,
            "lr": {"min": 0.001, "max": 0.1, "log": True},
            "momentum": {"min": 0.0, "max": 0.9},
        },
    ],
    "estimate_L": {"iters": 10},
}

BASE_TOML = """
name = "unit"
steps = 5
seeds = [0, 1]

[architectures]
specs = ["sine_skip"]
random = {count = 2, seed = 0, max_steps = 3, max_params = 40}

[[data]]
source = "random"
n = 6

[[optimizers]]
tau = 0.05
lr = [0.5, 1.5]
relative_to_L = true
name = "adaptive_momentum"

[[optimizers]]
name = "momentum"
search = "random"
count = 2
seed = 3
lr = {min = 0.001, max = 0.1, log = true}
momentum = {min = 0.0, max = 0.9}

[estimate_L]
iters = 10
"""


def _with(path: str, value, base=BASE):
    """A copy of ``base`` with the dotted ``path`` set to ``value`` (``DELETE`` removes it)."""
    raw = copy.deepcopy(base)
    *head, last = path.split(".")
    node = raw
    for part in head:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return raw


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("optimisers", [], "unknown key 'optimisers'; did you mean 'optimizers'?"),
        ("steps", 0, "steps: must be >= 1, got 0"),
        ("steps", DELETE, "missing key 'steps'"),
        ("seeds", [0, 0], "seeds[1]: seed 0 appears twice"),
        ("checks", ["decrease_every_step", "converges"], "unknown check 'converges'"),
        ("optimizers.0.name", "adam", "unknown optimizer 'adam'"),
        ("optimizers.0.momentum", 0.5, "unknown key 'momentum'"),
        ("optimizers.0.tau", DELETE, "optimizer adaptive_momentum needs 'tau'"),
        ("optimizers.1.lr", {"min": 1.0, "max": 0.1}, "bad range: min 1.0 > max 0.1"),
        ("optimizers.1.lr", {"min": 0.0, "max": 0.1, "log": True}, "log = true needs min > 0"),
        ("optimizers.0.lr", {"min": 0.1, "max": 1.0}, "a grid range needs num"),
        ("optimizers.1.count", DELETE, "a random search needs count"),
        ("optimizers.0.lr", [0.5, -1.0], "optimizers[0].lr[1]: learning rate must lie in (0, inf)"),
        (
            "optimizers.0.lr",
            [0.0],
            "optimizers[0].lr[0]: learning rate must lie in (0, inf), got 0",
        ),
        ("optimizers.0.lr", "fast", "optimizers[0].lr: learning rate must be a number, got 'fast'"),
        ("optimizers.1.momentum", {"min": 0.0, "max": 1.5}, "[1].momentum.max: momentum must lie"),
        (
            "optimizers.0.group",
            "layer",
            "optimizers[0].group: unknown momentum grouping 'layer'; known: array",
        ),
        (  # the registry's check (train's wording) names the closest choice
            "optimizers.0.group",
            "nod",
            "optimizers[0].group: unknown momentum grouping 'nod'; known: array, unit, node, "
            "global; did you mean 'node'?",
        ),
        (  # a held-out author's: it said "a grid range needs num"
            "optimizers.0.group",
            {"min": 0, "max": 1},
            "optimizers[0].group: group is a choice (array, unit, node, global): give a name or "
            "a list, not a range",
        ),
        ("architectures.specs", ["no_such_net"], "neither a spec file"),
        ("architectures.specs", [{"inputs": 1, "output": "x", "nodes": []}], "invalid spec"),
        ("architectures.random.max_steps", 1, "max_steps: must be >= 2"),
        (
            "architectures.random.exclude_ops",
            ["dense", "gaussian", "gaussian_logits"],
            "every layer op",
        ),
        ("data", [{"source": "digitz"}], "did you mean 'digits'?"),
        ("data.0.n", 0, "data[0].n: must be >= 1"),
        ("data.0.n", 10**10, "data[0].n: must be <= 100000, got 10000000000"),
        (
            "steps",
            __import__("datetime").date(1979, 5, 27),  # TOML has dates; it said "got null"
            "steps: expected an integer, got a date (1979-05-27)",
        ),
        ("data", [{"source": "sine", "subsample": 10_000}], "subsample: 10000 rows asked"),
        ("data", [{"source": "iris"}], "fits none of the architectures"),
        ("estimate_L.method", "arnoldi", "unknown method 'arnoldi'"),
        ("version", 2, "sweep files of version 1"),
    ],
)
def test_invalid_sweep_files_give_one_line_errors(path, value, message):
    raw = _with(path, value)
    with pytest.raises(SweepConfigError) as err:
        expand(parse_config(raw, "sweep.json"))
    text = str(err.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith("sweep.json:")


def test_unparsable_files(tmp_path):
    bad_toml = tmp_path / "a.toml"
    bad_toml.write_text("steps = \n")
    with pytest.raises(SweepConfigError, match=r"a\.toml: malformed TOML"):
        load_config(bad_toml)
    bad_json = tmp_path / "a.json"
    bad_json.write_text('{"steps": 1,}')
    with pytest.raises(SweepConfigError, match=r"malformed JSON: .* at line 1"):
        load_config(bad_json)
    with pytest.raises(SweepConfigError, match="sweep file not found"):
        load_config(tmp_path / "missing.toml")


def test_expansion_is_deterministic_and_format_independent(tmp_path):
    (tmp_path / "s.toml").write_text(BASE_TOML)
    (tmp_path / "s.json").write_text(json.dumps(BASE, indent=2))
    a = expand(load_config(tmp_path / "s.toml"))
    b = expand(load_config(tmp_path / "s.toml"))
    c = expand(load_config(tmp_path / "s.json"))
    # sine_skip + 2 random DAGs on random data; (2 adaptive + 2 random momentum) x 2 seeds
    assert len(a.cases) == 3 * 4 * 2
    assert [x.key for x in a.cases] == [x.key for x in b.cases] == [x.key for x in c.cases]
    assert a.config_hash == b.config_hash == c.config_hash
    assert [x.index for x in a.cases] == list(range(len(a.cases)))
    for case in a.cases:
        assert case.text == canonical_json(case.case)
        assert case.key == hashlib.sha256(case.text.encode()).hexdigest()
        assert json.loads(case.text) == case.case
    # order: architecture, data, optimizer block, point, seed (fastest)
    first = a.cases[0].case
    assert first["architecture"]["name"] == "sine_skip"
    assert first["optimizer"] == "adaptive_momentum"
    assert first["hyperparameters"] == {"lr": 0.5, "tau": 0.05}
    assert [x.case["init_seed"] for x in a.cases[:4]] == [0, 1, 0, 1]
    assert "estimate_L" in first  # inside_region (a default check) needs L_0


def test_random_search_is_seeded():
    a = expand(parse_config(BASE, "s.json"))
    b = expand(parse_config(_with("optimizers.1.seed", 4), "s.json"))
    hp_a = [x.case["hyperparameters"] for x in a.cases if x.case["optimizer"] == "momentum"]
    hp_b = [x.case["hyperparameters"] for x in b.cases if x.case["optimizer"] == "momentum"]
    assert hp_a != hp_b
    for hp in hp_a:
        assert 0.001 <= hp["lr"] <= 0.1 and 0.0 <= hp["momentum"] <= 0.9
    assert a.config_hash != b.config_hash


def test_grid_ranges():
    raw = _with("optimizers.0.lr", {"min": 0.1, "max": 10.0, "num": 3, "log": True})
    lrs = sorted(
        {
            x.case["hyperparameters"]["lr"]
            for x in expand(parse_config(raw, "s.json")).cases
            if x.case["optimizer"] == "adaptive_momentum"
        }
    )
    assert np.allclose(lrs, [0.1, 1.0, 10.0])


def test_random_dag_j_does_not_depend_on_count():
    few = random_architectures(RandomDags(count=2, seed=5, max_steps=4))
    more = random_architectures(RandomDags(count=5, seed=5, max_steps=4))
    assert [a.spec for a in few] == [a.spec for a in more[:2]]
    assert len({json.dumps(a.spec, sort_keys=True) for a in more}) == 5
    bounded = random_architectures(
        RandomDags(count=4, seed=0, max_params=30, exclude_ops=("relu",))
    )
    from descentcheck.impl.network import Network

    for a in bounded:
        assert Network.from_spec(a.spec).n_params <= 30
        assert all(n["op"] != "relu" for n in a.spec["nodes"])


def test_a_case_is_a_pure_function_of_its_json():
    plan = expand(parse_config(BASE, "s.json"))
    case = plan.cases[0]
    first = canonical_json(evaluate(json.loads(case.text)))
    again = canonical_json(evaluate(json.loads(case.text)))
    assert first == again
    res = json.loads(first)
    assert set(res["checks"]) == {"decrease_every_step", "inside_region", "final_loss", "diverged"}
    L0 = res["L0"]
    assert L0 > 0
    # relative_to_L: lr given as lr·L_0 = 0.5
    assert res["hyperparameters"]["lr"] == 0.5 / L0
    assert res["checks"]["inside_region"]["region"] == "adaptive_momentum"


def test_a_case_that_cannot_run_comes_back_failed(tmp_path):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((4, 1)), y=np.zeros((4, 1)))
    raw = _with("data", [{"source": "d.npz"}])
    raw["architectures"] = {"specs": ["sine_skip"]}
    plan = expand(parse_config(raw, tmp_path / "s.json"))
    assert plan.cases[0].case["data"]["kind"] == "file"
    assert run_case(plan.cases[0].text, plan.files)["status"] == "done"
    np.savez(data, x=np.ones((4, 1)), y=np.zeros((4, 1)))  # changed after planning
    # the same worker notices: its cache is keyed by the file's size and modification time
    # too (it served the old arrays, and a change during a running sweep went unnoticed)
    out = run_case(plan.cases[0].text, plan.files)
    assert out["status"] == "failed" and out["results_json"] is None
    assert "changed since the sweep was planned" in out["error"]
    assert "\n" not in out["error"]


def test_progress_bar_shows_rate_and_time_left(tmp_path, capsys):
    from descentcheck.properties.sweep import run_sweep

    sweep = tmp_path / "s.json"
    raw = {
        **BASE,
        "seeds": [0],
        "architectures": ["sine_skip"],
        "optimizers": BASE["optimizers"][:1],
    }
    sweep.write_text(json.dumps(raw))
    summary = run_sweep(sweep, tmp_path / "s.sqlite", scheduler="serial", progress=True)
    assert summary.complete and summary.ran == 2
    err = capsys.readouterr().err
    assert "2/2" in err and "case/s" in err and "<" in err  # tqdm: rate and elapsed<left


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("data", [{"n": 3}], "data[0]: missing key 'source'"),
        ("data", [{"source": 3}], "data[0].source: expected a string, got a number (3)"),
        ("data", [{"source": "random", "kind": "file"}], "data[0]: unknown key 'kind'"),
        ("path", "elsewhere.json", "top level: unknown key 'path'"),
        (
            "optimizers.0.lr",
            {"min": -0.1, "max": 1.0, "num": 2},
            "optimizers[0].lr.min: learning rate must lie in (0, inf), got -0.1",
        ),
        ("optimizers.1.momentum", {"min": 0.0, "max": 1.0}, "momentum.max: momentum must lie in"),
        ("optimizers.1.lr", {"min": -1.0, "max": 1.0, "log": True}, "log = true needs min > 0"),
        ("optimizers.0.lr", {"min": 0.1, "max": 1.0, "nums": 2}, "did you mean 'num'?"),
        ("optimizers.0.lr", {"min": 0.1, "max": 0.1, "num": 3}, "3 points between equal"),
        ("optimizers.0.lr", 0.5, None),  # one value stands for a list of one
        ("optimizers.0.lr", [0.5, 0.5], "optimizers[0].lr[1]: value 0.5 appears twice"),
        (
            "optimizers.0.group",
            ["node", "lay"],
            "optimizers[0].group[1]: unknown momentum grouping 'lay'",
        ),
        ("optimizers.0.count", 3, "count and seed are for search = 'random'"),
        ("optimizers.1.lr", {"min": 0.1, "max": 1.0, "num": 3}, "unknown key 'num'"),
        ("optimizers.1.search", "grd", "unknown search 'grd' (known: grid, random)"),
        ("architectures.specs", ["sine_skip", "sine_skip"], "specs[1]: name 'sine_skip' is used"),
        ("architectures.random.exclude_ops", ["rleu"], "exclude_ops[0]: unknown op 'rleu'"),
        ("architectures", {}, "architectures: no architectures"),
        ("seeds", {"count": 0}, "seeds.count: must be >= 1, got 0"),
        ("data", ["random", "random"], "data[1]: the same data set appears twice"),
        ("data", [{"source": "d/missing.npz"}], "data[0].source: data file not found: "),
        # Path.is_file raised OSError for a name too long to be a file (found by fuzzing)
        ("data", [{"source": "a" * 300 + ".npz"}], "data[0].source: data file not found: "),
        ("architectures.specs", ["nets/missing.json"], "specs[0]: spec file not found: "),
        ("architectures.specs", [3], "specs[0]: expected a spec name, a file path or a table"),
    ],
)
def test_more_one_line_errors(path, value, message):
    raw = _with(path, value)
    if message is None:
        assert parse_config(raw, "sweep.json").optimizers[0].axes["lr"].values == (0.5,)
        return
    with pytest.raises(SweepConfigError) as err:
        parse_config(raw, "sweep.json")
    text = str(err.value)
    assert message in text and "\n" not in text and text.startswith("sweep.json:")


def test_the_readme_examples_are_valid_sweep_files(tmp_path):
    """The README's Sweep files section: its small example parses, and every key its full
    example writes is a key the models know (the full one's spec entries are placeholders)."""
    import re
    import tomllib
    from pathlib import Path

    from descentcheck.properties.sweep import config as C
    from descentcheck.registry.optimizers import registry

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Sweep files") : readme.index("## Python API")]
    full, small = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    config = parse_config(tomllib.loads(small), tmp_path / "s.toml")
    assert config.name == "adaptive momentum around the region" and len(config.architectures) == 2
    code = "\n".join(line.split("#")[0] for line in full.splitlines())
    written = set(re.findall(r"(\w+) =", code)) | set(re.findall(r"^\[+(\w+)\]+", code, re.M))
    models = (C.SweepConfig, C.Architectures, C.RandomDags, C.DataEntry, C.Axis, C.EstimateL)
    known = {k for m in (*models, C.SeedRange, C.OptimizerBlock) for k in m.file_keys()}
    known |= {h.name for e in registry().values() for h in e.hyperparameters}
    known |= {"spec", "inputs"}  # a {name, spec} entry, and the inline spec's own key
    assert written - known == set() and len(written) > 25


def test_spec_and_data_files_resolve_against_the_sweep_files_folder(tmp_path, monkeypatch):
    from specs import DESIGN_EXAMPLE

    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "mine.json").write_text(json.dumps(DESIGN_EXAMPLE))
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=np.array([0, 1, 0, 1]))
    raw = {
        **BASE,
        "architectures": ["nets/mine.json", {"name": "b", "spec": "sine_skip"}],
        "data": ["d.npz"],
    }
    monkeypatch.chdir(tmp_path / "nets")  # elsewhere: the sweep file's folder decides
    config = parse_config(raw, tmp_path / "s.json")
    first, second = config.architectures
    assert (first.name, first.spec, second.name) == ("nets/mine.json", DESIGN_EXAMPLE, "b")
    assert config.data[0].kind == "file" and config.data[0].path == str(tmp_path / "d.npz")


def test_a_random_search_drawing_a_point_twice_is_named_as_such():
    """A held-out user: count 3 over lr = [0.1, 0.2] blamed a block "listed twice"."""
    raw = {
        "name": "dup",
        "steps": 3,
        "architectures": ["sine_skip"],
        "data": "sine",
        "optimizers": [{"name": "gd", "search": "random", "count": 3, "lr": [0.1, 0.2]}],
    }
    with pytest.raises(SweepConfigError, match="a random search drew the same point twice"):
        expand(parse_config(raw, "dup.json"))
    grid = {**raw, "optimizers": [{"name": "gd", "lr": [0.1]}, {"name": "gd", "lr": [0.1]}]}
    with pytest.raises(SweepConfigError, match=r"listed twice$"):
        expand(parse_config(grid, "dup.json"))


def test_the_size_cap_speaks_of_one_architecture_and_of_what_the_file_uses():
    raw = {
        "name": "big",
        "steps": 3,
        "seeds": {"count": 1000},
        "architectures": ["sine_skip"],
        "data": "sine",
        "optimizers": [
            {"name": "gd", "search": "random", "count": 1001, "lr": {"min": 0.01, "max": 0.1}}
        ],
    }
    with pytest.raises(SweepConfigError) as err:
        expand(parse_config(raw, "big.json"))
    text = str(err.value)
    assert "(1 architecture x 1,001,000 data" in text
    assert "search = 'random'" not in text and text.endswith("or lower a count")


def test_a_net_with_a_non_smooth_op_gets_no_region_verdict():
    """The regions assume an L-smooth E: a held-out sweep on a net with a leaky relu
    (smooth=False) called a region falsified by a run with no premise to break. A net using
    relu, or any op or loss not smooth, gets ``inside: null`` and says why."""
    relu_net = {
        "inputs": 1,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h", "op": "dense", "units": 3, "inputs": ["input"]},
            {"name": "r", "op": "relu", "inputs": ["h"]},
            {"name": "out", "op": "dense", "units": 1, "inputs": ["r"]},
        ],
    }
    config = {
        **BASE,
        "architectures": {"specs": [relu_net, "sine_skip"]},
        "optimizers": [{"name": "gd", "lr": 0.01}],
    }
    plan = expand(parse_config(config, "s.json"))
    seen = {}
    for case in plan.cases:
        spec = json.loads(case.text)["architecture"]["spec"]
        verdict = evaluate(json.loads(case.text))["checks"]["inside_region"]
        seen[any(n["op"] == "relu" for n in spec["nodes"])] = verdict
    assert seen[True]["inside"] is None and seen[True]["region"] == "gd"
    assert seen[True]["note"] == "outside the theorem: not smooth (relu), E is not L-smooth"
    assert seen[False]["inside"] is True and seen[False]["note"] == ""


def test_a_directory_given_as_data_is_named_as_one(tmp_path):
    """It was "data file not found" (sweep audit), where the spec reader says "is a directory"."""
    (tmp_path / "adir.npz").mkdir()
    raw = _with("data", [{"source": "adir.npz"}])
    with pytest.raises(SweepConfigError, match=r"data\[0\]\.source: data file .*adir\.npz is a "):
        parse_config(raw, tmp_path / "sweep.json")


def test_too_many_random_architectures_gets_advice_about_their_count():
    """The advice was "use search = 'random' with a count", an optimizer block's option, when
    the size came from architectures.random's count (sweep audit)."""
    raw = _with("architectures", {"random": {"count": 2_000_000}})
    with pytest.raises(SweepConfigError, match="split it, or lower architectures.random's count"):
        expand(parse_config(raw, "sweep.json"))
