"""Cross-check descentcheck's trainer against an independent PyTorch float64 reference.

The reference (``tests/torch_reference.py``) evaluates a spec-v1 network from the spec dict and a
``NAME.PARAM`` dict with its own topological order and torch ops, and takes gradients by autograd.
Each case trains the same network from the same initial parameters for 60 steps with
descentcheck's ``train`` and with ``torch.optim`` (``SGD``, ``SGD(momentum)``,
``SGD(momentum, nesterov=True)``, ``RMSprop`` with and without momentum), or with a direct torch
transcription of the papers' adaptive momentum, which torch lacks. descentcheck's side is
``descentcheck.testing.reference_trajectory`` and the comparison is
``descentcheck.testing.assert_trajectory_close``, as a user's own suite would do it: at every step
E(w_k), the full-batch loss before every update and after the last (relative difference
<= 1e-10), the norm of the gradient each update used (<= 1e-9), and every iterate w_k (relative
to each array's largest entry, <= 1e-9); a failure names the first step and quantity that differ.

Learning rates are chosen so that every run moves far (the loss drops at least by half) while
staying out of the oscillating regime, where rounding differences of 1e-16 are amplified
step after step and no two correct implementations agree.

Only run by ``tox -e crosscheck`` (``pytest -m crosscheck``); skipped where torch is absent.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytestmark = [pytest.mark.crosscheck]

torch = pytest.importorskip("torch", reason="torch is only installed in the crosscheck tox env")

try:  # tests/ on sys.path (rootdir-relative import, no tests/__init__.py)
    import torch_reference as ref
except ImportError:  # tests/ as a package
    from tests import torch_reference as ref

from descentcheck.impl.examples import EXAMPLES  # noqa: E402
from descentcheck.impl.network import Network  # noqa: E402
from descentcheck.impl.trainer import minibatches  # noqa: E402
from descentcheck.testing import (  # noqa: E402
    TrajectoryMismatch,
    assert_trajectory_close,
    reference_trajectory,
)

STEPS = 60
LOSS_RTOL = 1e-10
PARAM_RTOL = 1e-9
GRAD_RTOL = 1e-12
N_SAMPLES = 24

# ---- the networks -----------------------------------------------------------------------------

NETS = {
    # dense/tanh chain with two add skips (one of three inputs), listed in reverse order so the
    # topological sort is exercised
    "skip_chain": {
        "inputs": 3,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "out", "op": "dense", "units": 2, "inputs": ["s2"]},
            {"name": "s2", "op": "add", "inputs": ["a3", "s", "a1"]},
            {"name": "a3", "op": "tanh", "inputs": ["h3"]},
            {"name": "h3", "op": "dense", "units": 8, "inputs": ["s"]},
            {"name": "s", "op": "add", "inputs": ["a2", "a1"]},
            {"name": "a2", "op": "tanh", "inputs": ["h2"]},
            {"name": "h2", "op": "dense", "units": 8, "inputs": ["a1"]},
            {"name": "a1", "op": "tanh", "inputs": ["h1"]},
            {"name": "h1", "op": "dense", "units": 8, "inputs": ["input"]},
        ],
    },
    # the example spec of DESIGN.md (gaussian per_connection after an add skip)
    "design_example": EXAMPLES["design"],
    # concat skips (the raw input reaches a deep layer), gaussian per_unit, softplus, sigmoid
    "concat_gauss_unit": {
        "inputs": 4,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h", "op": "dense", "units": 6, "inputs": ["input"]},
            {"name": "sp", "op": "softplus", "inputs": ["h"]},
            {"name": "g", "op": "gaussian", "units": 5, "radius": "per_unit", "inputs": ["sp"]},
            {"name": "cat", "op": "concat", "inputs": ["g", "input", "sp"]},
            {"name": "h2", "op": "dense", "units": 5, "inputs": ["cat"]},
            {"name": "sg", "op": "sigmoid", "inputs": ["h2"]},
            {"name": "cat2", "op": "concat", "inputs": ["sg", "g"]},
            {"name": "out", "op": "dense", "units": 2, "inputs": ["cat2"]},
        ],
    },
    # distance classifier: gaussian_logits output into softmax cross-entropy, concat skips
    "gauss_logits_ce": {
        "inputs": 4,
        "output": "out",
        "loss": "softmax_cross_entropy",
        "nodes": [
            {
                "name": "out",
                "op": "gaussian_logits",
                "units": 3,
                "radius": "per_connection",
                "inputs": ["cat"],
            },
            {"name": "cat", "op": "concat", "inputs": ["t", "g1"]},
            {"name": "t", "op": "tanh", "inputs": ["h"]},
            {"name": "h", "op": "dense", "units": 5, "inputs": ["c"]},
            {"name": "c", "op": "concat", "inputs": ["g1", "input"]},
            {
                "name": "g1",
                "op": "gaussian",
                "units": 6,
                "radius": "per_connection",
                "inputs": ["input"],
            },
        ],
    },
    # relu with an add skip and an identity (pre-activations stay away from the kink at 0)
    "relu_skip": {
        "inputs": 3,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h1", "op": "dense", "units": 10, "inputs": ["input"]},
            {"name": "r1", "op": "relu", "inputs": ["h1"]},
            {"name": "h2", "op": "dense", "units": 10, "inputs": ["r1"]},
            {"name": "r2", "op": "relu", "inputs": ["h2"]},
            {"name": "s", "op": "add", "inputs": ["r2", "r1"]},
            {"name": "i", "op": "identity", "inputs": ["s"]},
            {"name": "out", "op": "dense", "units": 1, "inputs": ["i"]},
        ],
    },
}


def problem(name: str) -> tuple[dict, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(spec, x, y, initial params) for a named net: fixed-seed data and an initialisation drawn
    by the reference (not by descentcheck). Regression targets are a smooth function of x plus
    noise; class targets are one-hot argmax labels of a random linear map."""
    spec = NETS[name]
    rng = np.random.default_rng(20240 + sorted(NETS).index(name))
    d = spec["inputs"]
    m = ref.widths(spec)[spec["output"]]
    x = rng.standard_normal((N_SAMPLES, d))
    A = rng.standard_normal((d, m))
    if spec["loss"] == "mse":
        y = np.sin(x @ A) + 0.5 * np.cos(x[:, :1]) + 0.1 * rng.standard_normal((N_SAMPLES, m))
    else:
        y = np.eye(m)[np.argmax(x @ A, axis=1)]
    params = ref.init_params(spec, x, seed=7)
    return spec, x, y, params


