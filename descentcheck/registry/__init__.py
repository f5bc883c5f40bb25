"""One registry per concept: ops (and losses), optimizers, claims; and the plugin loader.

Importable without numpy: each registry holds declarations (names, kinds, spec keys,
hyperparameters, where each rule lives), never the numeric code itself. Every consumer (the spec
parser, the strategies, theory's tables, the certifier, the reports, the CLI, the sweep config,
counterexample replay) reads from here, so adding an op or an optimizer is one file, or one plugin
package exposing entry points in the groups below.

Modules: ``ops`` (ops and losses), ``optimizers``, ``claims``, ``plugins`` (entry points).
"""

from __future__ import annotations

#: entry-point groups a third-party package uses to add to the registries (DESIGN.md)
OPS_GROUP = "descentcheck.ops"
OPTIMIZERS_GROUP = "descentcheck.optimizers"
CLAIMS_GROUP = "descentcheck.claims"

__all__ = ["CLAIMS_GROUP", "OPS_GROUP", "OPTIMIZERS_GROUP"]
