"""The trainer's optimizers against the momentum algebra's closed forms (a numeric check).

A *check* module (imports ``descentcheck.impl.optim``). Fed a sequence of gradients
``g_0 .. g_K`` (the updates of these optimizers depend on the gradients only), each optimizer's
updates are compared with the closed forms proved in :mod:`.momentum`:

* momentum: ``dw_k = -lr sum_i beta^(k-i) g_i``;
* nesterov: ``dw_k = -lr (g_k + beta buf_k)``, ``buf_k = sum_i beta^(k-i) g_i``;
* rmsprop: ``dw_k = -lr g_k / (sqrt(v_k) + eps)``, ``v_k = (1 - rho) sum_i rho^(k-i) g_i^2``;
* adaptive momentum: ``|dw_k + lr g_k| = tau |g_k|`` per group for k >= 1 (the momentum term
  has length tau |g_k|, the fact the descent region rests on), and ``dw_0 = -lr g_0``.

Errors are relative to the sum of the magnitudes of the terms (the closed forms add many terms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from descentcheck.impl.optim import Optimizer

Array = np.ndarray


@dataclass(frozen=True)
class OptimizerComparison:
    name: str
    max_scaled_error: float
    error: str = ""  # why no comparison could be made (a plugin's factory or derivation raised)
    at: str = ""  # where the worst error was met: the settings and the update

    @property
    def ok(self) -> bool:
        return not self.error and self.max_scaled_error <= 1e-12

    def problem(self) -> str:
        """One line for a failed comparison."""
        if self.error:
            return f"{self.name}: cannot be compared with its derivation ({self.error})"
        where = f" at {self.at}" if self.at else ""
        return f"{self.name} vs its derivation: {self.max_scaled_error:.3g}{where}"


def _run(opt: Optimizer, grads: list[dict[str, Array]]) -> list[dict[str, Array]]:
    """``opt``'s updates on ``grads`` from zero parameters."""
    return _run_from(opt, grads, None)[0]


def _run_from(
    opt: Optimizer, grads: list[dict[str, Array]], start: dict[str, Array] | None
) -> tuple[list[dict[str, Array]], list[dict[str, Array]]]:
    """``opt``'s updates on ``grads`` from ``start`` (zeros when not given), and the iterates
    each was applied to (w_0 .. w_(K-1))."""
    params = start if start is not None else {k: np.zeros_like(v) for k, v in grads[0].items()}
    state = opt.init(params)
    out, iterates = [], []
    for g in grads:
        iterates.append(params)
        upd, state, _info = opt.update(g, state, params)
        params = {k: params[k] + upd[k] for k in params}
        out.append(upd)
    return out, iterates


def _scaled(a: Array, b: Array, scale: Array) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(scale, 1e-300), initial=0.0))


def compare_optimizer(
    name: str,
    grads: list[dict[str, Array]],
    lr: float,
    momentum: float = 0.5,
    tau: float = 0.1,
    rho: float = 0.9,
    eps: float = 1e-8,
) -> OptimizerComparison:
    """One optimizer of ``descentcheck.impl.optim`` on the gradient sequence ``grads``."""
    from descentcheck.impl.optim import get_optimizer

    kwargs: dict[str, float] = {
        "momentum": {"momentum": momentum},
        "nesterov": {"momentum": momentum},
        "rmsprop": {"rho": rho, "eps": eps},
        "adaptive_momentum": {"tau": tau},
    }[name]
    updates = _run(get_optimizer(name, lr=lr, **kwargs), grads)
    worst = 0.0
    keys = list(grads[0])
    for k_step, upd in enumerate(updates):
        for key in keys:
            gs = np.array([g[key] for g in grads[: k_step + 1]])  # (k+1, ...)
            pw = np.array([float(k_step - i) for i in range(k_step + 1)])
            shape = (-1,) + (1,) * (gs.ndim - 1)
            g_k = gs[-1]
            if name in ("momentum", "nesterov"):
                w = (momentum**pw).reshape(shape)
                buf, buf_scale = (w * gs).sum(axis=0), (w * np.abs(gs)).sum(axis=0)
                if name == "momentum":
                    ref, scale = -lr * buf, lr * buf_scale
                else:
                    ref = -lr * (g_k + momentum * buf)
                    scale = lr * (np.abs(g_k) + momentum * buf_scale)
                worst = max(worst, _scaled(upd[key], ref, scale))
            elif name == "rmsprop":
                v = (1 - rho) * ((rho**pw).reshape(shape) * gs**2).sum(axis=0)
                ref = -lr * g_k / (np.sqrt(v) + eps)
                worst = max(worst, _scaled(upd[key], ref, np.abs(ref)))
        if name == "adaptive_momentum":
            for key in keys:  # group = "array": one coefficient per parameter array
                g_k = grads[k_step][key]
                term = upd[key] + lr * g_k
                gn = float(np.linalg.norm(g_k))
                if k_step == 0 or not np.any(updates[k_step - 1][key]):
                    worst = max(
                        worst, float(np.max(np.abs(term), initial=0.0)) / max(lr * gn, 1e-300)
                    )
                else:
                    tn = float(np.linalg.norm(term))
                    scale = tau * gn + lr * gn + float(np.linalg.norm(upd[key]))
                    worst = max(worst, abs(tn - tau * gn) / max(scale, 1e-300))
    return OptimizerComparison(name, worst)


