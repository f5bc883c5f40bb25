"""Spec v1 parsing: every op loads, order is topological, and each mistake gets one named line."""

from __future__ import annotations

import copy
import json
import os

import pytest
from specs import CONCAT_DISTANCE_CLASSIFIER, DESIGN_EXAMPLE, RELU_MULTI_SKIP

from descentcheck.impl.errors import SpecError
from descentcheck.impl.spec import load_spec, parse_spec


def _bad(spec_or_text, *fragments):
    with pytest.raises(SpecError) as info:
        load_spec(spec_or_text)
    msg = str(info.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_design_example_loads_with_widths_and_order():
    spec = load_spec(DESIGN_EXAMPLE)
    assert spec.order == ("h1", "a1", "h2", "s", "g", "out")
    assert spec.widths["s"] == 6 and spec.out_width == 2


def test_nodes_in_any_order():
    shuffled = copy.deepcopy(DESIGN_EXAMPLE)
    shuffled["nodes"] = shuffled["nodes"][::-1]
    order = load_spec(shuffled).order
    for node in DESIGN_EXAMPLE["nodes"]:
        for parent in node["inputs"]:
            if parent != "input":
                assert order.index(parent) < order.index(node["name"])


def test_every_op_and_both_losses_load():
    for spec in (DESIGN_EXAMPLE, CONCAT_DISTANCE_CLASSIFIER, RELU_MULTI_SKIP):
        load_spec(spec)
    assert load_spec(CONCAT_DISTANCE_CLASSIFIER).widths["cat"] == 5 + 4 + 5


def test_spec_from_file_and_json_text(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(DESIGN_EXAMPLE))
    assert load_spec(str(path)).order == load_spec(json.dumps(DESIGN_EXAMPLE)).order


def _with(mutate):
    spec = copy.deepcopy(DESIGN_EXAMPLE)
    mutate(spec)
    return spec


def _node(spec, name):
    return next(n for n in spec["nodes"] if n["name"] == name)


def test_cycle_names_its_nodes():
    spec = _with(lambda s: _node(s, "h1").update(inputs=["s"]))
    msg = _bad(spec, "cycle")
    for name in ("h1", "a1", "s"):
        assert name in msg


def test_self_loop_is_a_cycle():
    _bad(_with(lambda s: _node(s, "a1").update(inputs=["a1"])), "cycle", "a1 -> a1")


def test_unknown_op():
    _bad(_with(lambda s: _node(s, "a1").update(op="gelu")), "unknown op 'gelu'", "a1")
    # a held-out audit: a typo got the whole list, a missing op "unknown op None"
    _bad(_with(lambda s: _node(s, "a1").update(op="tahn")), "did you mean 'tanh'?", "a1")
    _bad(_with(lambda s: _node(s, "a1").pop("op")), "node 'a1' has no \"op\"", "a1")


def test_unknown_input():
    _bad(_with(lambda s: _node(s, "h2").update(inputs=["nope"])), "unknown input 'nope'", "h2")


def test_duplicate_name():
    _bad(_with(lambda s: s["nodes"].append(dict(_node(s, "a1")))), "duplicate node name 'a1'")


def test_width_mismatch_at_add():
    msg = _bad(_with(lambda s: _node(s, "h2").update(units=5)), "width mismatch", "'s'")
    assert "h2 (5)" in msg and "a1 (6)" in msg


def test_missing_output():
    _bad(_with(lambda s: s.update(output="nothere")), "output 'nothere'")
    _bad(_with(lambda s: s.pop("output")), "no 'output'")


def test_malformed_json(tmp_path):
    _bad('{"inputs": 3, "nodes": [', "malformed JSON")
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    _bad(str(path), "malformed JSON")


def test_an_unterminated_string_is_located_in_plain_words():
    msg = _bad('{"inputs": "3', "malformed JSON in spec: Unterminated string starting at line 1")
    assert "at at" not in msg


def test_a_file_nested_past_the_parser_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    _bad(str(path), "nested too deeply to be a spec file")
    _bad('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "spec nested too deeply")


def test_a_key_named_twice_is_refused_not_overwritten(tmp_path):
    text = json.dumps(DESIGN_EXAMPLE).replace('"units": 6', '"units": 6, "units": 9', 1)
    _bad(text, "the key 'units' appears twice in one object")
    (tmp_path / "s.json").write_text(text)
    _bad(str(tmp_path / "s.json"), "s.json: the key 'units' appears twice")


def test_missing_file():
    _bad("/no/such/spec.json", "not found")


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda s: s.update(loss="hinge"), "unknown loss 'hinge'"),
        (lambda s: s.update(inputs=0), "'inputs' must be a positive integer"),
        (lambda s: _node(s, "h1").update(units=-2), "'units' of node 'h1'"),
        (lambda s: _node(s, "h1").update(units=2.5), "'units' of node 'h1'"),
        (lambda s: _node(s, "g").update(radius="per_node"), "'radius' of node 'g'"),
        (lambda s: _node(s, "s").update(inputs=["h2"]), "add needs two or more inputs"),
        (lambda s: _node(s, "a1").update(inputs=["h1", "h2"]), "takes exactly one input"),
        (lambda s: _node(s, "h1").update(unit=3), "unknown key 'unit'"),
        (lambda s: _node(s, "h1").update(name="input"), "reserved"),
        (lambda s: _node(s, "out").update(name="o.x"), "must not contain '.'"),
        (
            lambda s: s["nodes"].append({"name": "dead", "op": "tanh", "inputs": ["a1"]}),
            "'dead' does not feed the output",
        ),
        (lambda s: s.update(nodes=[]), "nonempty list"),
        (lambda s: s.update(extra=1), "unknown top-level key 'extra'"),
        (lambda s: s.update(version=2), "reads specs of version 1, got 2"),
        (lambda s: _node(s, "h1").update(units=10**24), "must be at most 2147483647"),
        (lambda s: _node(s, "h1").update(units=10**4000), "got a number of 4001 digits"),
        (lambda s: s.update(version="banana"), "reads specs of version 1, got 'banana'"),
        (lambda s: s.update(version=True), "reads specs of version 1, got True"),
        (lambda s: s.update(name=3), "spec 'name' must be a string, got 3"),
    ],
)
def test_each_mistake_has_a_one_line_message(mutate, fragment):
    _bad(_with(mutate), fragment)


