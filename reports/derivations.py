"""The derivations section, from ``descentcheck.theory``: every op's gradients (the distance
units' centroids and radii first), the theorem's assumptions, the momentum identities, every
optimizer's update rule and the descent conditions. SymPy prints the MathML the page shows and
the LaTeX ``report.md`` shows.
"""

from __future__ import annotations

import re
from typing import Any

from descentcheck.registry import ops as registry

from .document import Bullets, Callout, Details, Math, Paragraph, Section, Table

DIM = 2  # inputs per unit in the displayed derivations (short enough to read)


def ops_of(*families: str) -> tuple[str, ...]:
    """The derivation names of the op registry's ops of these families (plugins' included)."""
    return tuple(v.name for o in registry.ops() if o.family in families for v in o.variants)


#: the section's op subsections and the families each shows: every op's family is in one
#: (an op of another family would be left out of the report without a word)
OP_GROUPS = (
    ("distance-units", "Distance units: centroids and radii", ("distance",)),
    ("other-ops", "Dense unit, activations and merges", ("dense", "activation", "merge")),
    ("losses", "Losses", ("loss",)),
)

_COMMENT = re.compile(r"<!--\s*(.*?)\s*-->")
_YHAT = re.compile(r"<mi>yhat</mi>")  # SymPy prints the symbol yhat0 as the word yhat
_HAT = '<mover accent="true"><mi>y</mi><mo>^</mo></mover>'


def op_blocks(op: str, dim: int = DIM) -> tuple[list[str], list[Math]]:
    """(notes, formulas) of one op: MathML from ``derive_text(op, "mathml")``, each formula
    paired with its LaTeX row from ``derive_text(op, "latex")`` (rows split where theory breaks
    the ``align*`` block, not at a matrix's or a case's own row breaks)."""
    from descentcheck.theory import derive_text
    from descentcheck.theory.render import ROW_BREAK

    mathml = derive_text(op, "mathml", dim)
    latex = derive_text(op, "latex", dim)
    notes = [m.group(1) for m in _COMMENT.finditer(mathml)][1:]  # the first names the op
    maths = [_YHAT.sub(_HAT, line) for line in mathml.splitlines() if line.startswith("<math")]
    body = latex.split("\\begin{align*}\n", 1)[1].split("\n\\end{align*}", 1)[0]
    rows = [_unaligned(r) for r in body.split(ROW_BREAK)]
    # LaTeX's one row beyond the MathML: the softmax cross-entropy simplification
    extra = 1 if op == "softmax_cross_entropy" else 0
    if len(rows) != len(maths) + extra:  # a formula paired with another's LaTeX: never shown
        raise RuntimeError(f"{op}: {len(rows)} LaTeX rows for {len(maths)} MathML formulas")
    blocks = [Math(m, tex) for m, tex in zip(maths, rows)]
    blocks += [Math(_latex_only_mathml(), tex) for tex in rows[len(maths) :]]
    return notes, blocks


_TOKENS = re.compile(r"\\begin\{[^}]*\}|\\end\{[^}]*\}|\\&|&|[^\\&]+|\\")


def _unaligned(row: str) -> str:
    """An ``align*`` row without its alignment marks: each ``&`` outside every environment
    (``&=`` and ``\\text{region: } &``), not the column marks of a ``cases`` or a matrix inside
    it (they were dropped too: a relu's "x_0 for x_0 > 0" lost its columns)."""
    depth, out = 0, []
    for token in _TOKENS.findall(row):
        if token.startswith("\\begin{"):
            depth += 1
        elif token.startswith("\\end{"):
            depth -= 1
        elif token == "&" and depth == 0:
            continue
        out.append(token)
    return "".join(out)


