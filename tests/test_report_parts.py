"""The report's parts, one at a time: fast checks of what the full build relies on."""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from descentcheck.reports import PROFILES


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, descentcheck.reports as r; r.PROFILES; "
        "print([m for m in ('matplotlib', 'sympy', 'sklearn', 'hypothesis') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_smoke_profile_names_real_claims() -> None:
    from descentcheck.properties import BY_ID

    for name, prof in PROFILES.items():
        for cid in prof.claims or ():
            assert cid in BY_ID, f"profile {name} names unknown claim {cid}"


def test_html_escapes_text_and_renders_only_two_markers() -> None:
    from descentcheck.reports.document import Paragraph, Section
    from descentcheck.reports.html import inline, render_html

    assert inline("a < b & `x<y` **bold**") == (
        "a &lt; b &amp; <code>x&lt;y</code> <strong>bold</strong>"
    )
    page = render_html("t", ["s"], [Section("one", "One", [Paragraph("<script>")])])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http" not in page


def test_markdown_keeps_the_same_sections_and_figures() -> None:
    from descentcheck.reports.document import Figure, Math, Section, Table
    from descentcheck.reports.markdown import render_markdown

    s = Section("a", "Alpha")
    s.add(Figure("figures/x.png", "cap", "alt"), Math("<math/>", r"x^2"), Table(("h",), (("1",),)))
    md = render_markdown("T", ["sub"], [s])
    assert '<a id="a"></a>' in md and "## Alpha" in md
    assert "![alt](figures/x.png)" in md and "$$\nx^2\n$$" in md and "| 1 |" in md


def test_dag_layout_runs_left_to_right() -> None:
    from descentcheck.impl.examples import EXAMPLES
    from descentcheck.reports.dag import layout

    for spec in EXAMPLES.values():
        pos = layout(spec)
        assert pos["input"][0] == 0
        for node in spec["nodes"]:
            for parent in node["inputs"]:
                assert pos[parent][0] < pos[node["name"]][0]
        rows = {}
        for name, (x, y) in pos.items():
            assert (x, y) not in rows, f"{name} overlaps {rows.get((x, y))}"
            rows[(x, y)] = name


def test_random_cases_are_valid_and_include_skips() -> None:
    from descentcheck.impl.network import Network
    from descentcheck.reports.cases import random_data, random_spec, skip_edges

    rng = np.random.default_rng(0)
    skips = 0
    for _ in range(60):
        spec = random_spec(rng)
        net = Network.from_spec(spec)
        x, y = random_data(rng, spec)
        net.check_data(x, y)
        skips += skip_edges(spec) > 0
    assert 10 <= skips <= 55


def test_rise_detection_ignores_rounding_only() -> None:
    from descentcheck.reports.region import decreased_every_step

    assert decreased_every_step(np.array([1.0, 0.5, 0.5, 0.25]))[0]
    assert decreased_every_step(np.array([1.0, 1.0 + 2e-16]))[0]  # within rounding
    ok, first, worst = decreased_every_step(np.array([1.0, 0.5, 0.6]))
    assert not ok and first == 1 and worst == pytest.approx(0.2)
    assert not decreased_every_step(np.array([1.0, np.inf]))[0]


def test_a_diverged_runs_first_rise_is_its_first_rise() -> None:
    """A held-out sweep user: gd at lr 10 rose at every step from 0 until inf at step 88, and
    the sweep and report said 87 (the step before the non-finite loss); train said 0."""
    from descentcheck.impl.trajectory import decreased_every_step

    assert decreased_every_step(np.array([0.09, 5.7, 40.0, 900.0, np.inf])) == (False, 0, np.inf)
    assert decreased_every_step(np.array([3.0, 2.0, 2.5, 1.0, np.nan]))[1] == 1
    # no finite rise: the step into the non-finite loss
    assert decreased_every_step(np.array([3.0, 2.0, 1.0, np.nan]))[1] == 2
    assert decreased_every_step(np.array([np.nan]))[:2] == (False, 0)


def test_ray_factor_is_one_on_the_boundary() -> None:
    from descentcheck.reports.region import ray_factor, tau_bound

    # the exact region is the triangle tau < min(lr, 2/L - lr): a ray below the diagonal
    # leaves it through the right edge tau = 2/L - lr
    for a in (1.2, 1.5, 1.9):
        assert ray_factor(a, tau_bound(a)) == pytest.approx(1.0)
    for a in (0.1, 0.75, 1.5, 1.9):
        assert ray_factor(a, 0.5 * tau_bound(a)) < 1.0
    assert math.isinf(ray_factor(0.5, tau_bound(0.5)))  # on the left edge tau = lr
    assert math.isinf(ray_factor(0.5, 0.6))


