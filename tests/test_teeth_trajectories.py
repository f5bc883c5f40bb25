"""The trajectory claims have teeth: each held-out trainer bug they were added for, planted
here without touching the files, falsifies its claim (and the clean tree holds: the ledger
test).

trajectory-records-equal-the-observables: m14 (step norm of the gradient scratch buffer),
m25 (adaptive momentum records its first group's coefficient), y26 (the in-place path leaves
the views at w_0), a dense bias gradient written short into the trainer's flat gradient.
minibatch-trainer-equals-the-reference-loop: m11 (the smaller last batch dropped), m12
(optimizer state reset at every epoch), m10 (the generator re-seeded every epoch), m13 (the
batch's loss recorded), a dense weight gradient written negated into the flat gradient.
"""

from __future__ import annotations

import importlib
import textwrap
from dataclasses import replace

import pytest
from planting import mutated, plant

from descentcheck.impl import trainer
from descentcheck.properties import BY_ID, get_profile
from descentcheck.properties.runner import run_claim

# planted bugs against the claims: minutes of claim runs, so `tox -e teeth` (and CI) runs them,
# not the default `tox`
pytestmark = pytest.mark.teeth

OBSERVABLES = "trajectory-records-equal-the-observables"
MINIBATCH = "minibatch-trainer-equals-the-reference-loop"


@pytest.fixture()
def profile(tmp_path):
    return replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)


def _falsified(claim_id: str, profile, words: str) -> None:
    entry = run_claim(BY_ID[claim_id], profile)
    assert entry["outcome"] == "falsified", entry
    assert words in entry["message"], entry["message"]


def test_m14_a_step_norm_of_the_scratch_buffer_is_caught(monkeypatch, profile):
    """For adaptive momentum the scratch buffer holds -lr g_k after the step, not dw_k."""
    old = "self.step_norms.append(_norm(dw))"
    bad = mutated(trainer._Run.update, [(old, "self.step_norms.append(_norm(self.g))")])
    monkeypatch.setattr(trainer._Run, "update", bad)
    _falsified(OBSERVABLES, profile, "step_norm")


def test_m25_adaptive_momentum_recording_its_first_group_is_caught(monkeypatch, profile):
    optim = importlib.import_module("descentcheck.impl.optim")
    module = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")
    first = "alpha[0] if alpha else 0.0"
    bad = mutated(
        optim.adaptive_momentum, [("shown = max(alpha) if alpha else 0.0", f"shown = {first}")]
    )
    monkeypatch.setattr(optim, "adaptive_momentum", bad)
    last = "\n        return prev, prev, max(alpha.tolist(), default=0.0)"
    plant(
        monkeypatch,
        module,
        "_flat_form",
        (last, "\n        return prev, prev, (alpha.tolist() or [0.0])[0]"),
    )
    _falsified(OBSERVABLES, profile, "max alpha_G")


def test_y26_an_in_place_step_that_leaves_the_views_behind_is_caught(monkeypatch, profile):
    old = "self.v += dw  # nobody keeps w_k, and the views w follow v"
    bad = mutated(trainer._Run.update, [(old, "self.v = self.v + dw")])
    monkeypatch.setattr(trainer._Run, "update", bad)
    _falsified(OBSERVABLES, profile, "differ between keep_params=True and False")


def test_m11_dropping_the_smaller_last_batch_is_caught(monkeypatch, profile):
    old = "range(0, n, batch_size)"
    bad = mutated(trainer.minibatches, [(old, "range(0, n - batch_size + 1, batch_size)")])
    monkeypatch.setattr(trainer, "minibatches", bad)
    _falsified(MINIBATCH, profile, "off fl(w_k + dw_k)")


def test_m10_the_same_permutation_every_epoch_is_caught(monkeypatch, profile):
    old = "perm = rng.permutation(n)"
    bad = mutated(trainer.minibatches, [(old, "perm = np.random.default_rng(seed).permutation(n)")])
    monkeypatch.setattr(trainer, "minibatches", bad)
    _falsified(MINIBATCH, profile, "off fl(w_k + dw_k)")


def test_m12_a_fresh_optimizer_state_every_epoch_is_caught(monkeypatch, profile):
    """The state reset at each epoch's first step (an epoch's first batch is a full one, so its
    length gives the steps per epoch)."""
    old = "idx = xp.asarray(next(batches))"
    # after the method's source is dedented, the line sits 16 spaces in
    new = textwrap.indent(
        textwrap.dedent(
            """\
            idx = xp.asarray(next(batches))
            if k == 0:
                self.epoch = -(-len(x) // len(idx))
            elif k % self.epoch == 0:
                fresh = self.flat.init(self.v) if self.flat is not None else None
                self.state = fresh if self.flat is not None else self.opt.init(self.w)"""
        ),
        " " * 16,
    ).lstrip()
    monkeypatch.setattr(trainer._Run, "loop", mutated(trainer._Run.loop, [(old, new)]))
    _falsified(MINIBATCH, profile, "off fl(w_k + dw_k)")


def test_m13_recording_the_batch_loss_is_caught(monkeypatch, profile):
    old = "_, grads = net.loss_and_grad(self.w, x[idx], y[idx], out=self.g_views)"
    bad = mutated(trainer._Run.loop, [(old, "E, " + old[3:])])
    monkeypatch.setattr(trainer._Run, "loop", bad)
    _falsified(MINIBATCH, profile, "full-batch E(w_k)")


def test_a_bias_gradient_written_short_into_the_trainers_view_is_caught(monkeypatch, profile):
    """The dense layer's dE/db written into the trainer's flat gradient from all rows but the
    first (the path only ``train`` takes: ``Layer.writes_grads``): the recorded gradient norm is
    no longer |g_k| at the recorded iterate."""
    from descentcheck.impl.ops.dense import Dense

    old = "column_sums(gy, out=gb)"
    plant(monkeypatch, Dense, "backward", (old, old.replace("(gy,", "(gy[1:],")))
    _falsified(OBSERVABLES, profile, "grad_norm")


def test_a_weight_gradient_written_negated_into_the_trainers_view_is_caught(monkeypatch, profile):
    """dE/dW written negated into the trainer's view: its norm, and so every record, is
    unchanged (the observables claim holds on it), but the iterate climbs, off the minibatch
    reference loop's fl(w_k + dw_k)."""
    from descentcheck.impl.ops.dense import Dense

    old = '"W": matmul_into(x.T, gy, gW)'
    plant(monkeypatch, Dense, "backward", (old, old.replace("gy,", "-gy,")))
    _falsified(MINIBATCH, profile, "off fl(w_k + dw_k)")


def test_the_mutants_plant_what_they_claim(monkeypatch):
    """A planted mutant that changed nothing would pass vacuously: m11 really drops a batch."""
    old = "range(0, n, batch_size)"
    bad = mutated(trainer.minibatches, [(old, "range(0, n - batch_size + 1, batch_size)")])
    clean = trainer.minibatches(5, 2, 0)
    assert [len(next(clean)) for _ in range(3)] == [2, 2, 1]
    dropped = bad(5, 2, 0)
    assert [len(next(dropped)) for _ in range(3)] == [2, 2, 2]