def _latex_only_mathml() -> str:
    """The softmax cross-entropy simplification, which theory prints in LaTeX only, written
    out in MathML by hand (it is a statement, not a derivation)."""
    return (
        '<math display="block"><mrow><mfrac><mrow><mo>&#x2202;</mo><mi>E</mi></mrow>'
        "<mrow><mo>&#x2202;</mo><msub><mover><mi>y</mi><mo>^</mo></mover><mi>k</mi></msub>"
        "</mrow></mfrac><mo>=</mo><msub><mi>softmax</mi><mi>k</mi></msub><mo>(</mo>"
        "<mover><mi>y</mi><mo>^</mo></mover><mo>)</mo><mo>&#x2062;</mo><munder><mo>&#x2211;"
        "</mo><mi>m</mi></munder><msub><mi>y</mi><mi>m</mi></msub><mo>&#x2212;</mo><msub>"
        "<mi>y</mi><mi>k</mi></msub><mo>=</mo><msub><mi>softmax</mi><mi>k</mi></msub><mo>(</mo>"
        "<mover><mi>y</mi><mo>^</mo></mover><mo>)</mo><mo>&#x2212;</mo><msub><mi>y</mi>"
        "<mi>k</mi></msub><mspace width='1em'/><mtext>exactly when</mtext><mspace width='0.5em'/>"
        "<munder><mo>&#x2211;</mo><mi>m</mi></munder><msub><mi>y</mi><mi>m</mi></msub><mo>=</mo>"
        "<mn>1</mn></mrow></math>"
    )


def _op_group(op: str, open_: bool) -> tuple[Details, dict[str, Any]]:
    notes, maths = op_blocks(op)
    blocks: list[Any] = []
    if notes:
        blocks.append(Bullets(tuple(notes)))
    blocks.extend(maths)
    return Details(f"`{op}`: {len(maths)} formulas", blocks, open=open_), {
        "notes": notes,
        "formulas": [m.latex for m in maths],
    }


def _text(e: Any) -> str:
    """A SymPy value as short plain text (4·√3/9, ∞)."""
    s = str(e)
    for a, b in (("**", "^"), ("*", "·"), ("sqrt", "√"), ("oo", "∞"), ("exp(-1/2)", "e^(-1/2)")):
        s = s.replace(a, b)
    return s


def _assumptions(sec: Section) -> dict[str, Any]:
    from descentcheck.theory.assumptions import all_activation_bounds, gaussian_bounds

    sub = sec.sub("assumptions", "The theorem's assumptions, computed")
    bounds = all_activation_bounds()
    rows = []
    for op, b in bounds.items():
        sups = tuple(
            "-" if v is None else _text(v) + (" (stated)" if given else "")
            for v, given in zip(b.sups or (None,) * 3, b.stated)
        )
        rows.append((f"`{op}`", *sups, "[badge] yes" if b.in_theorem else "[badge] no", b.note))
    g = gaussian_bounds()
    sub.add(
        Paragraph(
            "The convergence theorem needs a smooth activation with bounded derivatives. SymPy "
            "computes each supremum over the real line from the critical points and the limits; "
            "a plugin's supremum marked (stated) is its own, where SymPy finds no closed form, "
            "checked on a fine grid, not proved."
        ),
        Table(
            ("activation", "sup |φ|", "sup |φ′|", "sup |φ″|", "in the theorem", "note"),
            tuple(rows),
            numeric=(False, True, True, True, False, False),
        ),
        Paragraph(
            "The Gaussian unit's derivatives, bounded over all inputs as functions of its "
            "radii (r = |r_i|):"
        ),
        Table(
            ("derivative", "supremum", "checked"),
            tuple((b.what, _text(b.sup), "[badge] yes" if b.holds else "[badge] no") for b in g),
            numeric=(False, True, False),
        ),
    )
    return {
        "activations": {
            op: {
                "sups": None if b.sups is None else [None if v is None else str(v) for v in b.sups],
                "stated": list(b.stated),
                "in_theorem": b.in_theorem,
            }
            for op, b in bounds.items()
        },
        "gaussian": {b.what: str(b.sup) for b in g},
    }


