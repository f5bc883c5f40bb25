"""``python -m descentcheck.theory``: the summary and the exit status (the full run is the tox
env's first command; here the runner is exercised with stand-in checks)."""

from __future__ import annotations

from descentcheck.theory import __main__ as main_module
from descentcheck.theory import checks
from descentcheck.theory.checks import NUMERIC, PROVED, CheckResult


def _ok():
    return CheckResult("a proof", PROVED, True, "fine")


def _bad():
    return CheckResult("a number", NUMERIC, False, "off by 3 eps", ["detail line"])


def _crash():
    raise RuntimeError("boom")


def test_exit_status_zero_when_all_hold(monkeypatch, capsys):
    monkeypatch.setattr(checks, "CHECKS", (_ok,))
    assert main_module.main([]) == 0
    out = capsys.readouterr().out
    assert "[ok  ] a proof" in out and "1 passed, 0 failed" in out


def test_exit_status_nonzero_on_failure_or_crash(monkeypatch, capsys):
    monkeypatch.setattr(checks, "CHECKS", (_ok, _bad, _crash))
    assert main_module.main([]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] a number" in out and "detail line" in out
    assert "RuntimeError: boom" in out
    assert "1 passed, 2 failed" in out


def test_fast_checks_pass_for_real():
    for fn in (checks.check_softmax_ce, checks.check_symbolic_agreement, checks.check_momentum):
        r = fn()
        assert r.ok, r.details


def test_help_prints_usage_and_runs_nothing(monkeypatch, capsys):
    import pytest

    monkeypatch.setattr(checks, "CHECKS", (_crash,))
    with pytest.raises(SystemExit) as done:
        main_module.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m descentcheck.theory") and "boom" not in out


def test_the_derivations_check_reads_the_latex_mathml_and_sympy_it_prints(monkeypatch):
    """A held-out review: every LaTeX row negated and the MathML replaced by nonsense, and the
    "four formats" check still passed (it printed them and read none). Each now fails it."""
    from descentcheck.theory import render

    assert checks.check_derivations().ok
    real = dict(render._RENDERERS)
    for fmt, broken in (
        ("latex", lambda d: real["latex"](d).replace("&= ", r"&= -\left(")),
        ("mathml", lambda d: "<math><mi>nonsense</mi></math>"),
        ("mathml", lambda d: real["mathml"](d).replace("</math>", "", 1)),  # not well-formed
        ("sympy", lambda d: real["sympy"](d).replace(" = ", " = 2*")),
    ):
        monkeypatch.setitem(render._RENDERERS, fmt, broken)
        result = checks.check_derivations()
        assert not result.ok, fmt
        monkeypatch.setitem(render._RENDERERS, fmt, real[fmt])


def test_a_refused_plugin_is_reported_as_not_run(monkeypatch, capsys):
    """A plugin refused when the registries load leaves nothing checked: a held-out plugin
    author saw it under "Checked numerically" and counted as "1 numeric"."""
    from descentcheck.theory.checks import NOT_RUN

    refused = CheckResult("plugins load", NOT_RUN, False, "error: plugin 'x' ...")
    monkeypatch.setattr(checks, "run_all", lambda: [refused])
    assert main_module.main([]) == 1
    out = capsys.readouterr().out
    assert "== Not run\n[FAIL] plugins load" in out
    assert "(0 symbolic, 0 SMT, 0 numeric, 1 not run)" in out
    monkeypatch.setattr(checks, "run_all", lambda: [_ok()])
    main_module.main([])
    out = capsys.readouterr().out
    assert "Not run" not in out and "(1 symbolic, 0 SMT, 0 numeric)" in out