# ---- comparisons ------------------------------------------------------------------------------

# per quantity: E(w_k), ||g_k|| and every iterate w_k (relative to each array's largest entry)
TOLERANCE = {"loss": LOSS_RTOL, "grad_norm": PARAM_RTOL, "params": PARAM_RTOL}


def relative_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.finfo(np.float64).tiny)
    rel = np.abs(a - b) / scale
    return np.where(a == b, 0.0, rel)  # equal infinities count as equal


def assert_same_run(label: str, reference, run: ref.Run, rtol=TOLERANCE) -> None:
    """descentcheck's trajectory and torch's agree at every step (``descentcheck.testing``)."""
    __tracebackhide__ = True
    assert reference.status == "completed", f"{label}: {reference.status}: {reference.message}"
    try:
        assert_trajectory_close(reference, run.as_candidate(), rtol=rtol)
    except TrajectoryMismatch as e:
        pytest.fail(f"{label}: {e}", pytrace=False)


# ---- torch.optim optimizers -------------------------------------------------------------------


def torch_optimizer(name: str, hp: dict):
    """The ``torch.optim`` optimizer that DESIGN.md's table names as the same as ``name``."""
    lr = hp["lr"]

    def make(ps):
        if name == "gd":
            return torch.optim.SGD(ps, lr=lr)
        if name == "momentum":
            return torch.optim.SGD(ps, lr=lr, momentum=hp["momentum"])
        if name == "nesterov":
            return torch.optim.SGD(ps, lr=lr, momentum=hp["momentum"], nesterov=True)
        if name == "rmsprop":
            return torch.optim.RMSprop(
                ps, lr=lr, alpha=hp["rho"], eps=hp["eps"], momentum=hp.get("momentum", 0.0)
            )
        raise ValueError(name)

    return make


