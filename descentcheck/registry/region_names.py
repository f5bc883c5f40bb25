"""The names of theory's exact descent regions and the update each was proved for, as plain
data: the optimizer registry checks a plugin's ``region`` name against them when it loads,
without importing ``theory`` (``impl.optim.get_optimizer`` loads the registry, and DESIGN.md's
``impl`` knows nothing of ``theory``). ``theory.descent`` builds ``REGIONS`` from these names
and re-exports both."""

from __future__ import annotations

#: Each region of ``theory.descent.REGIONS`` and the update its proof covers: the built-in
#: optimizer (its registry entry's ``derivation``) and the substitutions of that optimizer's
#: hyperparameters (SymPy text in hyperparameter names) the region states it in. A plugin naming
#: one of these regions must have that optimizer's update (``theory.named_regions`` compares the
#: two derivations).
PROVED_FOR: dict[str, tuple[str, dict[str, str]]] = {
    "gd": ("gd", {}),
    "adaptive_momentum": ("adaptive_momentum", {}),
    # momentum proportional to the step: a hyperparameter s with tau = s lr
    "adaptive_momentum_tau_proportional": ("adaptive_momentum", {"tau": "s*lr"}),
    "constant_momentum": ("momentum", {}),
    "nesterov": ("nesterov", {}),
    "rmsprop": ("rmsprop", {}),
}
#: the names of ``theory.descent.REGIONS``, known without building it (which needs SymPy)
REGION_NAMES: tuple[str, ...] = tuple(PROVED_FOR)