def test_epoch_loop_matches_the_reference_trainer_bit_for_bit() -> None:
    from descentcheck.impl.data import load_data
    from descentcheck.impl.network import Network
    from descentcheck.impl.trainer import train
    from descentcheck.reports.epochs import train_epochs

    spec = {
        "inputs": 4,
        "output": "out",
        "loss": "softmax_cross_entropy",
        "nodes": [
            {"name": "g", "op": "gaussian", "units": 5, "inputs": ["input"]},
            {"name": "out", "op": "gaussian_logits", "units": 3, "inputs": ["g"]},
        ],
    }
    ds = load_data("iris")
    net = Network.from_spec(spec)
    x, y = net.check_data(ds.x[:60], ds.y[:60])
    params = net.init(seed=1, x=x)
    for opt, hp in (("rmsprop", {"lr": 0.01}), ("momentum", {"lr": 0.1, "momentum": 0.9})):
        curves, final = train_epochs(net, params, (x, y, x, y), opt, 3, 16, seed=4, **hp)
        ref = train(net, params, x, y, optimizer=opt, steps=3 * 4, batch_size=16, seed=4, **hp)
        for k in final:
            np.testing.assert_array_equal(final[k], ref.params[k])
        assert curves.train_loss[-1] == ref.losses[-1]
        assert len(curves.test_acc) == 4


def test_same_seed_same_numbers() -> None:
    from descentcheck.reports import distance, region, vanishing
    from descentcheck.reports.progress import Silent

    prof = PROFILES["smoke"]
    for part in (region, vanishing):
        a = json.dumps(part.run(prof, 3, Silent()), sort_keys=True, default=str)
        b = json.dumps(part.run(prof, 3, Silent()), sort_keys=True, default=str)
        assert a == b, part.__name__
    spec = distance.HYBRID_SPECS["hybrid"]
    one = distance.run_one(spec, "rmsprop", 0.01, prof, 5)
    assert one == distance.run_one(spec, "rmsprop", 0.01, prof, 5)
    assert one != distance.run_one(spec, "rmsprop", 0.01, prof, 6)


def test_autoencoders_are_matched_in_size() -> None:
    from descentcheck.reports.autoencoder import (
        matched_widths,
        n_params,
        sequential_spec,
        skip_spec,
    )

    h_seq, h_skip = matched_widths()
    a, b = n_params(sequential_spec(h_seq)), n_params(skip_spec(h_skip))
    assert abs(a - b) / a < 0.01
    skips = [n for n in skip_spec(h_skip)["nodes"] if n["op"] == "concat"]
    assert len(skips) == 2
    # no skip bypasses the code: the output's inputs do not reach the input around the code
    assert skips[1]["inputs"] == ["a3", "code"]


def test_the_sweep_draws_the_reports_region_figure(monkeypatch, tmp_path: Path) -> None:
    """One region figure: the sweep's is the report's, fed the sweep's points (gd on the axis
    tau = 0, heavy ball and Nesterov in the constant-momentum plane, RMSProp and points without
    finite coordinates left out)."""
    from descentcheck.reports import region_section, sweep_figures

    seen: list[dict] = []

    def record(results: dict, path: Path) -> Path:
        seen.append(results)
        return path

    monkeypatch.setattr(region_section, "region_figure", record)
    points = [
        {"optimizer": "gd", "lr_L": 1.5, "tau_L": None, "beta": None, "decreased": True},
        {
            "optimizer": "adaptive_momentum",
            "lr_L": 0.5,
            "tau_L": 0.2,
            "beta": None,
            "decreased": False,
        },
        {
            "optimizer": "adaptive_momentum",
            "lr_L": "inf",
            "tau_L": 0.2,
            "beta": None,
            "decreased": False,
        },
        {"optimizer": "nesterov", "lr_L": 0.3, "tau_L": None, "beta": 0.9, "decreased": True},
        {"optimizer": "rmsprop", "lr_L": 0.3, "tau_L": None, "beta": None, "decreased": True},
    ]
    assert sweep_figures.region_figure(points, tmp_path / "r.png") == tmp_path / "r.png"
    assert seen == [
        {
            "adaptive": {
                "cases": [
                    {"lr_L": 1.5, "tau_L": 0.0, "decreased": True},
                    {"lr_L": 0.5, "tau_L": 0.2, "decreased": False},
                ]
            },
            "constant": {"cases": [{"lr_L": 0.3, "beta": 0.9, "decreased": True}]},
        }
    ]