# (net, optimizer, hyperparameters): each run drops the loss a lot without oscillating
CASES = [
    ("skip_chain", "gd", {"lr": 0.1}),
    ("skip_chain", "momentum", {"lr": 0.1, "momentum": 0.5}),
    ("skip_chain", "nesterov", {"lr": 0.05, "momentum": 0.9}),
    ("skip_chain", "rmsprop", {"lr": 0.005, "rho": 0.99, "eps": 1e-8}),
    ("skip_chain", "rmsprop", {"lr": 0.003, "rho": 0.99, "eps": 1e-8, "momentum": 0.5}),
    ("design_example", "gd", {"lr": 0.3}),
    ("design_example", "momentum", {"lr": 0.2, "momentum": 0.5}),
    ("design_example", "nesterov", {"lr": 0.1, "momentum": 0.9}),
    ("design_example", "rmsprop", {"lr": 0.003, "rho": 0.99, "eps": 1e-8}),
    ("design_example", "rmsprop", {"lr": 0.002, "rho": 0.99, "eps": 1e-8, "momentum": 0.5}),
    ("concat_gauss_unit", "gd", {"lr": 0.2}),
    ("concat_gauss_unit", "momentum", {"lr": 0.2, "momentum": 0.5}),
    ("concat_gauss_unit", "nesterov", {"lr": 0.2, "momentum": 0.9}),
    ("concat_gauss_unit", "rmsprop", {"lr": 0.005, "rho": 0.9, "eps": 1e-8}),
    ("concat_gauss_unit", "rmsprop", {"lr": 0.002, "rho": 0.99, "eps": 1e-8, "momentum": 0.5}),
    ("gauss_logits_ce", "gd", {"lr": 0.3}),
    ("gauss_logits_ce", "momentum", {"lr": 0.3, "momentum": 0.5}),
    ("gauss_logits_ce", "nesterov", {"lr": 0.05, "momentum": 0.9}),
    ("gauss_logits_ce", "rmsprop", {"lr": 0.005, "rho": 0.99, "eps": 1e-6}),
    ("gauss_logits_ce", "rmsprop", {"lr": 0.005, "rho": 0.9, "eps": 1e-8, "momentum": 0.5}),
    ("relu_skip", "gd", {"lr": 0.2}),
    ("relu_skip", "momentum", {"lr": 0.2, "momentum": 0.5}),
    ("relu_skip", "nesterov", {"lr": 0.1, "momentum": 0.9}),
    ("relu_skip", "rmsprop", {"lr": 0.005, "rho": 0.99, "eps": 1e-8}),
    ("relu_skip", "rmsprop", {"lr": 0.002, "rho": 0.99, "eps": 1e-8, "momentum": 0.5}),
]


def case_id(case) -> str:
    net, opt, hp = case
    return f"{net}-{opt}" + ("+momentum" if opt == "rmsprop" and "momentum" in hp else "")


def check_moves(label: str, losses: np.ndarray) -> None:
    """The comparison means something only if training went somewhere."""
    assert np.all(np.isfinite(losses)), f"{label}: non-finite loss {losses}"
    assert losses[-1] <= 0.5 * losses[0], (
        f"{label}: loss only went from {losses[0]:.6g} to {losses[-1]:.6g}; pick a larger lr"
    )


