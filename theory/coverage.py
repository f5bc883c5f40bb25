"""Coverage: every op and loss of the op registry has each of its rules, or a stated exclusion.

For every registered op (plugins' included) and every rule of
:data:`descentcheck.registry.ops.RULES`, :func:`gaps` looks the op up in that rule's table:

=========  ================================================================================
rule       table
=========  ================================================================================
numpy      ``impl.ops.factory`` (the built-in ``FACTORIES`` or the plugin's layer); losses:
           ``impl.losses.LOSSES`` (the built-in ``BUILTIN`` or the plugin's loss)
sympy      ``theory.units.builder``, for each derivation of the op (``gaussian_per_unit`` ...)
claimed    ``theory.claimed.rule``, for each derivation
mpmath     ``impl.mp_network``: ``mpmath_functions()`` (activations, plugins' losses),
           ``NODE_RULES``, ``LOSS_RULES``
interval   ``impl.mp_network``: ``arb_functions()`` (the same); the ``NODE_RULES`` and
           ``LOSS_RULES`` are written over any number type, so they are the others' interval
           rules too (``properties.certify`` evaluates them on Arb balls)
=========  ================================================================================

A missing rule is a gap unless the registry states why the op has none (``OpInfo.excluded``:
relu has no interval rule, as it is not differentiable at 0). Each gap is one line naming the op
and the rule; theory's checks fail on any, so an op registered without its SymPy derivation (or
its numpy layer) cannot pass unnoticed.
"""

from __future__ import annotations

from descentcheck.registry import ops as registry

from .check_result import PROVED, CheckResult


def _has(info: registry.OpInfo, rule: str) -> bool:
    from descentcheck.impl import mp_network

    from . import claimed, units

    if rule == "numpy":
        if info.kind == "loss":
            from descentcheck.impl.losses import LOSSES

            return info.name in LOSSES
        from descentcheck.impl.ops import factory

        return factory(info.name) is not None
    if rule == "sympy":
        return all(units.builder(v.name) is not None for v in info.variants)
    if rule == "claimed":
        return all(claimed.rule(v.name) is not None for v in info.variants)
    if info.plugin is None and info.kind == "loss":
        return info.name in mp_network.LOSS_RULES
    if info.plugin is None and info.kind != "elementwise":
        return info.name in mp_network.NODE_RULES
    # activations, and the plugins' losses, sit in the number type's function table
    table = mp_network.mpmath_functions() if rule == "mpmath" else mp_network.arb_functions()
    return info.name in table


def gaps() -> list[str]:
    """One line per registered op and rule with neither the rule nor a stated exclusion."""
    out = []
    for info in registry.ops():
        for rule, where in registry.RULES.items():
            if rule not in info.excluded and not _has(info, rule):
                out.append(f"op {info.name!r} has no {rule} rule ({where}) and no stated exclusion")
    return out


def exclusions() -> list[str]:
    """One line per stated exclusion: the op, the rule it lacks, and why."""
    return [
        f"{info.name}: no {rule} rule: {why}"
        for info in registry.ops()
        for rule, why in info.excluded.items()
    ]


def check_coverage() -> CheckResult:
    bad = gaps()
    n = len(registry.ops())
    return CheckResult(
        "coverage: every registered op and loss has each rule (numpy, SymPy, claimed, mpmath, "
        "interval) or a stated exclusion",
        PROVED,
        not bad,
        f"{n} ops and losses x {len(registry.RULES)} rules; {len(exclusions())} stated exclusions",
        [*bad, *exclusions()],
    )
