"""Agreement (a), symbolic: the trainer's claimed rules minus the derived ones simplify to 0.

For every op, and for one unit with ``dim`` inputs, :func:`agree` proves

* forward: the trainer's forward value (its stable forms included) equals the unit's definition;
* backward: for every parameter and input ``s``, the trainer's vector-Jacobian product equals
  ``sum_j gy_j d y_j / d s`` derived by SymPy (:meth:`Derivation.vjp`).

Each comparison is an :class:`~descentcheck.theory.zero.Identity`; ``holds`` is True only when
``claimed - derived`` is rewritten to the literal 0. A rule the trainer lacks (a gradient it does
not return) counts as a failure.
"""

from __future__ import annotations

import sympy as sp

from descentcheck.registry.ops import derive_names

from .claimed import MATMUL_OPS, Claimed, claimed, claimed_matmul
from .derivations import derive
from .units import min_dim
from .zero import Identity, prove_equal


def agree(op: str, dim: int = 3, claim: Claimed | None = None) -> list[Identity]:
    """Prove the trainer's rules for ``op`` (or ``claim``, to test the checker) equal the
    derivation; one Identity for the forward value and one per gradient."""
    d = derive(op, dim)
    c = claim if claim is not None else claimed(op, dim)
    out = [prove_equal(f"{op} forward (D={dim})", c.forward, d.output, source=c.source)]
    derived = d.vjp()
    for s in d.unit.wrt:
        name = f"{op} dE/d{s} (D={dim})"
        if s not in c.vjp:
            out.append(Identity(name, sp.nan, derived[s], False, sp.nan, "missing", c.source))
            continue
        out.append(prove_equal(name, c.vjp[s], derived[s], source=c.source))
    return out


def agree_matmul(dims: tuple[int, ...] = (1, 3)) -> dict[str, list[Identity]]:
    """The distance ops' expanded matrix-product rules (the trainer's large-batch path), proved
    equal to the derivation for every shift mu."""
    return {
        f"{op} [matmul]": [i for dim in dims for i in agree(op, dim, claimed_matmul(op, dim))]
        for op in MATMUL_OPS
    }


def agree_all(dims: tuple[int, ...] = (1, 3)) -> dict[str, list[Identity]]:
    """:func:`agree` for every op and loss of the op registry (plugins' included) at each dim
    (raised to the op's minimum where needed)."""
    result: dict[str, list[Identity]] = {}
    for op in derive_names():
        ids: list[Identity] = []
        for dim in sorted({max(dm, min_dim(op)) for dm in dims}):
            ids += agree(op, dim)
        result[op] = ids
    return result
