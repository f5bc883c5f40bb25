"""Training on the device path gives the numpy path's bits (holds).

Every routine on the training path takes its array functions from the namespace of the arrays
it is handed (``impl/backend.py``), so the same code runs on numpy and on CuPy. The other claims
run numpy arrays only, where reading a device array's size through ``numpy.size`` or a complex
loss's kind through ``isinstance(E, complex)`` gives the same answer as the device-safe form:
the mutation run found both mutants alive. Here the trainer runs on
:mod:`descentcheck.impl.device_standin`, a strict CPU stand-in for CuPy (CuPy's names and
keywords only; a numpy array mixed in, an implicit conversion or a numpy function on a device
array raises), whose arithmetic is numpy's, so the device run must give the numpy run's bits:

* each setting (gd, heavy ball, Nesterov, adaptive momentum in each grouping, RMSProp with and
  without momentum) trains K steps on both backends, full batch or in drawn minibatches: the
  losses, gradient norms, step norms, coefficients and final parameters must be equal, but for
  adaptive momentum, whose per-group norms are separate reductions off numpy (one
  ``numpy.add.reduceat`` on it, see ``impl/optim/adaptive_momentum.py``): there each within
  1e-13 relative (of the largest entry of its kind);
* the same settings' dict form (``get_optimizer(...).update`` on per-array dicts, the public
  API) takes K steps from the network's gradients on numpy and on device arrays, compared the
  same way (coefficients and final parameters);
* every registered plugin optimizer, its hyperparameters drawn from their declared ranges,
  under each of its option settings (``registry.optimizers.option_settings``), trains and
  steps its dict form the same way, compared bit for bit: a plugin's update must take its array
  functions from the arrays' namespace too (``descentcheck.impl.backend.namespace``); one that
  calls ``numpy.*`` on a device array falsifies the claim with a message naming the plugin;
* the network's ``loss_and_grad`` at the complex point w + i h u (h = 2^-40, u drawn on a grid;
  the complex step of the gradient oracle and the Hessian-vector products) on device arrays must
  equal the numpy evaluation bit for bit, the loss staying complex (a Python or 0-d complex).

Half the cases force the distance layers onto their matmul evaluation (threshold 0), which
the small nets drawn here would not reach, so both evaluations run on the device path.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl.errors import one_line
from descentcheck.impl.optim import get_optimizer
from descentcheck.impl.trainer import train
from descentcheck.registry.optimizers import registry

from .. import registered_updates as registered
from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import cases, grid_floats, whatever_the_op
from .dict_form import setting_values, settings
from .matmul_path import distance_path
from .updates import SMALL

STEPS = 3
H = 2.0**-40  # the complex step: small, and exact in binary
AM_RTOL = 1e-13


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    # two blocks or more and relu among the activations: at one block, 33 of 80 ci cases were
    # one dense layer, tanh drew in none and add in one (a held-out coverage audit)
    case = draw(cases(SMALL, min_blocks=2, shape_options=whatever_the_op()), label="case")
    n = case.x.shape[0]
    minibatch = draw(st.booleans(), label="minibatches")
    # a byte, evenly drawn: integers(1, n - 1) drew batch size 1 in 36 of 55 minibatch cases
    size = draw(st.integers(0, 255), label="batch size")
    batch = 1 + size % max(1, n - 1) if minibatch else None
    hp = draw(setting_values(), label="settings")
    u = draw(hnp.arrays(np.float64, case.net.size, elements=grid_floats(1.0)), label="direction")
    matmul = draw(st.integers(0, 255), label="force the matmul evaluation") % 2 == 1
    plugins = registered.plugin_draws(draw)
    return {
        "case": case,
        "batch": batch,
        "hp": hp,
        "direction": u,
        "matmul": matmul,
        "plugins": plugins,
    }


def _differences(setting: dict[str, Any], ref: Any, dev: Any) -> list[str]:
    """What differs between the numpy run ``ref`` and the device run ``dev``."""
    name = "/".join(str(v) for k, v in setting.items() if k in ("optimizer", "group", "momentum"))
    if dev.status != ref.status:
        return [f"{name}: status {dev.status!r} on the device, {ref.status!r} on numpy"]
    pairs = [(q, getattr(ref, q), getattr(dev, q)) for q in ("losses", "grad_norms", "step_norms")]
    pairs += [("momentum", ref.momentum, dev.momentum)]
    pairs += [(f"parameter {k}", v, dev.params[k]) for k, v in ref.params.items()]
    out = []
    for what, a, b in pairs:
        a = np.asarray(a, dtype=float)  # None coefficients read as nan, equal to themselves
        b = np.asarray(b, dtype=float)
        if a.shape != b.shape:
            out.append(f"{name}: {what} has shape {b.shape} on the device, {a.shape} on numpy")
        elif setting["optimizer"] == "adaptive_momentum":
            scale = float(np.nanmax(np.abs(a), initial=0.0))
            gap = float(np.nanmax(np.abs(a - b), initial=0.0))
            if gap > AM_RTOL * scale or not np.array_equal(np.isnan(a), np.isnan(b)):
                out.append(f"{name}: {what} differs by {gap:.3g} (allowed {AM_RTOL} x {scale:.3g})")
        elif not np.array_equal(a, b, equal_nan=True):
            out.append(f"{name}: {what} differs: device {b.ravel()[:3]}, numpy {a.ravel()[:3]}")
    return out


def _complex_differences(drawn: dict[str, Any], standin: Any) -> list[str]:
    case = drawn["case"]
    net, xp = case.net, standin.xp
    w = net.unflatten(net.flatten(case.params) + 1j * H * drawn["direction"])
    E, g = net.loss_and_grad(w, case.x, case.yt)
    Ed, gd = net.loss_and_grad(
        {k: xp.asarray(v) for k, v in w.items()}, xp.asarray(case.x), xp.asarray(case.yt)
    )
    out = []
    # a 0-d device array stands for a scalar (CuPy's reductions give those); a float would
    # have dropped the imaginary part, the directional derivative
    if isinstance(Ed, float) or complex(Ed) != complex(E):
        out.append(f"complex loss {Ed!r} on the device, {E!r} on numpy")
    for k, v in g.items():
        if not np.array_equal(xp.asnumpy(gd[k]), v):
            out.append(f"complex-step gradient {k} differs between the device and numpy")
    return out


def _dict_form(case: Any, setting: dict[str, Any], xp: Any) -> tuple[Any, Any]:
    """STEPS steps of the setting's dict form (``get_optimizer(...).update``, the public
    per-array API) on numpy arrays and on device arrays: the two final parameter dicts and
    coefficient lists, as trajectories' fields."""
    opt = get_optimizer(**{("name" if k == "optimizer" else k): v for k, v in setting.items()})
    runs = []
    for on in (lambda a: a, xp.asarray):
        w = {k: on(v) for k, v in case.params.items()}
        x, y, state, coefs = on(case.x), on(case.yt), opt.init(w), []
        for _ in range(STEPS):
            _, g = case.net.loss_and_grad(w, x, y)
            u, state, info = opt.update(g, state, w)
            w = {k: w[k] + u[k] for k in w}
            coefs.append(info.momentum)
        params = {k: v if on is not xp.asarray else xp.asnumpy(v) for k, v in w.items()}
        runs.append(SimpleNamespace(status="", losses=[], grad_norms=[], step_norms=[],
                                    momentum=coefs, params=params))  # fmt: skip
    return runs[0], runs[1]