def test_the_sweep_keeps_no_report_of_its_own() -> None:
    """The sweep package (properties/) renders nothing and imports nothing from reports/."""
    import descentcheck.properties.sweep as sweep

    folder = Path(sweep.__file__).parent
    assert not (folder / "report.py").exists() and not (folder / "figures.py").exists()
    for f in folder.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text("utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [a.name for a in node.names]
                bad = [n for n in names if n.startswith(("descentcheck.reports", "matplotlib"))]
                assert not bad, f"{f.name} imports {bad}"


def test_the_derivations_show_every_optimizers_update_rule() -> None:
    """Each registered optimizer (a plugin's too) with its state recurrences, its step and its
    region or the reason it has none, from the registry's SymPy derivation."""
    from descentcheck.registry.optimizers import registry
    from descentcheck.reports.derivations import derivations_section

    sec, out = derivations_section()
    updates = out["updates"]
    assert list(updates) == list(registry())
    for name, entry in registry().items():
        formulas = updates[name]["formulas"]
        assert any(f.startswith(r"\Delta w_{k} =") for f in formulas), (name, formulas)
        closing = updates[name]["notes"][-1]
        own = callable(entry.region)  # a plugin's own region is its claim, not a proof
        assert closing.startswith(
            "no exact"
            if not entry.region
            else "one-step descent region"
            if own
            else "exact one-step descent region"
        ), closing
        assert not own or "the plugin's claim (not proved here" in closing
    assert updates["momentum"]["formulas"][:2] == [
        r"\mathrm{buf}_{(-1)} = 0",
        r"\mathrm{buf}_{k} = \beta \mathrm{buf}_{(k-1)} + g_{k}",
    ]
    assert any(getattr(b, "id", "") == "optimizer-updates" for b in sec.blocks)


def test_each_formula_keeps_its_own_latex_whole() -> None:
    """Every op's and optimizer's formulas pair each MathML formula with its own LaTeX row,
    whole: a matrix's rows (an elementwise op's y and its Jacobian columns) and a case's are
    not row breaks of the block (split there, tanh's three formulas became six, half of them
    cut matrices and three copies of the softmax cross-entropy statement)."""
    from descentcheck.registry import ops as registry
    from descentcheck.registry.optimizers import registry as optimizers
    from descentcheck.reports.derivations import DIM, op_blocks, ops_of

    names = ops_of(*{o.family for o in registry.ops()}) + tuple(optimizers())
    for name in names:
        _, maths = op_blocks(name)
        for m in maths:
            assert m.latex.count(r"\begin{") == m.latex.count(r"\end{"), (name, m.latex)
        said = [m for m in maths if "exactly when" in m.latex]
        assert len(said) == (name == "softmax_cross_entropy"), (name, len(said))
        assert all(("exactly when" in m.mathml) == (m in said) for m in maths), name
        for m in maths:  # the align* marks go, a case's or a matrix's columns stay
            assert "&=" not in m.latex and not m.latex.rstrip().endswith("&"), (name, m.latex)
            in_cases = re.findall(r"\\begin\{cases\}(.*?)\\end\{cases\}", m.latex)
            assert all(c.count("&") == c.count(r"\\") + 1 for c in in_cases), (name, m.latex)
    _, relu = op_blocks("relu")  # a held-out audit: report.md showed "x_{0}  \text{for}..."
    assert r"\begin{cases} x_{0} & \text{for}\: x_{0} > 0 \\0 & \text{otherwise}" in relu[0].latex
    _, tanh = op_blocks("tanh")
    assert len(tanh) == 1 + DIM  # y, then dy/dx_i for each input
    assert tanh[0].latex.startswith(r"\mathbf{y} = \left[\begin{matrix}\tanh")
    assert r"\end{matrix}\right]" in tanh[0].latex and "partial" not in tanh[0].latex


def test_the_sweep_report_tables_every_optimizers_region_plugins_included() -> None:
    """The region figure draws the built-in regions; the table beside it reads every case's
    inside_region check: a plugin's region, its outcomes, and why a case has no verdict."""
    from descentcheck.properties.sweep.store import CaseRow
    from descentcheck.reports.sweep import region_rows

    def row(i, optimizer, inside, region=None, note="", rose=False, status="done"):
        checks = {
            "inside_region": {"inside": inside, "region": region, "note": note},
            "decrease_every_step": {"holds": not rose},
        }
        return CaseRow(
            f"k{i}", i, {"optimizer": optimizer}, status, {"checks": checks}, None,
            None, None, None, None, "{}", None,
        )  # fmt: skip

    refused = "sign: theory refuses its region 'gd' (proved for the update -g*lr)"
    rows = [
        row(0, "scaled_gd", True, "scaled_gd"),
        row(1, "scaled_gd", True, "scaled_gd", rose=True),
        row(2, "scaled_gd", False, "scaled_gd", rose=True),
        row(3, "rmsprop", None, "rmsprop", "the rmsprop region needs per-step grad, scale"),
        row(4, "sign", None, None, refused),
        row(5, "sign", None, None, refused),
        row(6, "gd", True, "gd", status="failed"),
    ]
    assert region_rows(rows) == (
        ("scaled_gd", "scaled_gd", "2", "1", "1", "0", ""),
        ("rmsprop", "rmsprop", "0", "0", "0", "1", "the rmsprop region needs per-step grad, scale"),
        ("sign", "none", "0", "0", "0", "2", refused),
    )


def test_the_sweep_region_figure_leaves_out_cases_without_a_verdict() -> None:
    """A relu net's cases (no verdict: E is not L-smooth) were drawn in the region plane, red
    crosses inside the "guaranteed decrease" triangle (sweep audit); only cases with a verdict
    are placed, inside or outside."""
    from descentcheck.properties.sweep.store import CaseRow
    from descentcheck.reports.sweep import _points

    def row(i, inside, rose):
        reg = {"inside": inside, "lr_L": 0.3, "tau_L": None, "beta": None, "note": ""}
        checks = {"inside_region": reg, "decrease_every_step": {"holds": not rose}}
        return CaseRow(
            f"k{i}", i, {"optimizer": "gd"}, "done", {"checks": checks}, None,
            None, None, None, None, "{}", None,
        )  # fmt: skip

    region, _ = _points([row(0, None, True), row(1, True, False), row(2, False, True)])
    assert [(p["lr_L"], p["decreased"]) for p in region] == [(0.3, True), (0.3, False)]


def test_the_region_figures_cases_are_drawn_over_its_band_and_notes() -> None:
    """The constant-momentum panel drew its beta = 0 band (a line) over the cases (a
    scatter's lower default z-order): six cases at beta = 0 could not be seen (a held-out
    report reader)."""
    from descentcheck.reports.plotting import pyplot
    from descentcheck.reports.region_section import _constant_panel

    plt = pyplot()
    fig, ax = plt.subplots()
    cases = [
        {"lr_L": 0.5, "beta": 0.0, "decreased": True},
        {"lr_L": 1.2, "beta": 0.9, "decreased": False},
    ]
    _constant_panel(ax, cases)
    top = max(a.get_zorder() for a in (*ax.lines, *ax.texts))
    drawn = [c for c in ax.collections if len(c.get_offsets())]
    assert drawn and all(c.get_zorder() > top for c in drawn)
    plt.close(fig)


def test_the_final_loss_figure_shows_diverged_cases_on_its_edge(monkeypatch, tmp_path) -> None:
    """A held-out sweep user: gd at lr 10 (final loss inf) and an RMSProp run (NaN) were left
    out of the figure, which said nothing; they are now triangles on the top edge, counted."""
    from descentcheck.reports import sweep_figures

    seen = {}
    monkeypatch.setattr(sweep_figures, "save", lambda fig, path: seen.setdefault("fig", fig))
    points = [
        {"optimizer": "gd", "initial": 0.09, "final": 0.01, "decreased": True},
        {"optimizer": "gd", "initial": 0.09, "final": "inf", "decreased": False},
        {"optimizer": "rmsprop", "initial": 0.09, "final": "nan", "decreased": False},
    ]
    sweep_figures.final_loss_figure(points, tmp_path / "f.png")
    ax = seen["fig"].axes[0]
    drawn = sum(len(c.get_offsets()) for c in ax.collections)
    assert drawn == 3  # every case, none dropped
    assert any("2 with an inf, NaN or zero final loss" in t.get_text() for t in ax.texts)


def test_every_rise_of_a_counterexample_is_drawn_red(monkeypatch, tmp_path) -> None:
    """A skip claim judged from step 1 drew its step-0 rise blue in the loss panel, red only in
    the bars (held-out report review): every rise of the stored run is red now."""
    from matplotlib.colors import to_hex

    from descentcheck.reports import counterexamples as cx
    from descentcheck.reports.plotting import INCREASE_COLOR

    shown = {}

    def keep(fig, path):
        shown["fig"] = fig
        return path

    monkeypatch.setattr(cx, "save", keep)
    spec = {
        "inputs": 1,
        "output": "out",
        "loss": "mse",
        "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
    }
    losses = [1.0, 1.5, 1.7, 1.2, 1.1]  # rises at steps 0 and 1; the judged one is step 1
    ce = {"spec": spec, "step": 1, "increase": 0.2}
    cx.counterexample_figure(ce, {"losses": losses, "stored_steps": 4}, "t", tmp_path / "f.png")
    ax = shown["fig"].axes[1]
    red = [
        tuple(line.get_xdata())
        for line in ax.get_lines()
        if to_hex(line.get_color()) == to_hex(INCREASE_COLOR)
    ]
    assert sorted(red) == [(0, 1), (1, 2)], red


def test_a_table_carries_its_caption_and_column_scopes() -> None:
    """A caption was a <p> before the table and headers had no scope, so a screen reader could
    not tie them to it (held-out report review)."""
    from descentcheck.reports.document import Table
    from descentcheck.reports.html import _table

    html = _table(Table(("a", "b"), (("1", "2"),), caption="what the table holds"))
    assert "<table><caption>what the table holds</caption><thead>" in html
    assert html.count('<th scope="col">') == 2 and 'class="caption"' not in html


def test_the_sweep_report_names_the_plugins_its_cases_ran_with() -> None:
    """A sweep's report says which plugins (package, version, source digest) made it."""
    from descentcheck.reports.sweep import _plugins_line

    code = {"descentcheck": "0.1.0 aaaa", "descentcheck.optimizers:scaled_gd": "good 0.1 bbbb"}
    meta = {"code_json": json.dumps(code)}
    assert _plugins_line(meta) == ["Plugins: optimizers:scaled_gd (good 0.1 bbbb)."]
    assert _plugins_line({"code_json": json.dumps({"descentcheck": "x"})}) == ["Plugins: none."]
    assert _plugins_line({}) == []  # made before the record: nothing claimed


def test_the_ledgers_command_reproduces_what_it_holds() -> None:
    """A two-claim ledger (``verify --claim a --claim b``) was reported as checked by ``verify
    --profile fast``, which runs every claim; the claims left out are now said."""
    from descentcheck.properties import BY_ID
    from descentcheck.reports.ledger_section import _command

    ids = list(BY_ID)
    everything = _command({"profile": "fast"}, [{"id": i} for i in ids])
    assert everything == "`descentcheck verify --profile fast`"
    two = _command({"profile": "fast"}, [{"id": ids[3]}, {"id": ids[0]}])
    assert two.startswith(f"`descentcheck verify --profile fast --claim {ids[3]} --claim {ids[0]}`")
    assert f"(of the {len(ids)} claims registered here, {len(ids) - 2} are not in this " in two
    many = _command({"profile": "ci"}, [{"id": i} for i in ids[:10]])
    assert many.startswith("`descentcheck verify --profile ci` with a selection of `--claim`s")
    # one left out (a hand-edited ledger's): "1 is", not "1 were not run" (a regression check)
    one = _command({"profile": "fast"}, [{"id": i} for i in ids[1:]])
    assert f"claims registered here, 1 is not in this ledger, `{ids[0]}`)" in one, one


def test_the_ledgers_process_count_is_worded_for_one_and_for_more() -> None:
    """A ledger of one worker was "(1 processes, ..." (contract audit)."""
    from descentcheck.reports.ledger_section import _processes

    assert [_processes(n) for n in (1, 2)] == ["1 process", "2 processes"]


def test_the_region_figure_catches_a_step_not_of_the_theorems_form(monkeypatch) -> None:
    """With L taken from the run's own steps (each step's secant curvature included), a step of
    the form d = -lr g + m, |m| = tau |g|, cannot rise inside the region: what the figure's
    "none inside rose" checks is that the trainer's steps have that form (a held-out review
    showed the count cannot fail otherwise). A trainer whose momentum term is three times
    longer than its tau says makes cases inside rise; the real one, none of the same cases."""
    from descentcheck.impl import trainer
    from descentcheck.reports import region

    def cases() -> list[dict]:
        out = [region.run_case(np.random.default_rng(s), "adaptive", 8) for s in range(12)]
        return [c for c in out if c is not None and c["inside_region"]]

    assert cases() and not any(not c["decreased"] for c in cases())
    real = trainer.train

    def longer_momentum(*args, **kw):
        return real(*args, **{**kw, "tau": 3.0 * kw["tau"]} if "tau" in kw else kw)

    monkeypatch.setattr(trainer, "train", longer_momentum)
    assert sum(not c["decreased"] for c in cases()) >= 2


def test_the_derivations_show_every_registered_op_once() -> None:
    """Each op's family is one of the section's groups: an op of another family (an
    activation's family misspelt, in the op registry's mutation run) was left out unseen."""
    from descentcheck.registry import ops as registry
    from descentcheck.reports.derivations import OP_GROUPS, ops_of

    shown = [op for _, _, families in OP_GROUPS for op in ops_of(*families)]
    assert sorted(shown) == sorted(registry.derive_names())


def test_a_loose_edge_along_the_learning_rate_is_told_past_2_with_its_evidence() -> None:
    """The smoke report said "no case rose below lr·L = 2.54" beside cases that rose at lr·L =
    0.43-1.26 (outside the region for their τ; a held-out audit): the first rise is the first
    past 2, and the sentence says how many cases between 2 and it decreased."""
    from descentcheck.reports.region import _summary_adaptive
    from descentcheck.reports.region_section import verdict_adaptive

    def case(lr_L: float, tau_L: float, decreased: bool, inside: bool = False) -> dict:
        return {
            "lr_L": lr_L,
            "tau_L": tau_L,
            "decreased": decreased,
            "inside_region": inside,
            "drawn": (lr_L, tau_L),
            "L": 1.0,
            "L0": 1.0,
            "ray_factor": 2.0,
            "skip_edges": 0,
            "distance_layers": 0,
        }

    cases = [
        case(0.5, 0.1, True, inside=True),
        case(0.433, 0.9, False),  # rose for its tau
        case(2.1, 0.0, True),
        case(2.3, 0.0, True),
        case(2.54, 0.0, False),
        case(2.9, 0.0, False),
    ]
    s = _summary_adaptive(cases)
    assert s["min_failing_lr_L_past_2"] == 2.54 and s["decreased_past_2_below_it"] == 2
    _, text = verdict_adaptive(s)
    assert (
        "Along the learning rate the bound looks **loose**: past lr·L = 2, where τ no longer "
        "matters, the first rise is at lr·L = 2.54, and the 2 cases between 2 and it decreased."
    ) in text
    assert "no case rose below" not in text


def test_markdown_writes_a_users_tag_as_text() -> None:
    """A sweep named ``<img src="https://...">`` made report.md fetch the image in a Markdown
    viewer, where index.html escapes it (sweep audit): ``<`` opening a tag is ``&lt;`` outside
    code spans; a comparison and code are kept."""
    from descentcheck.reports.document import Paragraph, Section, Table
    from descentcheck.reports.markdown import render_markdown

    tag = '<img src="https://evil.example/x.png">'
    sec = Section("cases", f"Cases of {tag}")
    sec.add(Paragraph(f"net {tag}: lr < 2/L, `a <b> c`"), Table(("name",), ((tag,),)))
    md = render_markdown(f"Sweep {tag}", [f"by {tag}"], [sec])
    assert (
        "<img" not in md and md.count("&lt;img") == 6
    )  # title, subtitle, contents, section, text, cell
    assert "lr < 2/L" in md and "`a <b> c`" in md


def test_vanishing_measures_weights_and_radii_apart() -> None:
    """A layer's measure is the RMS of its weights' gradient (W, centroids); the distance
    layers' radii are a series of their own: pooled, their 1/r-sized gradients decided the
    measure (a held-out audit: pooled first/last 18.9 where the centroids' was 0.91)."""
    import numpy as np

    from descentcheck.reports.vanishing import layer_rms

    grads = {
        "l1.centroids": np.full((2, 3), 1.0),
        "l1.radii": np.full((2, 3), 100.0),
        "out.centroids": np.full((1, 2), 2.0),
        "out.radii": np.full((1, 2), 4.0),
    }
    assert layer_rms(grads, 1, "centroids") == [1.0, 2.0]
    assert layer_rms(grads, 1, "radii") == [100.0, 4.0]


def _vanishing_result(ratios: dict[str, dict[str, float]]) -> dict:
    return {"first_over_last": {s: {d: [v] for d, v in r.items()} for s, r in ratios.items()}}


def test_vanishing_verdict_needs_a_clear_margin_over_tanh() -> None:
    """The paper's claim is read against both dot-product kinds: 0.94 against tanh's 0.93 is no
    win (a note), a clear margin is; below sigmoid is a failure; depths below tanh are named."""
    from descentcheck.reports.vanishing_section import _verdict

    def verdict(dist: float, tanh: float, sig: float = 1e-5):
        res = _vanishing_result(
            {
                "sigmoid": {"2": 0.3, "10": sig},
                "tanh": {"2": 0.91, "10": tanh},
                "distance": {"2": 0.11, "10": dist},
                "distance_radii": {"2": 15.0, "10": 24.0},
            }
        )
        return _verdict(res, "10")

    close = verdict(0.94, 0.93)
    assert close.kind == "note" and "not clearly less than tanh" in close.text
    assert "below tanh's at D = 2 (0.11 against 0.91)" in close.text
    # a depth where the centroids lose more than sigmoid is named too (the verdict read only
    # the deepest chain; a held-out audit found D = 2 below sigmoid unsaid)
    assert "below sigmoid's at D = 2 (0.11 against 0.3)" in close.text
    assert "radius gradients instead grow towards the input (24 times" in close.text
    assert verdict(2.0, 0.93).kind == "ok"
    assert verdict(1e-6, 0.93, sig=1e-5).kind == "fail"


def test_vanishing_run_records_each_series() -> None:
    from descentcheck.reports import vanishing
    from descentcheck.reports.progress import Silent

    res = vanishing.run(PROFILES["smoke"], 0, Silent())
    assert res["parameters"] == {
        "sigmoid": "W",
        "tanh": "W",
        "distance": "centroids",
        "distance_radii": "radii",
    }
    for series in vanishing.SERIES:
        assert set(res["first_over_last"][series]) == {
            str(d) for d in PROFILES["smoke"].vanishing_depths if d > 1
        }


def test_mean_interval_is_students_t() -> None:
    import math

    from descentcheck.reports.fmt import mean_interval

    lo, hi = mean_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.302653
    assert math.isclose(lo, 2 - 4.302652729749462 / math.sqrt(3), rel_tol=1e-12)
    assert math.isclose(hi, 2 + 4.302652729749462 / math.sqrt(3), rel_tol=1e-12)
    assert all(math.isnan(v) for v in mean_interval([1.0]))


def test_autoencoder_verdict_says_when_seeds_cannot_tell_the_difference() -> None:
    """+0.017 dB with sd 0.08 over 5 paired seeds was reported as "higher on average, better on
    4 of 5 seeds" with nothing saying it is indistinguishable from zero (held-out audit)."""
    from descentcheck.reports.autoencoder_section import OPTIMIZERS, _results_rows

    def runs(psnrs):
        return [{"test": {"mse": 0.01, "psnr": p, "mae": 0.05}, "curve": [1.0, 0.5]} for p in psnrs]

    seq = [20.0, 20.0, 20.0, 20.0, 20.0]
    noisy = [20.1, 19.9, 20.05, 20.02, 20.015]  # mean +0.017, sd 0.07
    clear = [20.5, 20.6, 20.4, 20.55, 20.45]
    res = {
        "params": {"sequential": 100, "skip": 100},
        "runs": {
            "sequential": {o: runs(seq) for o in OPTIMIZERS},
            "skip": {o: runs(noisy if i == 0 else clear) for i, o in enumerate(OPTIMIZERS)},
        },
    }
    _, verdicts = _results_rows(res)
    assert "5 seeds cannot tell it from zero" in verdicts[0], verdicts[0]
    one = {
        k: {a: {o: r[:1] for o, r in v.items()} for a, v in res["runs"].items()} for k in ["runs"]
    }
    _, single = _results_rows({**res, **one})
    assert all("1 seeds cannot tell it from zero" in v for v in single), single  # NaN interval
    assert "paired t 95% interval for the mean [" in verdicts[0]
    assert "a difference the 95% interval tells from zero" in verdicts[1], verdicts[1]


def test_the_initialisations_compared_differ_only_as_stated() -> None:
    """``unit_radii`` keeps the data-driven centroids and sets every radius to 1; ``no_data`` is
    the initialisation without data; ``data`` the one every other run uses."""
    import numpy as np

    from descentcheck.impl.examples import EXAMPLES
    from descentcheck.impl.network import Network
    from descentcheck.reports.distance import digits_split, initial_params

    net = Network.from_spec(EXAMPLES["digits_distance"])
    x, *_ = digits_split(40, 10, 3)
    x = net.check_data(x, np.zeros(len(x), dtype=int))[0]
    data = initial_params(net, "data", 3, x)
    assert all(np.array_equal(v, net.init(seed=3, x=x)[k]) for k, v in data.items())
    unit = initial_params(net, "unit_radii", 3, x)
    radii = [k for k in unit if k.endswith(".radii")]
    assert radii and all(np.all(unit[k] == 1.0) for k in radii)
    assert all(np.array_equal(unit[k], data[k]) for k in unit if k not in radii)
    assert not any(np.all(data[k] == 1.0) for k in radii)
    no_data = initial_params(net, "no_data", 3, x)
    assert all(np.array_equal(v, net.init(seed=3)[k]) for k, v in no_data.items())


def test_the_initialisation_callout_needs_intervals_that_exclude_zero() -> None:
    from descentcheck.reports.init_section import _callout

    both = _callout({"no_data": (0.01, 0.05), "unit_radii": (0.08, 0.3)})
    assert both.kind == "ok" and "initialisation matters here" in both.text
    one = _callout({"no_data": (-0.027, 0.029), "unit_radii": (0.08, 0.3)})
    assert one.kind == "note"
    assert "cannot tell the data-driven initialisation ahead of: without data" in one.text
    assert "shown here only for data's centroids, every radius 1" in one.text
    none = _callout({"no_data": (-0.1, 0.1), "unit_radii": (-0.2, 0.01)})
    assert none.kind == "note" and "none of the alternatives" in none.text
    # an alternative clearly ahead is said to be, not called level
    worse = _callout({"no_data": (-0.3, -0.1), "unit_radii": (0.08, 0.3)})
    assert worse.kind == "note" and "behind (the interval below 0): without data" in worse.text
    assert "cannot tell" not in worse.text


def test_distance_learning_rate_grids_are_a_quarter_decade_apart() -> None:
    """A grid x3 apart left the best rate of momentum between two points in the ledger's
    RMSProp claim; the report's grids are as fine, and keep their defaults (the smoke profile's
    one point)."""
    import itertools
    import math

    from descentcheck.reports.distance import GRIDS, grid
    from descentcheck.reports.profiles import PROFILES

    defaults = {"rmsprop": 0.01, "gd": 1.0, "momentum": 0.1, "adaptive_momentum": 1.0}
    for opt, (values, _) in GRIDS.items():
        steps = [math.log10(b / a) for a, b in itertools.pairwise(values)]
        assert all(abs(s - 0.25) < 0.02 for s in steps), (opt, values)
        assert grid(opt, 1) == (defaults[opt],)
        assert len(grid(opt, PROFILES["ci"].distance_lr_grid)) == len(values) == 9


def test_tuning_picks_the_lowest_final_loss_never_a_run_without_one(monkeypatch) -> None:
    """The lr grid's best is the lowest final training loss; a run that stopped without one
    (None, a diverged run's record) or with NaN is never the best, whatever its position."""
    from types import SimpleNamespace

    from descentcheck.reports import distance

    finals = {0.1: float("nan"), 0.2: 0.5, 0.4: None, 0.8: 0.3, 1.6: 0.9}
    monkeypatch.setattr(distance, "grid", lambda optimizer, points: tuple(finals))

    def fake_run(spec, optimizer, lr, profile, seed, init="data"):
        loss = finals[lr] if seed == 0 else 1.0
        return {"hyperparameters": {"lr": lr}, "seed": seed, "train_loss": [2.0, loss]}

    monkeypatch.setattr(distance, "run_one", fake_run)
    tick = SimpleNamespace(tick=lambda: None)
    out = distance.tuned_runs(None, "gd", SimpleNamespace(distance_lr_grid=5), 0, tick, 2)
    assert out["lr"] == 0.8 and [r["seed"] for r in out["runs"]] == [1, 2]
