"""A sweep's report, built the convergence report's way: ``index.html`` + ``report.md`` + PNGs +
``results.json``, offline.

:func:`report_from_db` reads a sweep database (read only; a partial sweep is reported as far as
it got) and writes into ``out_dir``:

* ``region.png`` (the report's region figure, :mod:`.sweep_figures`), ``outcomes.png``,
  ``final_loss.png``;
* ``results.json``: ``{"format": "descentcheck.sweep-report/1", "sweep": {...meta...},
  "counts": {GROUP: {OUTCOME: n}}, "cases": [{"key", "index", "label", "architecture", "data",
  "optimizer", "hyperparameters", "relative_to_L", "init_seed", "steps", "status", "error",
  "claim", "results"}, ...]}`` (no timings, so it depends on the sweep's results alone);
* ``index.html`` and ``report.md``: the same sections (:mod:`.document`, rendered by
  :mod:`.html` and :mod:`.markdown`): the region, the counts, the cases where the claim failed,
  the failed cases, and every case.

The claim read from each case: *inside theory's region (L_0 at w_0) => E decreased at every
step*. Outcome ``held`` (inside, decreased), ``falsified`` (inside, rose: L_0 is local, so the
curvature met later may exceed it), ``vacuous`` (outside the region: theory promises nothing),
``no verdict`` (theory has no a-priori region for the case: the optimizer has none, needs per-step
values, or theory refuses it; relu nets, whose E is not L-smooth; or L_0 could not be estimated,
not finite), or ``not evaluated`` (the
case lacks a check, failed, or is pending).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from descentcheck.properties.sweep.expand import describe
from descentcheck.properties.sweep.store import CaseRow, SweepData, read_sweep, recorded_code

from .document import Figure, Paragraph, Section, Table
from .fmt import num

REPORT_FORMAT = "descentcheck.sweep-report/1"
CLAIM = "claim inside ⇒ decrease"
CLAIM_OUTCOMES = ("held", "falsified", "vacuous", "no verdict", "not evaluated")
MAX_TABLE_ROWS = 2000


def claim_outcome(row: CaseRow) -> str:
    """The claim's outcome on one case (see the module docstring)."""
    if row.status != "done" or row.results is None:
        return "not evaluated"
    checks = row.results.get("checks") or {}
    if "inside_region" not in checks or "decrease_every_step" not in checks:
        return "not evaluated"
    inside = checks["inside_region"]["inside"]
    if inside is None:
        return "no verdict"
    if inside is not True:
        return "vacuous"
    return "held" if checks["decrease_every_step"]["holds"] else "falsified"


def count_outcomes(rows: list[CaseRow]) -> dict[str, dict[str, int]]:
    """``{GROUP: {OUTCOME: n}}`` over the rows, groups and outcomes in a fixed order."""
    status = Counter(r.status for r in rows)
    out: dict[str, dict[str, int]] = {
        "status": {k: status[k] for k in ("done", "failed", "pending")}
    }
    done = [r.results["checks"] for r in rows if r.status == "done" and r.results is not None]
    dec = [c["decrease_every_step"]["holds"] for c in done if "decrease_every_step" in c]
    if dec:
        out["decrease_every_step"] = {"held": dec.count(True), "rose": dec.count(False)}
    ins = [c["inside_region"]["inside"] for c in done if "inside_region" in c]
    if ins:
        out["inside_region"] = {
            "inside": ins.count(True),
            "outside": ins.count(False),
            # no region, or one that needs per-step values (RMSProp's), or refused by theory:
            # each case's note says which
            "no verdict": ins.count(None),
        }
    div = [c["diverged"]["diverged"] for c in done if "diverged" in c]
    if div:
        out["diverged"] = {"diverged": div.count(True), "finite": div.count(False)}
    claims = Counter(claim_outcome(r) for r in rows)
    out[CLAIM] = {k: claims[k] for k in CLAIM_OUTCOMES}
    return out