def _momentum(sec: Section) -> dict[str, Any]:
    import sympy as sp

    from descentcheck.theory.mathml import math_block, presentation
    from descentcheck.theory.momentum import prove_all

    sub = sec.sub("momentum-identities", "Momentum identities, proved")
    k, i = sp.symbols("k i", integer=True, nonnegative=True)
    lr, beta, rho, _eta = sp.symbols("eta beta rho eta_ema")
    g = sp.IndexedBase("g")
    dw, buf, v = sp.IndexedBase("Delta_w"), sp.IndexedBase("buf"), sp.IndexedBase("v")
    shown = [
        sp.Eq(dw[k], -lr * sp.Sum(beta ** (k - i) * g[i], (i, 0, k))),
        sp.Eq(dw[k], -lr * buf[k]),
        sp.Eq(sp.Symbol("eta_EMA") * sp.Symbol("m_k"), lr * buf[k]),
        sp.Eq(sp.Symbol("w_k"), sp.Symbol("theta_k") + beta * sp.Symbol("v_k")),
        sp.Eq(v[k], (1 - rho) * sp.Sum(rho ** (k - i) * g[i] ** 2, (i, 0, k))),
    ]
    proved = prove_all()
    sub.add(
        Paragraph(
            "Each identity is proved in SymPy for symbolic k (by induction, or as an invariant "
            "kept by one step of both recurrences) and, unrolled, for k = 0..6; an identity "
            "counts as proved only when the difference of its sides simplifies to exactly 0."
        )
    )
    out: dict[str, Any] = {}
    for (name, checks), eq in zip(proved.items(), shown):
        n_ok = sum(c.holds for c in checks)
        out[name] = {"proved": n_ok, "checks": len(checks)}
        sub.add(
            Math(
                math_block(presentation(eq)),
                sp.latex(eq),
                label=f"{name}: {n_ok} of {len(checks)} checks proved",
            ),
            Details(
                f"the {len(checks)} checks",
                [
                    Table(
                        ("check", "condition", "proved"),
                        tuple(
                            (c.name, c.condition or "-", "[badge] yes" if c.holds else "[badge] no")
                            for c in checks
                        ),
                    )
                ],
            ),
        )
    return out


def _descent(sec: Section) -> dict[str, Any]:
    from descentcheck.theory.descent import PAPER_CONDITIONS, REGIONS
    from descentcheck.theory.descent_proofs import prove_all

    sub = sec.sub("descent-conditions", "Exact descent regions from L-smoothness")
    sub.add(
        Paragraph(
            "With g = ∇E(w_k), one step d = −ηg + m whose momentum term has length |m| = s|g| "
            "(s = τ for adaptive momentum, βρ_k for heavy ball). Over every L-smooth E (not "
            "necessarily convex) the worst change is g·d + (L/2)|d|², attained by the quadratic "
            "of curvature L; over every direction of m it is maximised by m = sign(1 − ηL) s g, "
            "which gives W = |g|²((|1 − ηL| + sL)² − 1)/(2L). So the step decreases every L-smooth "
            "E iff s < min(η, 2/L − η): exact, not only sufficient. SymPy derives it, z3 proves "
            "it over the reals (below), exact rationals check the witness on a grid, and PEPit "
            "referees it at test time. What z3 proves is the bound over the quadratic model "
            "g·d + (L/2)|d|² of one step; that this model bounds every L-smooth E is the descent "
            "lemma (Nesterov 2004, Lemma 1.2.3), cited, not re-proved. (η is the learning rate "
            "lr; for torch's Nesterov, s = β²ρ_k at the rate η(1 + β), ρ_k = η|b_k−1|/|g_k|.)"
        )
    )
    out: dict[str, Any] = {"regions": {}}
    for name, r in REGIONS.items():
        label = f"`{name}` ({r.applies_when})" if r.applies_when else f"`{name}`"
        sub.add(Math(r.mathml, r.latex, label=label), Paragraph(r.words))
        out["regions"][name] = {"latex": r.latex, "words": r.words}
        if r.applies_when:
            out["regions"][name]["applies_when"] = r.applies_when
    proofs = prove_all()
    rows = []
    for group, facts in proofs.items():
        for f in facts:
            computed = _text(f.computed) if hasattr(f, "computed") else ""
            rows.append(
                (group.split(":")[0], f.name, computed, "[badge] yes" if f.holds else "[badge] no")
            )
    n_ok = sum(r[3] == "[badge] yes" for r in rows)
    out["proofs"] = {"proved": n_ok, "checks": len(rows)}
    sub.add(
        Callout(
            "The heavy-ball worst case lies outside the constant-momentum region: on "
            "f = Lx²/2 with lr = 1/L, x_1 = 0 and g_1 = 0, so ρ_1 = |Δw_0|/|g_1| is infinite, "
            "and the second step raises f by exactly β²(f(x_0) − f*), for every β > 0.",
            "note",
        ),
        Details(
            f"the derivation, step by step: {n_ok} of {len(rows)} facts proved",
            [Table(("step", "fact", "SymPy computed", "proved"), tuple(rows))],
        ),
    )
    out["smt"] = _smt_obligations(sub)
    sub.add(Paragraph(f"**The papers' conditions.** {PAPER_CONDITIONS}"))
    return out


