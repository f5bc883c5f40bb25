"""``train`` from Python, called with drawn arguments: each call trains (completed or diverged)
or raises descentcheck's one-line error, never another exception. The optimizer is a name, an
unknown name or not a name; its settings are a valid set with up to two keys added or replaced
by drawn values; the data and parameters are valid or spoilt in one of the ways a user spoils
them. Found: ``optimizer=3`` was an ``AttributeError`` deep in the run; ragged lists were
numpy's ``ValueError``, and parameters given as a list or None a ``TypeError``."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st
from test_documents_fuzz import LEAVES, NASTY, SPEC

from descentcheck.impl.errors import DescentcheckError
from descentcheck.impl.network import Network
from descentcheck.impl.trainer import train
from descentcheck.properties.profiles import (
    TEST_PROFILE_MEDIUM,
    TEST_PROFILE_SURVEY,
    hypothesis_settings,
)

NET = Network.from_spec(SPEC)
X = np.linspace(-1, 1, 12).reshape(4, 3)
Y = np.array([0, 1, 1, 0])
PARAMS = NET.init(0, X)
SETTINGS = {  # a valid set for each built-in optimizer
    "gd": {"lr": 0.1},
    "momentum": {"lr": 0.1, "momentum": 0.5},
    "nesterov": {"lr": 0.1, "momentum": 0.5},
    "adaptive_momentum": {"lr": 0.1, "tau": 0.1},
    "rmsprop": {"lr": 0.01},
}
KEYS = ("lr", "momentum", "tau", "group", "rho", "eps", "steps", "batch_size", "seed")
KEYS += ("keep_params", "backend", "nesterov", "foo")
INPUTS = {
    "as given": lambda x: x,
    "a list": lambda x: x.tolist(),
    "NaN": lambda x: np.where(x > 0.9, np.nan, x),
    "3-d": lambda x: x[None],
    "integers": lambda x: (3 * x).astype(int),
    "no rows": lambda x: x[:0],
    "ragged rows": lambda x: [*x[:-1].tolist(), [1.0]],
}
SPOILS = {
    "as given": lambda p: p,
    "one missing": lambda p: dict(list(p.items())[1:]),
    "a wrong shape": lambda p: {**p, "h1.W": p["h1.W"][:1]},
    "lists": lambda p: {k: v.tolist() for k, v in p.items()},
    "NaN": lambda p: {**p, "h1.W": p["h1.W"] * np.nan},
    "ragged rows": lambda p: {**p, "h1.W": [*p["h1.W"][:-1].tolist(), [1.0]]},
    "not a mapping": lambda p: list(p.values()),
}


@st.composite
def calls(draw: st.DrawFn) -> tuple[object, dict, str, str]:
    optimizer = draw(st.sampled_from([*SETTINGS, "adam", 3, None]))
    changed = draw(
        st.dictionaries(st.sampled_from(KEYS), NASTY | LEAVES | st.floats(0, 1), max_size=2)
    )
    kw = {"steps": 2, **SETTINGS.get(optimizer, {}), **changed}  # type: ignore[call-overload]
    if isinstance(kw["steps"], int) and kw["steps"] > 20:
        kw["steps"] = 20  # a valid count; its size is not what this test is about
    weights = ["as given"] * 6
    x = draw(st.sampled_from(weights + list(INPUTS)[1:]))
    p = draw(st.sampled_from(weights + list(SPOILS)[1:]))
    return optimizer, kw, x, p


def verdict(call: tuple[object, dict, str, str]) -> str:
    optimizer, kw, x, p = call
    try:
        run = train(NET, SPOILS[p](PARAMS), INPUTS[x](X), Y, optimizer=optimizer, **kw)
    except DescentcheckError as e:
        assert "\n" not in str(e), str(e)
        return "refused"
    return run.status  # "completed" or "diverged"


@hypothesis_settings(TEST_PROFILE_MEDIUM, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls())
def test_train_trains_or_refuses_in_one_line(call):
    event(verdict(call))


def test_the_calls_reach_both_verdicts():
    seen: Counter[str] = Counter()

    @hypothesis_settings(TEST_PROFILE_SURVEY, suppress_health_check=[HealthCheck.too_slow])
    @given(call=calls())
    def survey(call):
        seen[verdict(call)] += 1

    survey()  # 300 calls
    assert seen["refused"] >= 20 and seen["completed"] >= 20, seen  # 33-46 completed when written


@pytest.mark.parametrize("optimizer", [3, None, 1.5])
def test_an_optimizer_that_is_no_name_is_one_line(optimizer):
    with pytest.raises(DescentcheckError, match="a registered name or an Optimizer"):
        train(NET, PARAMS, X, Y, optimizer=optimizer, steps=1)