# ---- every registered optimizer against its own SymPy derivation ----------------------------


def _flat(tree: dict[str, Array]) -> Array:
    return np.concatenate([np.ravel(v) for v in tree.values()])


def _drawn(entry: Any, rng: np.random.Generator, setting: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters from each declared ``draw`` range (uniform, or log-uniform), except those
    ``setting`` fixes (``registry.option_settings``); a default where no range is declared."""
    from descentcheck.registry.optimizers import example_value

    hp: dict[str, Any] = {k: v for k, v in setting.items() if v is not None}
    for h in entry.hyperparameters:
        if h.name in hp or h.kind == "choice":
            continue
        if h.draw is not None:
            lo, hi, log = h.draw
            hp[h.name] = float(
                np.exp(rng.uniform(np.log(lo), np.log(hi))) if log else rng.uniform(lo, hi)
            )
        else:  # the default (the unrolled rule needs a number for every symbol it declares)
            hp[h.name] = example_value(h)
    return hp


def compare_with_derivation(
    entry: Any,
    grads: list[dict[str, Array]],
    hp: dict[str, Any],
    start: dict[str, Array] | None = None,
) -> OptimizerComparison:
    """``entry``'s dict-form updates on ``grads`` from the parameters ``start`` (zeros when not
    given) against its :class:`UpdateRule` unrolled in mpmath at the same iterates (elementwise
    rules only); the error of each step relative to its largest entry."""
    import mpmath

    from .update_rules import unroll

    rule = entry.build_derivation(**hp)  # the rule of hp's choices, when it depends on them
    updates, iterates = _run_from(entry.make(**hp), grads, start)
    with mpmath.workdps(30):
        ref = unroll(rule, hp, [_flat(g) for g in grads], [_flat(w) for w in iterates])
    worst, at = 0.0, ""
    for k, (upd, r) in enumerate(zip(updates, ref)):
        exact = np.array([float(v) for v in r])
        scale = max(float(np.max(np.abs(exact), initial=0.0)), 1e-300)
        err = float(np.max(np.abs(_flat(upd) - exact), initial=0.0)) / scale
        if err > worst or not at:
            settings = ", ".join(
                f"{n}={v:.6g}" if isinstance(v, float) else f"{n}={v}" for n, v in hp.items()
            )
            worst, at = max(err, worst), f"update {k} of {len(updates)} ({settings})"
    return OptimizerComparison(entry.name, worst, at=at)


def _worst(entry: Any, rng: np.random.Generator, sequences: int) -> OptimizerComparison:
    """The largest scaled error of ``entry`` against its derivation over its option settings,
    ``sequences`` random gradient sequences each."""
    from descentcheck.registry.optimizers import option_settings

    worst = OptimizerComparison(entry.name, 0.0)
    for setting in option_settings(entry):
        for _ in range(sequences):
            K = int(rng.integers(1, 6))
            shapes = ((2, 3), (3,))
            grads = [{k: rng.normal(size=s) for k, s in zip("ab", shapes)} for _ in range(K)]
            hp = _drawn(entry, rng, setting)
            # from a point away from 0, so a rule reading w_k (weight decay) is tested at once
            start = {k: rng.normal(size=s) for k, s in zip("ab", shapes)}
            c = compare_with_derivation(entry, grads, hp, start)
            if c.max_scaled_error > worst.max_scaled_error or not worst.at:
                worst = c
    return worst


def compare_registered(seed: int = 0, sequences: int = 5) -> list[OptimizerComparison]:
    """Every registered optimizer with an elementwise derivation (all but adaptive momentum,
    whose rule needs group norms) on ``sequences`` random gradient sequences, its derivation's
    proofs included (a failed proof counts as an infinite error). One that lacks a part is left
    to :func:`registry_problems`; one whose rule or update raises is a failed comparison."""
    from descentcheck.impl.errors import one_line
    from descentcheck.registry.optimizers import pair_problem, registry, rule_problems

    from .update_rules import elementwise

    rng = np.random.default_rng(seed)
    out = []
    for entry in registry().values():
        # compared unless the update pair or the rule itself is missing (a refused region
        # alone does not skip the comparison: registry_problems reports it)
        if entry.derivation is None or pair_problem(entry) is not None:
            continue
        try:
            rules = [entry.build_derivation(**s) for s in entry.derivation_settings()]
            if not all(elementwise(rule) for rule in rules):
                continue
            if any(rule_problems(entry, rule) for rule in rules):
                continue  # an undeclared symbol cannot be evaluated: registry_problems names it
            failed = [p for rule in rules for p in rule.proofs if not p.holds]
            worst = _worst(entry, rng, sequences)
        except Exception as e:  # a plugin's rule or update failing: one line, not a traceback
            out.append(OptimizerComparison(entry.name, np.inf, one_line(e)))
            continue
        if failed:
            worst = OptimizerComparison(
                entry.name, np.inf, at=f"its identity {failed[0].name!r}, not proved"
            )
        out.append(worst)
    return out


def registry_problems() -> list[str]:
    """What any registered optimizer lacks (its update pair, its SymPy derivation, its region
    or a reason): ``registry.optimizers.coverage_problems`` over the registry, one line each."""
    from descentcheck.registry.optimizers import coverage_problems, registry

    return [p for entry in registry().values() for p in coverage_problems(entry)]
