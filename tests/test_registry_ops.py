"""The op registry: importable without numpy, the one source of every derived list, and covered:
every registered op and loss has each rule or a stated exclusion, and removing any one rule (or an
exclusion) makes the coverage check fail naming the op and the rule."""

from __future__ import annotations

import subprocess
import sys

import pytest

from descentcheck.impl import losses as impl_losses
from descentcheck.impl import mp_network
from descentcheck.impl import ops as impl_ops
from descentcheck.impl.errors import SpecError
from descentcheck.impl.spec import parse_spec
from descentcheck.registry import ops as registry
from descentcheck.theory import claimed, coverage, units
from descentcheck.theory.checks import check_coverage


def test_registry_imports_without_numpy_or_sympy():
    code = (
        "import sys; sys.modules['numpy'] = None; sys.modules['sympy'] = None\n"
        "from descentcheck.registry import ops\n"
        "from descentcheck.theory import KNOWN_OPS\n"
        "assert 'tanh' in ops.names('elementwise') and 'gaussian_per_unit' in KNOWN_OPS\n"
        "assert ops.get('relu').excluded['interval']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numpy_is_really_blocked_in_that_subprocess():
    # the check above has teeth: with numpy blocked, importing the trainer fails
    code = "import sys; sys.modules['numpy'] = None\nimport descentcheck.impl.network\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0 and "numpy" in r.stderr


def test_derived_views_are_the_registry():
    from descentcheck.theory import KNOWN_OPS

    assert all(impl_ops.factory(op) is not None for op in registry.layer_names())
    assert registry.names("parametric") == ("dense", "gaussian", "gaussian_logits")
    assert registry.names("elementwise") == ("sigmoid", "tanh", "softplus", "relu", "identity")
    assert registry.names("merge") == ("add", "concat")
    assert tuple(impl_losses.LOSSES) == registry.loss_names()
    assert KNOWN_OPS == registry.derive_names()
    assert "gaussian_logits_per_unit" in KNOWN_OPS


def _node(info: registry.OpInfo) -> dict:
    node = {"name": "a", "op": info.name, "inputs": ["input"] * max(info.arity[0], 1)}
    node |= {k.name: 2 for k in info.keys if k.required}
    return node


@pytest.mark.parametrize("info", registry.BUILTIN[:-2], ids=lambda o: o.name)
def test_spec_parser_reads_keys_arity_and_width_from_the_registry(info):
    spec = {"inputs": 2, "output": "a", "loss": "mse", "nodes": [_node(info)]}
    width = parse_spec(spec).widths["a"]
    assert width == {"units": 2, "input": 2, "equal": 2, "sum": 2 * info.arity[0]}[info.width]
    with pytest.raises(SpecError, match="unknown key 'bogus'"):
        parse_spec({**spec, "nodes": [{**_node(info), "bogus": 1}]})


@pytest.mark.parametrize("info", registry.BUILTIN[:-2], ids=lambda o: o.name)
def test_an_ops_declared_parameters_are_its_layers(info):
    """``params`` says what a node of the op trains (dense W, b; a distance layer's centroids
    and radii), in the layer's order, for every variant; the rest train nothing. It was read
    by nothing, and the registry's mutation run showed any value passed."""
    from descentcheck.impl.network import Network

    for variant in info.variants:
        node = {**_node(info), **variant.settings}
        net = Network.from_spec({"inputs": 2, "output": "a", "loss": "mse", "nodes": [node]})
        assert tuple(net.layers[0].param_shapes) == info.params, (variant.name, info.params)


def test_an_op_only_in_impl_is_refused_by_the_parser(monkeypatch):
    # a layer added to impl without a registry entry cannot be used (so it cannot skip theory)
    monkeypatch.setitem(impl_ops.FACTORIES, "cube", impl_ops.FACTORIES["identity"])
    spec = {"inputs": 1, "output": "a", "loss": "mse", "nodes": [_node(registry.get("identity"))]}
    spec["nodes"][0]["op"] = "cube"
    with pytest.raises(SpecError, match="unknown op 'cube'"):
        parse_spec(spec)


def test_every_op_has_every_rule_or_a_stated_exclusion():
    assert coverage.gaps() == []
    assert check_coverage().ok
    (relu,) = [e for e in coverage.exclusions() if e.startswith("relu")]
    assert "no interval rule" in relu and "not differentiable at 0" in relu


def _table(info: registry.OpInfo, rule: str) -> dict:
    """The table holding ``rule`` of ``info``."""
    if rule == "numpy":
        return impl_losses.BUILTIN if info.kind == "loss" else impl_ops.FACTORIES
    if rule == "sympy":
        return units._BUILDERS
    if rule == "claimed":
        return claimed._RULES
    if info.kind == "loss":
        return mp_network.LOSS_RULES
    if info.kind != "elementwise":
        return mp_network.NODE_RULES
    return mp_network._ACT if rule == "mpmath" else mp_network.ARB_FUNCTIONS


CASES = [
    (info, rule)
    for info in registry.BUILTIN
    for rule in registry.RULES
    if rule not in info.excluded
]


@pytest.mark.parametrize("info,rule", CASES, ids=[f"{o.name}-{r}" for o, r in CASES])
def test_removing_a_rule_fails_coverage_naming_op_and_rule(monkeypatch, info, rule):
    # the SymPy tables are keyed by derivation: dropping only gaussian_per_unit must show too
    key = info.variants[-1].name if rule in ("sympy", "claimed") else info.name
    monkeypatch.delitem(_table(info, rule), key)
    gaps = coverage.gaps()
    assert any(g.startswith(f"op {info.name!r} has no {rule} rule") for g in gaps), gaps
    result = check_coverage()
    assert not result.ok and any(info.name in d and rule in d for d in result.details)


def test_removing_an_exclusion_fails_coverage(monkeypatch):
    relu = registry.get("relu")
    monkeypatch.delitem(relu.excluded, "interval")
    assert coverage.gaps() == [
        f"op 'relu' has no interval rule ({registry.RULES['interval']}) and no stated exclusion"
    ]


def test_an_op_registered_without_rules_is_caught(monkeypatch):
    # an op added to the registry (or to impl and then registered) with no theory behind it
    cube = registry.OpInfo("cube", "elementwise", "activation", "x^3")
    monkeypatch.setattr(registry, "_loaded", (*registry.ops(), cube))
    gaps = [g for g in coverage.gaps() if "'cube'" in g]
    assert [g.split()[4] for g in gaps] == list(registry.RULES)
    from descentcheck.theory.symbolic_agreement import agree_all

    with pytest.raises(Exception, match="unknown op 'cube'"):
        agree_all((1,))


def test_an_op_of_no_known_kind_is_refused():
    """Every consumer branches on the kind (the spec parser, the strategies, theory's tables):
    one of another kind would reach none of them."""
    assert set(registry.KINDS) == {o.kind for o in registry.BUILTIN}
    with pytest.raises(ValueError, match="op 'conv': kind 'conv2d' is not one of"):
        registry.OpInfo("conv", "conv2d", "conv", "y = w * x")


def test_a_concat_of_one_input_is_its_input_and_an_add_needs_two():
    """The merges' arities, stated here, not read back from the registry (the parser test above
    draws its inputs from the registry's arity, so a concat narrowed to two passed it)."""

    def spec(op: str) -> dict:
        node = {"name": "a", "op": op, "inputs": ["input"]}
        return {"inputs": 2, "output": "a", "loss": "mse", "nodes": [node]}

    assert parse_spec(spec("concat")).widths["a"] == 2
    with pytest.raises(SpecError, match="node 'a': add needs two or more inputs, got 1"):
        parse_spec(spec("add"))
