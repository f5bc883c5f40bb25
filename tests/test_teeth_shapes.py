"""The forward and gradient claims reach knotty DAGs and general cross-entropy targets.

Each test plants one of a reviewer's held-out bugs (the ledger alone missed them while the claims
drew the default DAG shape and integer labels only) and asserts that the claim whose cases now
include that shape no longer meets its expectation:

- an ``add`` that sums only its first two inputs (three-input adds);
- input gradients collected in a dict by slot (a parent listed twice keeps one contribution);
- a gradient accumulated in place into an array a consumer handed to several parents (fan-out
  through an add);
- the cross-entropy gradient without its row-sum factor (rows not summing to 1);
- cross-entropy target rows normalised to sum to 1 when checked;
- a concat that reads its second input (a one-input concat fails), or whose backward halves a
  one-input concat's gradient.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from planting import plant

from descentcheck.impl.losses import SoftmaxCrossEntropy
from descentcheck.impl.network import Network
from descentcheck.impl.ops.merges import Add, Concat
from descentcheck.properties import BY_ID, get_profile
from descentcheck.properties.runner import run_claim

# planted bugs against the claims: minutes of claim runs, so `tox -e teeth` (and CI) runs them,
# not the default `tox`
pytestmark = pytest.mark.teeth


@pytest.fixture()
def profile(tmp_path):
    return replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)


NORMALISED = """    if self.spec.loss == "softmax_cross_entropy":
        s = y.sum(axis=1, keepdims=True)
        y = np.divide(y, s, out=y.copy(), where=s != 0)
    return y
"""

MUTANTS = {
    # m19: add sums only its first two inputs
    "add_ignores_third_input": (Add, "forward", "xs[2:]", "xs[2:2]"),
    # m20: a parent listed twice keeps one gradient contribution
    "repeated_input_grad_dropped": (
        Network,
        "loss_and_grad",
        "for s, gx in zip(slots, gxs):",
        "for s, gx in dict(zip(slots, gxs)).items():",
    ),
    # m21: in-place accumulation into an array add handed to every input
    "accumulate_into_consumer_array": (
        Network,
        "loss_and_grad",
        "elif owned[s] and same_kind(acc, gx):",
        "elif same_kind(acc, gx):",
    ),
    # m22: (softmax - y) / n whatever the row sums (S taken as 1 in both of the gradient's
    # forms: the plain one and a confident row's largest entry)
    "xent_grad_ignores_row_sum": (
        SoftmaxCrossEntropy,
        "value_and_grad",
        "S = _row_sums(_row_kernels(y), y)",
        "S = 1.0",
    ),
    # y35: 2-D cross-entropy targets normalised to sum to 1
    "xent_targets_normalised": (Network, "check_targets", "    return y\n", NORMALISED),
    # the full mutation run: concat's namespace read from its second input (a one-input concat,
    # which no DAG drew before, fails)
    "concat_reads_a_second_input": (Concat, "forward", "namespace(xs[0])", "namespace(xs[1])"),
    # a held-out audit's: a one-input concat's backward halving its gradient, which the forward
    # claim cannot see and no gradient claim drew
    "lone_concat_halves_its_gradient": (
        Concat,
        "backward",
        "return [gy[:, s] for s in self._slices], {}",
        "return [0.5 * gy] if len(self._slices) == 1 else [gy[:, s] for s in self._slices], {}",
    ),
}

CAUGHT_BY = [
    ("add_ignores_third_input", "forward-equals-spec"),
    ("add_ignores_third_input", "gradient-equals-oracle"),
    ("repeated_input_grad_dropped", "gradient-equals-oracle"),
    ("accumulate_into_consumer_array", "gradient-equals-oracle"),
    ("xent_grad_ignores_row_sum", "gradient-equals-oracle"),
    ("xent_targets_normalised", "forward-equals-spec"),
    ("concat_reads_a_second_input", "forward-equals-spec"),
    # the gradient claims drew no one-input concat before KNOTTY did (their ledgers counted 0)
    ("concat_reads_a_second_input", "gradient-equals-oracle"),
    ("concat_reads_a_second_input", "gradient-equals-oracle-through-relu"),
    ("lone_concat_halves_its_gradient", "gradient-equals-oracle"),
    ("lone_concat_halves_its_gradient", "gradient-equals-oracle-through-relu"),
]


@pytest.mark.parametrize(("mutant", "claim"), CAUGHT_BY)
def test_a_planted_bug_on_knotty_cases_is_caught(monkeypatch, profile, mutant, claim):
    cls, method, old, new = MUTANTS[mutant]
    plant(monkeypatch, cls, method, (old, new))
    entry = run_claim(BY_ID[claim], profile)
    # a crash inside the claim's own check (the one-input concat raises) is an error outcome
    crash = mutant == "concat_reads_a_second_input"
    assert entry["outcome"] in (("falsified", "error") if crash else ("falsified",))
    assert not entry["meets_expectation"], entry


@pytest.mark.parametrize(
    "claim", ["forward-equals-spec", "gradient-equals-oracle", "backprop-returns-the-loss"]
)
def test_the_claims_hold_and_count_the_knotty_cases(profile, claim):
    """Unplanted, the claims hold, and their ledgers count each new shape in at least a tenth of
    the cases (at the fast profile's fixed seed; the counts vary with the seed) and general
    target rows in at least a quarter of the cross-entropy cases."""
    entry = run_claim(BY_ID[claim], profile)
    assert entry["meets_expectation"], entry
    measured, n = entry["measured"], entry["examples"]
    for key in (
        "cases_with_fan_out",
        "cases_with_add_read_by_several",
        "cases_with_concat_a_a",
        "cases_with_add_a_a",
        "cases_with_one_input_concat",
    ):
        assert measured[key] >= 0.1 * n, (key, measured[key], n)
    if claim != "backprop-returns-the-loss":  # its SMALL DAGs have three blocks at most
        assert measured["cases_with_add_of_3_or_more"] >= 0.1 * n, measured
    assert measured["cases_with_soft_targets"] >= 0.25 * measured["cases_cross_entropy"], measured