def test_version_1_may_be_written_or_left_out():
    assert parse_spec({**DESIGN_EXAMPLE, "version": 1}).raw["version"] == 1
    assert "version" not in parse_spec(DESIGN_EXAMPLE).raw


def test_cross_entropy_needs_two_outputs():
    spec = _with(
        lambda s: (s.update(loss="softmax_cross_entropy"), _node(s, "out").update(units=1))
    )
    _bad(spec, "width 2 or more")


def test_a_spec_by_name_or_by_path_relative_to_a_base(tmp_path, monkeypatch):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "mine.json").write_text(json.dumps(DESIGN_EXAMPLE))
    (tmp_path / "sine_skip").write_text(json.dumps(DESIGN_EXAMPLE))  # a file beats a name
    monkeypatch.chdir(tmp_path / "nets")
    assert load_spec("nets/mine.json", tmp_path).raw == DESIGN_EXAMPLE
    assert load_spec("mine.json").raw == DESIGN_EXAMPLE  # the working directory by default
    assert load_spec("sine_skip", tmp_path).raw == DESIGN_EXAMPLE
    assert load_spec("sine_skip").out_width == 1  # no such file here: the built-in example
    msg = _bad("sine_skp", "'sine_skp' is neither a spec file", "did you mean 'sine_skip'?")
    _bad("SINE_SKIP", "did you mean 'sine_skip'?")  # names are lower case; the hint ignores case
    assert f"(looked in {(tmp_path / 'nets').resolve()})" in msg
    # a path (a suffix or a folder) that names no file is a missing file, not a mistyped name
    _bad("nets/other.json", "spec file not found: nets/other.json")


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        # Path.exists raises for these names (OSError, ValueError): each was a traceback
        ("a" * 300, "is neither a spec file"),
        ("a" * 300 + ".json", "cannot read spec file"),
        ("a\x00b", "is neither a spec file"),
        ("a\x00b.json", "embedded null byte"),
        # a ledger's counterexample whose spec was a number: str(10**400) became a path
        (
            10**400,
            "a spec is an object, JSON text, a file path or a built-in example's name, got int",
        ),
        (None, "got NoneType"),
    ],
    ids=["long name", "long file name", "NUL", "NUL file", "number", "null"],
)
def test_a_spec_source_that_cannot_name_a_file_is_one_line(source, fragment):
    _bad(source, fragment)


def test_any_path_like_names_a_spec_file(tmp_path):
    """str() of an os.PathLike that is not a pathlib.Path is its repr, not its path."""

    class Where(os.PathLike):
        def __fspath__(self):
            return str(tmp_path / "s.json")

    (tmp_path / "s.json").write_text(json.dumps(DESIGN_EXAMPLE))
    assert load_spec(Where()).raw == DESIGN_EXAMPLE


def test_a_long_cycle_is_named_by_its_ends_and_length():
    """A held-out tester's 20,000-node cycle made an error line of 188,922 characters."""
    n = 2_000
    nodes = [{"name": f"n{i}", "op": "tanh", "inputs": [f"n{(i - 1) % n}"]} for i in range(n)]
    nodes.append({"name": "out", "op": "dense", "units": 1, "inputs": ["n0"]})
    spec = {"inputs": 1, "output": "out", "loss": "mse", "nodes": nodes}
    msg = _bad(spec, "cycle", "(2,000 nodes)", " -> ... -> ")
    assert len(msg) < 200, msg


def test_a_name_that_is_not_a_string_is_named_so():
    """A held-out tester's ``"name": 5`` read "node #1 has no name"."""
    _bad(_with(lambda s: s["nodes"][1].update(name=5)), "node #1's name must be a string, got 5")


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_spec_is_named_so(empty):
    """A held-out tester's ``from_spec("")`` read "spec file . is a directory"."""
    _bad(empty, "the spec is empty")