def _smt_obligations(sub: Section) -> dict[str, Any]:
    """Each SMT obligation with its result (proved / refuted / unknown) and time."""
    from descentcheck.theory.descent_smt import PROVED, prove_all

    outcomes = prove_all()
    n_ok = sum(o.result == PROVED for o in outcomes)
    rows = tuple(
        (
            o.name,
            o.statement,
            f"[badge] {o.result}",
            f"{o.seconds * 1000:.0f} ms",
        )
        for o in outcomes
    )
    sub.add(
        Paragraph(
            f"**Proved over the reals by z3.** {n_ok} of {len(outcomes)} obligations proved "
            "(z3 finds no real counterexample to the negation; an `unknown` would be shown as "
            "such and never counted). The descent lemma itself, a statement about all "
            "functions, is the one premise (Nesterov 2004, Lemma 1.2.3), refereed by PEPit."
        ),
        Table(("obligation", "statement", "result", "time"), rows),
    )
    return {"proved": n_ok, "obligations": [o.to_json() for o in outcomes]}


def derivations_section() -> tuple[Section, dict[str, Any]]:
    """The section and its numbers (formulas as LaTeX, proof counts) for results.json."""
    sec = Section("derivations", "Derivations")
    sec.add(
        Paragraph(
            "SymPy differentiates each op's forward rule (one unit, here with D = 2 inputs); "
            "nothing is written by hand. `descentcheck derive OP --format latex|sympy|json` "
            "prints the same for any D, and the theory checks prove the trainer's backward rules "
            "equal to these (their difference simplifies to 0) and compare them numerically."
        )
    )
    out: dict[str, Any] = {"dim": DIM, "ops": {}}
    for key, title, families in OP_GROUPS:
        sub = sec.sub(key, title)
        if key == "distance-units":
            sub.add(
                Paragraph(
                    "The distance unit y = exp(−½ Σ_i r_i² (x_i − c_i)²) of Kurbiel & Khaleghian "
                    "and its logit form without exp, with one radius per connection or per unit."
                )
            )
        for op in ops_of(*families):
            opened = {"distance-units": not op.endswith("_per_unit"), "losses": True}
            block, data = _op_group(op, open_=opened.get(key, op == "dense"))
            sub.add(block)
            out["ops"][op] = data
    out["assumptions"] = _assumptions(sec)
    out["momentum"] = _momentum(sec)
    out["updates"] = _updates(sec)
    out["descent"] = _descent(sec)
    return sec, out


def _updates(sec: Section) -> dict[str, Any]:
    """Every registered optimizer's update rule (plugins' included), from ``derive_text``."""
    from descentcheck.registry.optimizers import registry

    sub = sec.sub("optimizer-updates", "Optimizer updates, as the registry derives them")
    sub.add(
        Paragraph(
            "Each optimizer's update of one parameter entry in SymPy (state recurrences, then "
            "the step; s_(k−1) is the state before update k), with its exact descent region or "
            "the reason it has none. theory compares every optimizer's update pair with it, "
            "unrolled in mpmath, and the ledger's update-equals-derived-rule every step the "
            "trainer applies. `descentcheck derive OPTIMIZER` prints the same."
        )
    )
    out: dict[str, Any] = {}
    for name, entry in registry().items():
        notes, maths = op_blocks(name)
        sub.add(Details(f"`{name}`: {entry.summary}", [Bullets(tuple(notes)), *maths]))
        out[name] = {"summary": entry.summary, "notes": notes, "formulas": [m.latex for m in maths]}
    return out