def _compare(drawn: dict[str, Any], standin: Any) -> tuple[list[str], int]:
    from descentcheck.impl.device_standin import DeviceLeak

    case, batch = drawn["case"], drawn["batch"]
    runs, out = 0, []
    builtin = [(s, "") for s in settings(**drawn["hp"])]
    plugins = [
        (s, registry()[s["optimizer"]].origin)
        for s in registered.plugin_settings(drawn.get("plugins", []))
    ]
    for setting, origin in builtin + plugins:
        kw = {"steps": STEPS, "batch_size": batch, "seed": 0, **setting}
        try:
            with np.errstate(all="ignore"):  # a diverging run is compared as it is
                ref = train(case.net, case.params, case.x, case.yt, **kw)
                dev = train(case.net, case.params, case.x, case.yt, backend=standin, **kw)
                ref_dict, dev_dict = _dict_form(case, setting, standin.xp)
        except Exception as e:
            if not origin:
                raise  # ours: reported by _check as the whole device path's failure
            # a plugin's update off the device (numpy.* on a device array): its fault, named
            what = "left the device" if isinstance(e, DeviceLeak) else "failed"
            out.append(f"{origin}: its init/update {what}: {one_line(e)}")
            continue
        runs += 1
        misses = _differences(setting, ref, dev)
        misses += [f"dict form {m}" for m in _differences(setting, ref_dict, dev_dict)]
        out += [f"{origin}: {m}" if origin else m for m in misses]
    with np.errstate(all="ignore"):
        out += _complex_differences(drawn, standin)
    return out, runs


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    from descentcheck.impl import device_standin

    standin = device_standin.backend()
    try:
        with distance_path(0 if drawn["matmul"] else None):
            misses, runs = _compare(drawn, standin)
    except device_standin.DeviceLeak as e:
        misses, runs = [f"the device path left the device: {e}"], 0
    except Exception as e:
        misses, runs = [f"the device path failed: {type(e).__name__}: {e}"], 0
    spec = drawn["case"].spec
    distance = any(n["op"] in ("gaussian", "gaussian_logits") for n in spec["nodes"])
    measured = {
        "cases_tested": 1.0,
        "runs_compared": float(runs),
        "minibatch_cases": float(drawn["batch"] is not None),
        "matmul_cases": float(drawn["matmul"] and distance),
        "differences": float(len(misses)),
    }
    return Verdict(not misses, measured, message="; ".join(misses)[:500])


DEVICE_PATH = Claim(
    id="device-path-equals-numpy-path",
    statement=(
        "Training on a strict CPU stand-in for CuPy gives the numpy run's bits (adaptive "
        "momentum to 1e-13) for every optimizer and option, registered plugins' included, "
        "full batch and minibatch, and the "
        "network's complex-step loss and gradient on device arrays equal numpy's"
    ),
    source=(
        "the backend contract (impl/backend.py: one implementation, array functions from the "
        "arrays' namespace); added after the mutation run (issue 12) found two device-only "
        "mutants alive"
    ),
    conditions=(
        "small random DAGs with skips (relu and any installed smooth=False activation or loss "
        f"among their ops), {STEPS} steps of each setting that "
        "optimizer-dict-form-equals-flat-form checks and of each plugin optimizer's option "
        "settings; half the cases on the distance layers' matmul evaluation",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "cases_tested": "sum",
        "runs_compared": "sum",
        "minibatch_cases": "sum",
        "matmul_cases": "sum",
        "differences": "sum",
    },
    cost=1.0,
    examples_scale=0.2,  # each case trains 18 runs and 18 dict-form runs
)

CLAIMS = (DEVICE_PATH,)
