"""An example descentcheck plugin package: one activation, one optimizer, one claim.

Installed (``pip install .``), it adds through three entry points (``pyproject.toml``), with no
edit to descentcheck:

* ``isru`` (:mod:`.ops`, group ``descentcheck.ops``): the inverse square root unit
  ``x / sqrt(1 + x^2)``, an activation usable in any spec file, with its SymPy rule, from which
  descentcheck derives the numpy, mpmath and Arb-interval rules.
* ``adam`` (:mod:`.adam`, group ``descentcheck.optimizers``): Adam (Kingma & Ba 2015) with
  torch's bias corrections, its hyperparameters declared once (``--beta1``, ``--beta2``,
  ``--eps`` on the command line), its SymPy update derivation, and the stated reason it has no
  exact one-step descent region.
* ``adam-step-bounded`` (:mod:`.claims`, group ``descentcheck.claims``): a ledger claim that
  every entry of every Adam step stays under a bound that follows from Cauchy-Schwarz, checked
  on generated DAGs; Adam without its second-moment bias correction falsifies it.

Why isru and not softsign ``x / (1 + |x|)``, the activation the plugin issue first named:
softsign is not twice differentiable at 0 (phi'' jumps from 2 to -2 there), so it breaks the
convergence theorem's assumption of a bounded, continuous phi'' (the op would have to be
declared ``smooth=False`` and kept out of those claims), and its ``abs`` is not analytic
(descentcheck continues a rule's ``|u|`` near the real line so that the complex-step gradient
oracle still sees its derivative, but it is not analytic at 0). isru is
softsign's smooth
cousin: the same shape (odd, increasing, tending to -1 and 1, phi'(0) = 1) but analytic on the
real line (its singularities sit at +-i), with sup|phi| = sup|phi'| = 1 and
sup|phi''| = 48 sqrt(5) / 125 (at x = -+1/2), which theory's checks confirm from the SymPy rule.
"""