# ---- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NETS))
def test_loss_and_gradient_match_autograd(name):
    """At the initial parameters E and dE/dw agree with torch autograd (to rounding)."""
    spec, x, y, params = problem(name)
    net = Network.from_spec(spec)
    E, grads = net.loss_and_grad(params, x, y)
    E_t, grads_t = ref.loss_and_grad(spec, params, x, y)
    assert E == pytest.approx(E_t, rel=GRAD_RTOL, abs=0.0), f"{name}: E(w_0)"
    assert sorted(grads) == sorted(grads_t), f"{name}: gradient names differ"
    for k, g_t in grads_t.items():
        scale = float(np.max(np.abs(g_t), initial=0.0))
        np.testing.assert_allclose(
            grads[k], g_t, rtol=0.0, atol=GRAD_RTOL * scale, err_msg=f"{name}: dE/d{k} at w_0"
        )


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_full_batch_trajectory_matches_torch_optim(case):
    name, opt, hp = case
    label = case_id(case)
    spec, x, y, params = problem(name)
    before = copy.deepcopy(params)
    traj = reference_trajectory(spec, params, x, y, optimizer=opt, steps=STEPS, **hp)
    run = ref.train_torch(spec, params, x, y, torch_optimizer(opt, hp), STEPS)
    assert len(traj.losses) == STEPS + 1
    check_moves(label, run.losses)
    assert_same_run(label, traj, run)
    for k in before:  # neither side touched the caller's arrays
        np.testing.assert_array_equal(params[k], before[k], err_msg=f"{label}: {k} was mutated")


MINIBATCH_CASES = [
    ("design_example", "momentum", {"lr": 0.05, "momentum": 0.5}, 8),
    ("concat_gauss_unit", "rmsprop", {"lr": 0.002, "rho": 0.99, "eps": 1e-8, "momentum": 0.5}, 10),
    ("relu_skip", "gd", {"lr": 0.1}, 10),
    ("gauss_logits_ce", "nesterov", {"lr": 0.05, "momentum": 0.5}, 8),
    ("skip_chain", "rmsprop", {"lr": 0.002, "rho": 0.99, "eps": 1e-8}, 8),
]


@pytest.mark.parametrize(
    "case",
    MINIBATCH_CASES,
    ids=[f"{case_id(c[:3])}-batch{c[3]}" for c in MINIBATCH_CASES],
)
def test_minibatch_trajectory_matches_torch_optim(case):
    """Seeded minibatches: torch is fed the very index arrays descentcheck's ``minibatches``
    generator yields (a batch size of 10 out of 24 leaves a short last batch per epoch); the
    recorded loss stays the full-batch loss before each update."""
    name, opt, hp, batch_size = case
    label = f"{case_id(case[:3])} batch {batch_size}"
    seed = 11
    spec, x, y, params = problem(name)
    traj = reference_trajectory(
        spec, params, x, y, optimizer=opt, steps=STEPS, batch_size=batch_size, seed=seed, **hp
    )
    batches = minibatches(len(x), batch_size, seed)
    run = ref.train_torch(spec, params, x, y, torch_optimizer(opt, hp), STEPS, batches=batches)
    check_moves(label, run.losses)
    assert_same_run(label, traj, run)


ADAPTIVE = {"lr": 0.1, "tau": 0.1}


