"""The summary section: which claims hold and which fail, how many cases, how long, and one line
per experiment with its headline number."""

from __future__ import annotations

from typing import Any

import numpy as np

from descentcheck.properties.ledger import REPLAYABLE

from .document import Bullets, Callout, Paragraph, Section, Table
from .fmt import mean_interval, mean_std, num, pct, seconds
from .plotting import OPTIMIZER_LABELS


def claim_counts(ledger: dict[str, Any]) -> dict[str, Any]:
    claims = ledger.get("claims", [])
    return {
        "claims": len(claims),
        "held": sum(c["outcome"] == "held" for c in claims),
        "falsified": sum(c["outcome"] == "falsified" for c in claims),
        "error": sum(c["outcome"] == "error" for c in claims),
        "replayable": sum(
            c["outcome"] == "falsified" and REPLAYABLE <= set(c.get("counterexample") or {})
            for c in claims
        ),
        "as_expected": sum(bool(c["meets_expectation"]) for c in claims),
        "cases": int(sum(int(c.get("examples") or 0) for c in claims)),
    }


def _headlines(results: dict[str, Any]) -> list[str]:
    out = []
    reg = results["region"]["adaptive"]["summary"]
    if reg["outside"]:
        from .region_section import tightness

        share = reg["outside_decreased"] / reg["outside"]
        along_lr, in_tau = tightness(reg)
        held = "held" if not reg["inside_failed"] else "did not hold for every case"
        before = (
            f" Placed by L₀ alone (known before training), {reg['inside_at_L0_failed']} of "
            f"{reg['inside_at_L0']} cases inside it rose: the check is made with the curvature "
            "met along each run, after it."
            if "inside_at_L0" in reg
            else ""
        )
        out.append(
            f"Descent region (adaptive momentum): {reg['inside_failed']} of {reg['inside']} "
            f"generated cases inside the derived region rose at some step; {pct(share)} of the "
            f"cases outside it still decreased at every step. The bound {held}; it is "
            f"{along_lr} along the learning rate and {in_tau} in τ.{before}"
        )
    ae = results["autoencoder"]
    for opt in ae["runs"]["skip"]:
        skip = [r["test"]["psnr"] for r in ae["runs"]["skip"][opt]]
        seq = [r["test"]["psnr"] for r in ae["runs"]["sequential"][opt]]
        d, sd = mean_std(np.asarray(skip) - np.asarray(seq))
        lo, hi = mean_interval(np.asarray(skip) - np.asarray(seq))
        # a NaN interval (one seed) compares False: it cannot tell either
        excluded = lo > 0 or hi < 0
        told = (
            "; its paired t 95% interval excludes 0"
            if excluded
            else "; seeds cannot tell it from 0"
        )
        out.append(
            f"Autoencoders on digits ({OPTIMIZER_LABELS[opt]}): the skip-connection DAG's "
            f"held-out PSNR is {num(mean_std(skip)[0], 4)} dB against "
            f"{num(mean_std(seq)[0], 4)} dB for the sequential one of the same size "
            # the spread of the paired differences beside their mean (a held-out reader found
            # +0.017 dB stated without its 0.08 dB sd)
            f"({'+' if d >= 0 else ''}{num(d, 2)} dB, sd {num(sd, 2)} dB over "
            f"{ae['seeds']} paired seeds{told})."
        )
    dist = results["distance"]["optimizers"]
    accs = {
        o: mean_std([r["test_acc"][-1] or 0.0 for r in dist[o]["runs"]])[0]
        for o in ("rmsprop", "gd", "momentum", "adaptive_momentum")
    }
    out.append(
        "Deep distance network on digits, held-out accuracy: RMSProp "
        f"{pct(accs['rmsprop'], 1)}, SGD {pct(accs['gd'], 1)}, heavy ball "
        f"{pct(accs['momentum'], 1)}, adaptive momentum {pct(accs['adaptive_momentum'], 1)}."
    )
    van = results["vanishing"]
    d = str(max(int(k) for k in van["first_over_last"]["sigmoid"]))

    def g(f: str) -> float:
        return float(np.exp(np.mean(np.log(van["first_over_last"][f][d]))))

    out.append(
        f"Vanishing gradients at {d} hidden layers (first / last hidden layer): sigmoid "
        f"{num(g('sigmoid'), 2)}, tanh {num(g('tanh'), 2)} (W); distance "
        f"{num(g('distance'), 2)} (centroids), {num(g('distance_radii'), 2)} (radii)."
    )
    return out


def _replayable(n: dict[str, Any]) -> str:
    """How many falsified claims left a run to replay (a plugin's own record is none)."""
    if not n["falsified"]:
        return ""
    if n["replayable"] == n["falsified"]:
        return " with a replayable counterexample"
    return f" ({n['replayable']} with a replayable counterexample)"


def summary_section(
    ledger: dict[str, Any], results: dict[str, Any], meta: dict[str, Any]
) -> tuple[Section, dict[str, Any]]:
    sec = Section("summary", "Summary")
    numbers: dict[str, Any] = {}
    n = claim_counts(ledger)
    numbers["claims"] = n
    ok = n["as_expected"] == n["claims"]
    sec.add(
        Callout(
            f"{n['as_expected']} of {n['claims']} claims met their expectation: "
            f"{n['held']} held, {n['falsified']} falsified{_replayable(n)}, "
            f"{n['error']} errors; {n['cases']:,} generated cases in all "
            f"(verify profile `{ledger['profile']}`, {seconds(float(ledger['seconds']))}).",
            "ok" if ok else "fail",
        ),
        Table(
            ("outcome", "claims", "cases"),
            tuple(
                (
                    f"[badge] {outcome}",
                    ", ".join(f"`{c['id']}`" for c in group),
                    str(sum(int(c.get("examples") or 0) for c in group)),
                )
                for outcome in ("held", "falsified", "error")
                if (group := [c for c in ledger["claims"] if c["outcome"] == outcome])
            ),
            caption="Claims by outcome (each one's expectation, numbers and counterexample "
            "are in the claims ledger below).",
            numeric=(False, False, True),
        ),
    )
    heads = _headlines(results)
    numbers["headlines"] = heads
    sec.add(
        Paragraph("**What the experiments found.**"),
        Bullets(tuple(heads)),
        Paragraph(
            f"Built with the `{meta['profile']}` profile and seed {meta['seed']} in "
            f"{seconds(meta['seconds'])}; the same seed gives the same numbers. Every figure is a "
            "file under `figures/`; every number this build computed is also in "
            "`results.json` (the mutation score and PEPit's heavy-ball table are read from the "
            "committed `reports/mutants.json` and `reports/pep_heavy_ball.json`)."
        ),
    )
    return sec, numbers