def _case_entry(row: CaseRow) -> dict[str, Any]:
    c = row.case
    return {
        "key": row.key,
        "index": row.index,
        "label": describe(c),
        "architecture": c["architecture"]["name"],
        "data": c["data"],
        "optimizer": c["optimizer"],
        "hyperparameters": c["hyperparameters"],
        "relative_to_L": c["relative_to_L"],
        "init_seed": c["init_seed"],
        "steps": c["steps"],
        "status": row.status,
        "error": row.error,
        "claim": claim_outcome(row),
        "results": row.results,
    }


def _points(rows: list[CaseRow]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(region points, final-loss points) of the finished cases that checked the decrease."""
    region, losses = [], []
    for r in rows:
        if r.status != "done" or r.results is None:
            continue
        checks = r.results["checks"]
        if "decrease_every_step" not in checks:
            continue
        decreased = checks["decrease_every_step"]["holds"]
        opt = r.case["optimizer"]
        reg = checks.get("inside_region")
        if reg is not None and reg.get("inside") is not None:  # no verdict: no place in it
            region.append(
                {
                    "optimizer": opt,
                    "lr_L": reg["lr_L"],
                    "tau_L": reg["tau_L"],
                    "beta": reg["beta"],
                    "decreased": decreased,
                }
            )
        if "final_loss" in checks:
            fl = checks["final_loss"]
            losses.append(
                {
                    "optimizer": opt,
                    "initial": fl["initial"],
                    "final": fl["final"],
                    "decreased": decreased,
                }
            )
    return region, losses


# ---- the document -------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float) or v is None:
        return num(v, 4)
    return str(v)


CASE_HEAD = (
    "#", "architecture", "data", "optimizer", "hyperparameters", "seed", "status", "L₀",
    "inside", "decreased", "first rise", "final loss", "diverged", "claim",
)  # fmt: skip
CASE_NUMERIC = (True, False, False, False, False, True, False, True, False, False, True, True)


def _case_cells(row: CaseRow) -> tuple[str, ...]:
    c = row.case
    res = row.results or {}
    checks = res.get("checks", {})
    scaled = ("lr", "tau") if c.get("relative_to_L") else ()
    hp = ", ".join(
        f"{k}·L₀={_fmt(v)}" if k in scaled else f"{k}={_fmt(v)}"
        for k, v in c["hyperparameters"].items()
    )
    values = (
        row.index,
        c["architecture"]["name"],
        c["data"].get("name", c["data"]["kind"]),
        c["optimizer"],
        hp,
        c["init_seed"],
        row.status,
        res.get("L0"),
        checks.get("inside_region", {}).get("inside"),
        checks.get("decrease_every_step", {}).get("holds"),
        checks.get("decrease_every_step", {}).get("first_rise"),
        checks.get("final_loss", {}).get("final"),
        checks.get("diverged", {}).get("diverged"),
    )
    return (*(_fmt(v) for v in values), f"[badge] {claim_outcome(row)}")


def _cases_table(rows: list[CaseRow], caption: str = "") -> Table:
    return Table(
        CASE_HEAD,
        tuple(_case_cells(r) for r in rows[:MAX_TABLE_ROWS]),
        caption=caption,
        numeric=(*CASE_NUMERIC, False, False),
    )


REGION_TEXT = (
    "Theory (`theory.descent`) guarantees that one step decreases an L-smooth loss inside the "
    "exact regions it derives: gradient descent for lr·L < 2 (drawn at τ = 0), adaptive "
    "momentum for τ below τ_max(lr); a constant momentum β > 0 has none fixed before the run "
    "(its exact region bounds β ρ_k, ρ_k the previous step over |g_k|, unbounded). Each case is "
    "placed with L₀, the largest |Hessian eigenvalue| at its initial weights, blue if the loss "
    "decreased at every step and red if it rose at some step. L₀ is local: a red point inside "
    "the region met more curvature later. Points beyond the axes are drawn on the edge. Cases "
    "with no verdict (outside the theorem: a relu net, an optimizer without a region) are not "
    "drawn."
)


REGION_HEAD = ("optimizer", "region", "inside", "inside, yet rose", "outside", "no verdict", "why")


def region_rows(rows: list[CaseRow]) -> tuple[tuple[str, ...], ...]:
    """Per optimizer (in case order), plugins' included: its region, the finished cases inside
    it (and of them, those whose loss rose), outside it, and without a verdict, with each
    distinct reason (the check's note: no region, one theory refuses, one that needs per-step
    values, L_0 not finite). The figure draws the built-in regions; this reads every one."""
    table: dict[str, dict[str, Any]] = {}
    for r in rows:
        check = ((r.results or {}).get("checks") or {}).get("inside_region")
        if r.status != "done" or check is None:
            continue
        t = table.setdefault(r.case["optimizer"], {"regions": [], "n": Counter(), "why": []})
        if check.get("region") and check["region"] not in t["regions"]:
            t["regions"].append(check["region"])
        inside = check["inside"]
        t["n"]["inside" if inside else "outside" if inside is False else "none"] += 1
        t["n"]["rose"] += claim_outcome(r) == "falsified"
        if inside is None and check.get("note") and check["note"] not in t["why"]:
            t["why"].append(check["note"])
    return tuple(
        (
            name,
            ", ".join(t["regions"]) or "none",
            *(str(t["n"][k]) for k in ("inside", "rose", "outside", "none")),
            "; ".join(t["why"]),
        )
        for name, t in table.items()
    )


def _region_caption(rows: list[CaseRow]) -> str:
    """The region figure's caption, naming the swept optimizers it cannot draw (their regions
    live in other planes, or they have none): those are in the table only."""
    from .sweep_figures import ADAPTIVE_PLANE, CONSTANT_PLANE

    swept = {r.case["optimizer"] for r in rows}
    drawn = (*ADAPTIVE_PLANE, *CONSTANT_PLANE)
    left = sorted(swept - set(drawn))
    planes = [
        f"{', '.join(o for o in plane if o in swept)} in the {axes} plane"
        for plane, axes in ((ADAPTIVE_PLANE, "(lr L, tau L)"), (CONSTANT_PLANE, "(lr L, beta)"))
        if swept & set(plane)
    ]  # only the swept ones: it named optimizers the sweep never ran (held-out report review)
    text = f"Finished cases over theory's regions: {', '.join(planes) or 'none drawn'}."
    if left:
        text += f" Not drawn: {', '.join(left)} (each in the table below)."
    return text


#: what the outcomes mean (a held-out report reader found them defined in this docstring only)
OUTCOMES_CAPTION = (
    "The claim, per case: held (inside theory's region at L₀ and E decreased at every step), "
    "falsified (inside, yet E rose at some step), vacuous (outside the region: theory "
    "promises nothing there), no verdict (theory gives no a-priori region for the case: the "
    "optimizer has none, needs per-step values or has one theory refuses, the net's E is not "
    "L-smooth, as with relu, or L₀ is not finite), not evaluated (the case lacks the check, "
    "failed, or is pending). In the tables, first rise is the first step k with E(w_k+1) > E(w_k)."
)


def _sections(data: SweepData, counts: dict[str, dict[str, int]]) -> list[Section]:
    rows = data.rows
    falsified = [r for r in rows if claim_outcome(r) == "falsified"]
    failed = [r for r in rows if r.status == "failed"]
    region = Section("region", "The descent region").add(
        Paragraph(REGION_TEXT),
        Figure("region.png", _region_caption(rows), "descent region and cases"),
        Table(
            REGION_HEAD,
            region_rows(rows),
            caption="Every optimizer's region, read from each finished case's inside_region check.",
            numeric=(False, False, True, True, True, True, False),
        ),
    )
    outcomes = Section("outcomes", "Outcomes").add(
        Figure("outcomes.png", "Cases per outcome of each check and of the claim.", "outcomes"),
        Table(
            ("check", "outcome", "cases"),
            tuple((g, o, str(n)) for g, outs in counts.items() for o, n in outs.items()),
            caption=OUTCOMES_CAPTION,
            numeric=(False, False, True),
        ),
        Figure("final_loss.png", "E(w_K) / E(w_0) per optimizer.", "final loss over initial"),
    )
    inside = Section("falsified", f"Inside the region, yet the loss rose ({len(falsified)})")
    inside.add(_cases_table(falsified) if falsified else Paragraph("None."))
    inside.add(
        Paragraph(
            f"`descentcheck replay {data.path.name} --case N --dir DIR` writes case N (its # "
            "here) as spec.json, data.npz and params.npz, and prints the `descentcheck train` "
            "command that replays it with the sweep's bits."
        )
    )
    fails = Section("failed", f"Failed cases ({len(failed)})")
    fails.add(
        Table(
            ("#", "case", "error"),
            tuple((str(r.index), describe(r.case), r.error or "") for r in failed),
            numeric=(True, False, False),
        )
        if failed
        else Paragraph("None.")
    )
    more = f"the first {MAX_TABLE_ROWS} are shown; " if len(rows) > MAX_TABLE_ROWS else ""
    every = Section("cases", f"All cases ({len(rows)})").add(
        _cases_table(
            rows,
            f"Every case is a pure function of its JSON; {more}results.json holds each case's "
            "key (the SHA-256 of that JSON) and its results.",
        )
    )
    return [region, outcomes, inside, fails, every]


def _subtitle(data: SweepData, counts: dict[str, dict[str, int]]) -> list[str]:
    m = data.meta
    finished = counts["status"]["done"] + counts["status"]["failed"]
    seconds = sum(r.seconds or 0.0 for r in data.rows)
    return [
        f"Database `{data.path.name}`, schema {m.get('schema_version')}, config "
        f"`{m.get('config_hash', '')[:16]}`, created {m.get('created_utc', '')} with "
        f"descentcheck {m.get('descentcheck_version', '')}, numpy {m.get('numpy_version', '')}.",
        f"{finished} of {len(data.rows)} cases finished; {seconds:.1f} s of worker time.",
        *_plugins_line(m),
    ]


def _plugins_line(meta: dict[str, str]) -> list[str]:
    """The plugins installed when the sweep was made, each with its package and source digest."""
    code = recorded_code(meta)
    if code is None:
        return []
    plugins = [f"{k.split('.', 1)[-1]} ({v})" for k, v in sorted(code.items()) if ":" in k]
    return [f"Plugins: {', '.join(plugins) if plugins else 'none'}."]


def _results(data: SweepData, counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    m = data.meta
    return {
        "format": REPORT_FORMAT,
        "sweep": {
            "name": m.get("name"),
            "config_hash": m.get("config_hash"),
            "n_cases": int(m.get("n_cases", len(data.rows))),
            "schema_version": int(m.get("schema_version", 0)),
            "created_utc": m.get("created_utc"),
            "descentcheck_version": m.get("descentcheck_version"),
            "code": recorded_code(m),
            "config": json.loads(m.get("config_json", "null")),
        },
        "counts": counts,
        "cases": [_case_entry(r) for r in data.rows],
    }


def report_from_db(db_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the sweep report for ``db_path`` into ``out_dir`` (default: ``<db stem>_report``
    beside the database); return the path of ``index.html``."""
    from descentcheck.impl.interrupts import deferred_interrupts
    from descentcheck.impl.io import atomic_write_text

    from . import sweep_figures
    from .build import _publish
    from .html import render_html
    from .markdown import render_markdown

    data = read_sweep(db_path)
    out = Path(out_dir) if out_dir is not None else data.path.with_name(f"{data.path.stem}_report")
    out.mkdir(parents=True, exist_ok=True)
    # built in a staging folder beside, then moved in with Ctrl-C held off: an interrupted or
    # failed build leaves the earlier report whole, never a new figure beside an old page
    stage = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        counts = count_outcomes(data.rows)
        region, losses = _points(data.rows)
        sweep_figures.region_figure(region, stage / "region.png")
        sweep_figures.outcomes_figure(counts, stage / "outcomes.png")
        sweep_figures.final_loss_figure(losses, stage / "final_loss.png")
        doc = json.dumps(_results(data, counts), indent=1, ensure_ascii=False)
        atomic_write_text(stage / "results.json", doc + "\n")
        title = f"Sweep {data.meta.get('name', '')}".strip()
        sections, subtitle = _sections(data, counts), _subtitle(data, counts)
        atomic_write_text(stage / "report.md", render_markdown(title, subtitle, sections))
        atomic_write_text(stage / "index.html", render_html(title, subtitle, sections))
        with deferred_interrupts():
            _publish(stage, out, managed=())
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / "index.html"