@pytest.mark.parametrize("group", ["array", "unit", "node", "global"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_adaptive_momentum_matches_formula(name, group):
    """dw_k = -lr g_k + alpha_k dw_{k-1}, alpha_k = tau ||g_k|| / ||dw_{k-1}|| (0 at dw = 0),
    one alpha per group; "array" is descentcheck's default, so that run passes no ``group``."""
    label = f"{name} adaptive_momentum group={group}"
    spec, x, y, params = problem(name)
    kwargs = {} if group == "array" else {"group": group}
    traj = reference_trajectory(
        spec, params, x, y, optimizer="adaptive_momentum", steps=STEPS, **ADAPTIVE, **kwargs
    )
    run = ref.train_adaptive_momentum(spec, params, x, y, steps=STEPS, group=group, **ADAPTIVE)
    check_moves(label, run.losses)
    assert_same_run(label, traj, run)


def test_adaptive_momentum_groupings_are_distinguishable():
    """The grouping test has teeth: per-array and global coefficients give trajectories far
    further apart than the tolerance, so a mixed-up grouping cannot pass."""
    spec, x, y, params = problem("design_example")
    per_array = ref.train_adaptive_momentum(spec, params, x, y, steps=STEPS, **ADAPTIVE)
    single = ref.train_adaptive_momentum(
        spec, params, x, y, steps=STEPS, group="global", **ADAPTIVE
    )
    assert relative_differences(per_array.losses, single.losses).max() > 1e3 * LOSS_RTOL


@pytest.mark.parametrize("name", ["design_example", "concat_gauss_unit"])
def test_unit_grouping_is_distinguishable(name):
    """Per-unit coefficients are not per-array or per-node ones: on a net with dense and
    distance layers the trajectories differ far beyond the tolerance, so a transcription (or a
    trainer) that grouped units as whole arrays or nodes cannot pass the unit case above."""
    spec, x, y, params = problem(name)
    unit = ref.train_adaptive_momentum(spec, params, x, y, steps=STEPS, group="unit", **ADAPTIVE)
    for other in ("array", "node"):
        run = ref.train_adaptive_momentum(spec, params, x, y, steps=STEPS, group=other, **ADAPTIVE)
        assert relative_differences(unit.losses, run.losses).max() > 1e3 * LOSS_RTOL, other


# ---- the heavy-ball counterexample ------------------------------------------------------------

HEAVY_BALL_SPEC = {
    "inputs": 1,
    "output": "out",
    "loss": "mse",
    "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
}


def heavy_ball_problem():
    """E(w, b) = 1/2 (w + b)^2: a 1 -> 1 dense net, x = [[1]], y = [[0]], mse. From w = 1.5,
    b = 0.5, E(w_0) = 2 and the gradient (2, 2) is exact in binary."""
    x = np.array([[1.0]])
    y = np.array([[0.0]])
    params = {"out.W": np.array([[1.5]]), "out.b": np.array([0.5])}
    return x, y, params


def test_heavy_ball_smoothness_is_two():
    """L = 2 (the Hessian [[1, 1], [1, 1]]), so lr = 1/L = 0.5."""
    x, y, _ = heavy_ball_problem()
    y_t = torch.tensor(y)

    def E(v):
        p = {"out.W": v[0].reshape(1, 1), "out.b": v[1].reshape(1)}
        return ref.loss(HEAVY_BALL_SPEC, ref.forward(HEAVY_BALL_SPEC, p, torch.tensor(x)), y_t)

    H = torch.autograd.functional.hessian(E, torch.tensor([1.5, 0.5], dtype=torch.float64))
    np.testing.assert_allclose(torch.linalg.eigvalsh(H).numpy(), [0.0, 2.0], atol=1e-15)


def test_heavy_ball_at_one_over_L_raises_the_loss_by_beta_squared():
    """Constant momentum beta = 0.1 at lr = 1/L: step 0 lands on the minimum (E(w_1) = 0
    exactly), and the leftover momentum carries the next step off it, to
    E(w_2) = beta^2 (E(w_0) - E*) = 0.01 * 2, in descentcheck and in torch alike."""
    x, y, params = heavy_ball_problem()
    lr, beta = 0.5, 0.1
    traj = reference_trajectory(
        HEAVY_BALL_SPEC, params, x, y, optimizer="momentum", lr=lr, momentum=beta, steps=2
    )
    run = ref.train_torch(
        HEAVY_BALL_SPEC, params, x, y, torch_optimizer("momentum", {"lr": lr, "momentum": beta}), 2
    )
    expected_rise = beta**2 * 2.0
    for who, losses in (("descentcheck", traj.losses), ("torch", run.losses)):
        assert losses[0] == 2.0, f"{who}: E(w_0) = {losses[0]!r}, expected 2"
        assert losses[1] == 0.0, f"{who}: E(w_1) = {losses[1]!r}, expected exactly 0"
        rel = float(relative_differences(losses[2], expected_rise))
        assert rel <= 1e-12, (
            f"{who}: E(w_2) = {losses[2]!r}, expected beta^2 E(w_0) = {expected_rise!r} "
            f"(rel diff {rel:.3e})"
        )
        assert losses[2] > losses[1], f"{who}: the loss did not rise: {list(losses)}"
    assert_same_run("heavy ball", traj, run, rtol=1e-12)


def test_heavy_ball_adaptive_momentum_does_not_rise():
    """Adaptive momentum with tau = 0.1 at the same lr: alpha_1 = tau ||g_1|| / ||dw_0|| = 0 at
    the minimum, so the iterate stays there and the loss never rises."""
    x, y, params = heavy_ball_problem()
    hp = {"lr": 0.5, "tau": 0.1}
    for group in ("array", "global"):
        traj = reference_trajectory(
            HEAVY_BALL_SPEC, params, x, y, optimizer="adaptive_momentum", group=group, steps=5, **hp
        )
        run = ref.train_adaptive_momentum(HEAVY_BALL_SPEC, params, x, y, steps=5, group=group, **hp)
        assert_same_run(f"heavy ball adaptive_momentum group={group}", traj, run, rtol=1e-12)
        for who, losses in (("descentcheck", traj.losses), ("torch", run.losses)):
            assert list(losses) == [2.0, 0.0, 0.0, 0.0, 0.0, 0.0], (
                f"{who} adaptive_momentum group={group}: losses {list(losses)}"
            )
            assert np.all(np.diff(losses) <= 0.0)


@pytest.mark.parametrize("name", ["sgdw", "adamw"])
@pytest.mark.parametrize("net", ["skip_chain", "gauss_logits_ce"])
def test_weight_decay_plugins_match_torch(plugins, name, net):
    """Optimizers whose rule reads ``w_k`` (``UpdateRule.parameter``), as plugins, against
    torch's ``SGD(momentum, weight_decay)`` and ``AdamW``: the update decays the iterate it is
    applied to, as torch's does (a held-out plugin audit found weight decay impossible to
    declare)."""
    from optimizer_plugins import FakeEntryPoint
    from weight_decay_plugins import ADAMW, SGDW

    plugins(FakeEntryPoint(name, {"sgdw": SGDW, "adamw": ADAMW}[name]))
    spec, x, y, params = problem(net)
    if name == "sgdw":
        hp = {"lr": 0.05, "momentum": 0.7, "wd": 0.3}
        make = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.7, weight_decay=0.3)  # noqa: E731
    else:
        hp = {"lr": 0.01, "wd": 0.3, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6}
        make = lambda p: torch.optim.AdamW(  # noqa: E731
            p, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3
        )
    traj = reference_trajectory(spec, params, x, y, optimizer=name, steps=STEPS, **hp)
    run = ref.train_torch(spec, params, x, y, make, STEPS)
    assert_same_run(f"{net} {name}", traj, run)


def test_the_readmes_testing_example_runs_and_quotes_its_mismatch_message():
    """The README's ``descentcheck.testing`` example passes as written, and the mismatch its
    comment quotes (a candidate loss 2.32e-9 too high at step 2) is the message raised: it
    quoted a tolerance of 1.17e-09 where the rule gives 1.33e-09 (a held-out new user)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```python\n(import numpy as np\nimport torch\n.*?)```", readme, re.S)
    assert block, "the README's testing example changed shape"
    code, comment = block[1].split("# on a mismatch", 1)
    scope: dict = {}
    exec(compile(code, "README-testing-example", "exec"), scope)  # passes, or raises here
    lines = [line.lstrip("#").strip() for line in comment.splitlines() if line.strip()]
    quoted = " ".join(lines).split(": ", 1)[1]  # after "..., e.g. ... at step 2: "
    scope["records"][2]["loss"] += 2.32e-9
    with pytest.raises(AssertionError) as mismatch:
        scope["assert_trajectory_close"](scope["ref"], scope["records"], rtol=1e-9)
    assert f"TrajectoryMismatch: {mismatch.value}" == quoted
