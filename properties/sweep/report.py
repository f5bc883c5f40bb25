"""The sweep's own small report: ``index.html`` + PNGs + ``results.json``, offline.

:func:`report_from_db` reads a sweep database (read only; a partial sweep is reported as far as
it got) and writes into ``out_dir``:

* ``region.png``, ``outcomes.png``, ``final_loss.png`` (:mod:`.figures`);
* ``results.json``: ``{"format": "descentcheck.sweep-report/1", "sweep": {...meta...},
  "counts": {GROUP: {OUTCOME: n}}, "cases": [{"key", "index", "label", "architecture", "data",
  "optimizer", "hyperparameters", "relative_to_L", "init_seed", "status", "error", "claim",
  "results"}, ...]}`` (no timings, so it depends on the sweep's results alone);
* ``index.html``: one page, inline CSS, no scripts and no URLs; the figures, the counts, the
  cases where the claim failed, the failed cases, and every case.

The claim read from each case: *inside theory's region (L_0 at w_0) => E decreased at every
step*. Outcome ``held`` (inside, decreased), ``falsified`` (inside, rose: L_0 is local, so the
curvature met later may exceed it), ``vacuous`` (outside or no region: theory promises
nothing), or ``not evaluated`` (the case lacks a check, failed, or is pending).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from .expand import describe
from .store import CaseRow, SweepData, read_sweep

REPORT_FORMAT = "descentcheck.sweep-report/1"
CLAIM = "claim inside ⇒ decrease"
MAX_TABLE_ROWS = 2000


def claim_outcome(row: CaseRow) -> str:
    """The claim's outcome on one case (see the module docstring)."""
    if row.status != "done" or row.results is None:
        return "not evaluated"
    checks = row.results["checks"]
    if "inside_region" not in checks or "decrease_every_step" not in checks:
        return "not evaluated"
    inside = checks["inside_region"]["inside"]
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
            "no region": ins.count(None),
        }
    div = [c["diverged"]["diverged"] for c in done if "diverged" in c]
    if div:
        out["diverged"] = {"diverged": div.count(True), "finite": div.count(False)}
    claims = Counter(claim_outcome(r) for r in rows)
    out[CLAIM] = {k: claims[k] for k in ("held", "falsified", "vacuous", "not evaluated")}
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
    region, losses = [], []
    for r in rows:
        if r.status != "done" or r.results is None:
            continue
        checks = r.results["checks"]
        if "decrease_every_step" not in checks:
            continue
        decreased = checks["decrease_every_step"]["holds"]
        opt = r.case["optimizer"]
        if "inside_region" in checks:
            reg = checks["inside_region"]
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


