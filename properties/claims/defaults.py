"""Every optimizer factory's own defaults are the registry's declared ones (holds).

Issue 13 declares each hyperparameter once, in the optimizer registry (name, type, range,
default, help), and ``train``, the CLI, the sweep and replay build optimizers from it. The
factories in ``impl/optim`` keep keyword defaults too, for callers of ``impl.optim.rmsprop(lr)``
and the like: a second copy of each default, which the mutation run found free to drift (RMSProp's
momentum default 1.0 for 0.0 stayed alive, since the registry always passes every value).

Here each registered optimizer's factory signature is read: every declared hyperparameter must be
one of its keywords, and where the factory has a default it must equal the declared one. And the
optimizer the factory builds from the required values alone (its own defaults) must take the
same steps, bit for bit, on drawn gradients, as the one the registry builds (the declared
defaults). And a built-in factory, called directly, must refuse on its own every value outside
each declared float range (an open end itself; a closed end's next float outward) and accept a
closed end: the registry checks first on every path it builds from, so the factories' own checks
were under no claim.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.errors import HyperparameterError
from descentcheck.registry import optimizers as registry

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..registered_updates import hyperparameter_draws
from ..strategies import arrays, grid_floats

SIZE, STEPS = 3, 2


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    name = draw(st.sampled_from(registry.names()), label="optimizer")
    hp = draw(hyperparameter_draws(name), label="hyperparameters")
    required = {h.name for h in registry.get(name).hyperparameters if h.required}
    grads = [
        draw(arrays(np.float64, SIZE, grid_floats(1.0)), label=f"gradient {k}")
        for k in range(STEPS)
    ]
    return {"name": name, "given": {k: v for k, v in hp.items() if k in required}, "grads": grads}


def _signature_mismatches(name: str) -> list[str]:
    entry = registry.get(name)
    params = inspect.signature(registry.resolve(entry.factory)).parameters
    out = []
    for h in entry.hyperparameters:
        p = params.get(h.keyword)
        if p is None:
            out.append(f"{name}: the factory takes no {h.keyword!r}")
        elif p.default is not inspect.Parameter.empty and p.default != h.default:
            out.append(f"{name}: {h.keyword} defaults to {p.default!r}, declared {h.default!r}")
    return out


def _steps(opt: Any, grads: list[np.ndarray]) -> list[np.ndarray]:
    w = {"w": np.zeros(SIZE)}
    state, out = opt.init(w), []
    for g in grads:
        dw, state, _ = opt.update({"w": g.copy()}, state, w)
        out.append(np.asarray(dw["w"]))
    return out


def _behaviour_mismatch(name: str, given: dict[str, Any], grads: list[np.ndarray]) -> str:
    """The factory called with the required values only (its own defaults) against the registry
    building the optimizer (the declared defaults): the same steps, bit for bit. A keyword the
    factory gives no default of its own gets the declared one (the statement asks only that a
    default it has be the declared one: a held-out author's factory with none was failed)."""
    entry = registry.get(name)
    factory = registry.resolve(entry.factory)
    params = inspect.signature(factory).parameters
    args = {
        h.keyword: h.default
        for h in entry.hyperparameters
        if not h.required
        and h.keyword in params
        and params[h.keyword].default is inspect.Parameter.empty
    }
    args.update({entry.hyperparameter(k).keyword: v for k, v in given.items()})
    try:
        own = factory(**args)
    except Exception as e:  # a default outside its own range is refused by the factory
        return f"{name}: the factory's defaults fail: {type(e).__name__}: {e}"
    declared = entry.make(**given)
    for k, (a, b) in enumerate(zip(_steps(own, grads), _steps(declared, grads))):
        if a.tobytes() != b.tobytes():
            return f"{name}: step {k} with the factory's defaults {a} vs the declared {b}"
    return ""


def _range_mismatches(name: str, given: dict[str, Any]) -> list[str]:
    """A built-in factory, called directly, refuses on its own each value outside a declared
    float range (an open end itself, a closed end's next float outward) and accepts a closed
    end. The registry checks first on every path it builds from, so the factories' own checks
    ran under no claim (the mutation run found three of them loosened alive); a refusal must
    say what the registry says (the full run found a factory's label mangled alive). Plugins'
    factories need no checks of their own (the registry checks for them), so built-ins only."""
    entry = registry.get(name)
    if entry not in registry.BUILTINS:
        return []
    factory = registry.resolve(entry.factory)
    base = {h.keyword: given.get(h.name, h.default) for h in entry.hyperparameters}
    out = []
    for h in (h for h in entry.hyperparameters if h.kind == "float"):
        low = 0.0 if h.low is None else h.low  # the registry's convention: non-negative
        ends = [(low, h.low_open, -np.inf), (h.high, h.high_open, np.inf)]
        for end, is_open, outward in ((e, o, w) for e, o, w in ends if e is not None):
            past = float(np.nextafter(end, outward))
            trials = [(end, False)] if is_open else [(end, True), (past, False)]
            for value, accept in trials:
                try:
                    factory(**{**base, h.keyword: value})
                    took, said = True, ""
                except HyperparameterError as e:
                    took, said = False, str(e)
                if took != accept:
                    verb = "accepts" if took else "refuses"
                    out.append(f"{name}: the factory {verb} {h.keyword} = {value!r} on its own")
                elif not took and said != _registry_words(h, value):
                    # the refusal names the setting and its range as the registry does
                    out.append(f"{name}: the factory refuses {h.keyword} = {value!r} as {said!r}")
    return out


def _registry_words(h: Any, value: float) -> str:
    try:
        h.check(value)
    except HyperparameterError as e:
        return str(e)
    return "(accepted by the registry)"


def _check(drawn: Any, ctx: Context) -> Verdict:
    name = drawn["name"]
    misses = _signature_mismatches(name) + _range_mismatches(name, drawn["given"])
    behaviour = _behaviour_mismatch(name, drawn["given"], drawn["grads"])
    misses += [behaviour] if behaviour else []
    measured = {"optimizers_tested": 1.0, "mismatches": float(len(misses))}
    return Verdict(not misses, measured, message="; ".join(misses))


FACTORY_DEFAULTS = Claim(
    id="optimizer-factories-default-as-declared",
    statement=(
        "Every registered optimizer's factory takes each declared hyperparameter as a keyword, "
        "and its own default, where it has one, is the registry's declared default"
    ),
    source=(
        "issue 13 (each hyperparameter declared once, in descentcheck.registry.optimizers); "
        "added after the mutation run found a factory default free to drift"
    ),
    conditions=(
        "every registered optimizer, plugins included, drawn by name; its required "
        "hyperparameters drawn from their declared ranges; two steps on drawn gradients of a "
        "3-entry parameter",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"optimizers_tested": "sum", "mismatches": "sum"},
    cost=0.5,
)

CLAIMS = (FACTORY_DEFAULTS,)
