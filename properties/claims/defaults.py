"""Every optimizer factory's own defaults are the registry's declared ones (holds).

Issue 13 declares each hyperparameter once, in the optimizer registry (name, type, range,
default, help), and ``train``, the CLI, the sweep and replay build optimizers from it. The
factories in ``impl/optim`` keep keyword defaults too, for callers of ``impl.optim.rmsprop(lr)``
and the like: a second copy of each default, which the mutation run found free to drift (RMSProp's
momentum default 1.0 for 0.0 stayed alive, since the registry always passes every value).

Here each registered optimizer's factory signature is read: every declared hyperparameter must be
one of its keywords, and where the factory has a default it must equal the declared one.
"""

from __future__ import annotations

import inspect
from typing import Any

from hypothesis import strategies as st

from descentcheck.registry import optimizers as registry

from ..claim import Claim, Context, Verdict
from ..profiles import Profile


def _draw(profile: Profile) -> st.SearchStrategy[str]:
    return st.sampled_from(registry.names())


def _mismatches(name: str) -> list[str]:
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


def _check(name: Any, ctx: Context) -> Verdict:
    misses = _mismatches(name)
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
    conditions=("every registered optimizer, plugins included, drawn by name",),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"optimizers_tested": "sum", "mismatches": "sum"},
    cost=0.5,
)

CLAIMS = (FACTORY_DEFAULTS,)