# ---- HTML ----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 76em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.9em; } img { max-width: 100%; } .muted { color: #666; }
.held { color: #2a7fb8; } .falsified { color: #d1495b; font-weight: 600; }
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    h = "".join(f"<th>{_e(x)}</th>" for x in head)
    body = []
    for r in rows:
        cells = []
        for v in r:
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_e(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _case_cells(row: CaseRow) -> list[Any]:
    c = row.case
    res = row.results or {}
    checks = res.get("checks", {})
    scaled = ("lr", "tau") if c.get("relative_to_L") else ()
    hp = ", ".join(
        f"{k}·L₀={_fmt(v)}" if k in scaled else f"{k}={_fmt(v)}"
        for k, v in c["hyperparameters"].items()
    )
    return [
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
        claim_outcome(row),
    ]


_CASE_HEAD = [
    "#", "architecture", "data", "optimizer", "hyperparameters", "seed", "status", "L₀",
    "inside", "decreased", "first rise", "final loss", "diverged", "claim",
]  # fmt: skip


def _html(data: SweepData, counts: dict[str, dict[str, int]]) -> str:
    m = data.meta
    rows = data.rows
    falsified = [r for r in rows if claim_outcome(r) == "falsified"]
    failed = [r for r in rows if r.status == "failed"]
    seconds = sum(r.seconds or 0.0 for r in rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Sweep {_e(m.get('name', ''))}</title><style>{_CSS}</style></head><body>",
        f"<h1>Sweep {_e(m.get('name', ''))}</h1>",
        f"<p class='muted'>Database <code>{_e(data.path.name)}</code>, schema "
        f"{_e(m.get('schema_version'))}, config <code>{_e(m.get('config_hash', '')[:16])}</code>, "
        f"created {_e(m.get('created_utc', ''))} with descentcheck "
        f"{_e(m.get('descentcheck_version', ''))}, numpy {_e(m.get('numpy_version', ''))}. "
        f"{counts['status']['done'] + counts['status']['failed']} of {len(rows)} cases "
        f"finished; {seconds:.1f} s of worker time.</p>",
        "<h2>The descent region</h2>",
        "<p>Theory (<code>theory.descent</code>) guarantees that one step decreases an "
        "L-smooth loss when, for adaptive momentum, tau + L (lr + tau)²/2 &lt; lr, and for "
        "gradient descent when lr·L &lt; 2; a constant momentum beta &gt; 0 has no such region. "
        "Each case is placed with L₀, the largest |Hessian eigenvalue| at its initial weights, "
        "and coloured by whether the loss decreased at every step (blue) or rose at some step "
        "(red; a place shared by several cases is red when any of them rose and is labelled "
        "rose/cases). L₀ is local: a red point inside the region met more curvature later.</p>",
        '<p><img src="region.png" alt="descent region with the cases"></p>',
        "<h2>Outcomes</h2>",
        '<p><img src="outcomes.png" alt="counts of outcomes"></p>',
        _table(
            ["check", "outcome", "cases"],
            [[g, o, n] for g, outs in counts.items() for o, n in outs.items()],
        ),
        '<p><img src="final_loss.png" alt="final loss relative to initial"></p>',
        f"<h2>Inside the region, yet the loss rose ({len(falsified)})</h2>",
    ]
    if falsified:
        parts.append(_table(_CASE_HEAD, [_case_cells(r) for r in falsified[:MAX_TABLE_ROWS]]))
    else:
        parts.append("<p>None.</p>")
    parts.append(f"<h2>Failed cases ({len(failed)})</h2>")
    if failed:
        parts.append(
            _table(["#", "case", "error"], [[r.index, describe(r.case), r.error] for r in failed])
        )
    else:
        parts.append("<p>None.</p>")
    parts.append(f"<h2>All cases ({len(rows)})</h2>")
    if len(rows) > MAX_TABLE_ROWS:
        parts.append(
            f"<p class='muted'>The first {MAX_TABLE_ROWS} are shown; results.json has all.</p>"
        )
    parts.append(_table(_CASE_HEAD, [_case_cells(r) for r in rows[:MAX_TABLE_ROWS]]))
    parts.append(
        "<p class='muted'>Every case is a pure function of its JSON; results.json holds each "
        "case's key (the SHA-256 of that JSON) and its results.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def report_from_db(db_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the sweep report for ``db_path`` into ``out_dir`` (default: ``<db stem>_report``
    beside the database); return the path of ``index.html``."""
    from descentcheck.impl.io import atomic_write_bytes, atomic_write_text

    from . import figures

    data = read_sweep(db_path)
    out = Path(out_dir) if out_dir is not None else data.path.with_name(f"{data.path.stem}_report")
    out.mkdir(parents=True, exist_ok=True)
    counts = count_outcomes(data.rows)
    region, losses = _points(data.rows)
    atomic_write_bytes(out / "region.png", figures.region_figure(region))
    atomic_write_bytes(out / "outcomes.png", figures.outcomes_figure(counts))
    atomic_write_bytes(out / "final_loss.png", figures.final_loss_figure(losses))
    m = data.meta
    doc = {
        "format": REPORT_FORMAT,
        "sweep": {
            "name": m.get("name"),
            "config_hash": m.get("config_hash"),
            "n_cases": int(m.get("n_cases", len(data.rows))),
            "schema_version": int(m.get("schema_version", 0)),
            "created_utc": m.get("created_utc"),
            "descentcheck_version": m.get("descentcheck_version"),
            "config": json.loads(m.get("config_json", "null")),
        },
        "counts": counts,
        "cases": [_case_entry(r) for r in data.rows],
    }
    atomic_write_text(out / "results.json", json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    index = out / "index.html"
    atomic_write_text(index, _html(data, counts))
    return index
