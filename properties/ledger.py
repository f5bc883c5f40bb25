"""``descentcheck verify``: run the claims ledger, write it as JSON, print it.

The JSON follows DESIGN.md::

    {"profile", "seconds",
     "claims": [{"id", "statement", "source", "expect": "holds"|"fails",
                 "outcome": "held"|"falsified"|"error", "examples",
                 "counterexample": null | {"spec", "data", "params", "hyperparameters",
                                           "step", ...},
                 "conditions", "measured", "theory", "seconds", "meets_expectation", ...}],
     "stats": {"per_claim": {id: {...}}, "all": {...}},   # what the strategies generated
     "ok": true|false}

Non-finite numbers are written as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (JSON has none).
Claims run in ``profile.jobs`` worker processes (each claim is independent; Hypothesis's example
database is a directory, safe to share).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from descentcheck.impl.interrupts import ignore_interrupts, interrupt_once, stop_pool
from descentcheck.impl.io import atomic_write_text
from descentcheck.impl.threads import allowed_cpus, run_on
from descentcheck.impl.trajectory import jsonable

from .claims import BY_ID, CLAIMS
from .counterexample import RUN_KEYS
from .profiles import Profile, get_profile
from .runner import run_claim
from .stats import StatsCollector, summarize

LEDGER_FORMAT = "descentcheck.ledger/1"


def _run_one(claim_id: str, profile: Profile) -> dict[str, Any]:
    return run_claim(BY_ID[claim_id], profile)


def processes(jobs: int, claims: int) -> int:
    """How many processes run ``claims`` claims under ``jobs``: never more than the claims
    (``--workers 1000`` forked a thousand for two), and 1 (this one) for a single claim."""
    return max(1, min(jobs, claims))


def start_worker(cpus: frozenset[int] | None) -> None:
    """Pool initializer of the ledger's forked workers: Ctrl-C left to the parent, and the
    worker on the parent's CPUs (``impl.threads.run_on``: MKL's fork handler may have put it on
    fewer)."""
    ignore_interrupts()
    run_on(cpus)


def run_claims(
    profile: Profile, ids: Iterable[str] | None = None, progress: bool = False
) -> list[dict[str, Any]]:
    """Ledger entries for the claims ``ids`` (default: all), in ledger order (each once,
    whatever order they were asked in)."""
    ids = list(ids) if ids is not None else [c.id for c in CLAIMS]
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise ValueError(f"unknown claim {unknown[0]!r}; known: {', '.join(BY_ID)}")
    ids = [c.id for c in CLAIMS if c.id in set(ids)]
    done: dict[str, dict[str, Any]] = {}

    def report(entry: dict[str, Any]) -> None:
        if progress:
            mark = "as expected" if entry["meets_expectation"] else "NOT as expected"
            print(
                f"[{len(done)}/{len(ids)}] {entry['id']}: {entry['outcome']} "
                f"({entry['examples']} examples, {entry['seconds']:.1f} s) {mark}",
                file=sys.stderr,
                flush=True,
            )

    # the costliest first, so the workers finish together
    order = sorted(ids, key=lambda i: -BY_ID[i].cost)
    workers = processes(profile.jobs, len(ids))
    if workers == 1:
        for i in order:
            done[i] = _run_one(i, profile)
            report(done[i])
    else:
        # Ctrl-C: the workers are terminated at once (shutdown would wait for their claims), and
        # a second Ctrl-C cannot cut that short (it hung the exit, the workers still running)
        with interrupt_once():
            pool = ProcessPoolExecutor(
                max_workers=workers, initializer=start_worker, initargs=(allowed_cpus(),)
            )
            try:
                futures = {pool.submit(_run_one, i, profile): i for i in order}
                for f in as_completed(futures):
                    done[futures[f]] = f.result()
                    report(done[futures[f]])
            except BaseException:
                stop_pool(pool)
                raise
            pool.shutdown()
    return [done[i] for i in ids]


def build_ledger(
    profile: Profile, entries: list[dict[str, Any]], seconds: float, rows: bool = False
) -> dict[str, Any]:
    """The ledger dict (JSON-ready) from claim entries; ``rows`` keeps every case's stats row."""
    claims = []
    per_claim: dict[str, Any] = {}
    everything = StatsCollector()
    for e in entries:
        claim_rows = e.get("stats_rows", [])
        if claim_rows:
            per_claim[e["id"]] = summarize(claim_rows)
            everything.rows.extend({"claim": e["id"], **r} for r in claim_rows)
        if e.get("draws"):
            per_claim[e["id"]] = {**per_claim.get(e["id"], {"cases": 0}), **e["draws"]}
        claims.append({k: v for k, v in e.items() if k not in ("stats_rows", "draws")})
    ledger: dict[str, Any] = {
        "format": LEDGER_FORMAT,
        "profile": profile.name,
        "seconds": seconds,
        "jobs": processes(profile.jobs, len(claims)),
        "hypothesis_database": str(Path(profile.database)),
        "hypothesis_seed": profile.seed,
        "claims": claims,
        "ok": all(c["meets_expectation"] for c in claims),
    }
    totals = {
        k: sum(int(s.get(k, 0)) for s in per_claim.values())
        for k in ("draws", "vacuous", "at_bound", "rejected")
    }
    ledger["stats"] = {"per_claim": per_claim, "all": {**everything.summary(), **totals}}
    if rows:
        ledger["stats"]["rows"] = everything.rows
    return jsonable(ledger)


def write_ledger(ledger: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the ledger as JSON, atomically (temporary file, then rename); the folder is made
    when missing."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(ledger, indent=1, allow_nan=False) + "\n")


def run_verify(
    profile: str = "ci",
    json_path: str | None = None,
    stats: bool = False,
    progress: bool | None = None,
    claims: Iterable[str] | None = None,
    workers: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run the ledger under a profile (``fast``, ``ci``, ``thorough``); write ``json_path`` when
    given; return ``(ledger, ok)`` where ok means every claim met its expectation.

    The ledger always holds the strategy measurements, aggregated (``ledger["stats"]``; the
    CLI's ``--stats`` prints ``format_stats(ledger["stats"])``); ``stats=True`` also keeps one
    row per generated case (``ledger["stats"]["rows"]``). ``progress``: one line per finished
    claim on stderr (None: only when stderr is a terminal). ``claims``: a subset of claim ids.
    ``workers``: worker processes (None: the profile's, ``DESCENTCHECK_JOBS`` or up to 2; 1 runs
    every claim in this process)."""
    prof = get_profile(profile)
    if workers is not None:
        prof = replace(prof, jobs=workers)
    show = sys.stderr.isatty() if progress is None else progress
    t0 = time.perf_counter()
    entries = run_claims(prof, claims, progress=show)
    ledger = build_ledger(prof, entries, time.perf_counter() - t0, rows=stats)
    if json_path is not None:
        write_ledger(ledger, json_path)
    return ledger, bool(ledger["ok"])


# ---- text ---------------------------------------------------------------------------------


def _num(v: Any, digits: int = 4) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}g}"


def _digits(a: Any, b: Any) -> int:
    """Significant digits that show ``a`` and ``b`` apart: 4, or more where 4 round two different
    numbers alike (a held-out plugin's bound read "measured 1, theory 1" for 1 - 5e-13 < 1);
    17 always tells two doubles apart."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if not numbers or a == b:
        return 4
    return next((d for d in range(4, 17) if f"{a:.{d}g}" != f"{b:.{d}g}"), 17)


def _paired(values: dict[str, Any], other: dict[str, Any]) -> str:
    """``values`` as ``key number, ...``, each with the digits that tell it from ``other``'s
    number of the same key (measured beside theory)."""
    return ", ".join(f"{k} {_num(v, _digits(v, other.get(k)))}" for k, v in values.items())


def _held_steps(c: dict[str, Any]) -> bool:
    return c["expect"] == "holds" and "steps_certified" in (c.get("measured") or {})


#: the keys of a counterexample that ``descentcheck replay`` can train again
#: (``counterexample.make_counterexample``)
REPLAYABLE = frozenset({*RUN_KEYS, "step", "loss_before", "loss_after"})


def _clipped(value: Any, width: int = 240) -> str:
    """Compact JSON of ``value``, cut at ``width`` characters (the ledger file has all of it)."""
    text = json.dumps(value, separators=(",", ":"), default=repr)
    return text if len(text) <= width else f"{text[:width]} ... (all of it in the ledger JSON)"


def format_ledger(ledger: dict[str, Any]) -> str:
    """A readable summary: one row per claim, its key numbers, and each counterexample."""
    claims = ledger["claims"]
    rows = [("claim", "expect", "outcome", "examples", "seconds", "as expected")]
    for c in claims:
        rows.append(
            (
                c["id"],
                c["expect"],
                c["outcome"],
                str(c["examples"]),
                f"{float(c['seconds']):.1f}",
                "yes" if c["meets_expectation"] else "NO",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for c in claims:
        lines.append("")
        lines.append(f"{c['id']} ({c['expect']}, {c['outcome']}): {c['statement']}")
        measured = c.get("measured") or {}
        theory = c.get("theory") or {}
        if measured:
            lines.append(f"  measured: {_paired(measured, theory)}")
        if theory:
            lines.append(f"  theory: {_paired(theory, measured)}")
        ce = c.get("counterexample")
        if ce and REPLAYABLE <= set(ce):
            hp = ", ".join(f"{k}={_num(v)}" for k, v in ce["hyperparameters"].items())
            n_nodes = len(ce["spec"]["nodes"])
            lines.append(
                f"  counterexample: {n_nodes}-node spec, {len(ce['data']['x'])} rows, {hp}; "
                f"step {ce['step']}: {ce['loss_before']!r} -> {ce['loss_after']!r}"
                + (" (certified)" if ce.get("certified_increase") else "")
                + (
                    f"; the recorded case {ce['recorded_case']}, not a fresh draw"
                    if ce.get("recorded_case")
                    else ""
                )
            )
        elif ce:  # a record of the claim's own making (a plugin's): shown as it is
            lines.append(f"  counterexample: {_clipped(ce)}")
        shrink = c.get("shrink_seconds")
        if c.get("counterexample") and shrink is not None:
            lines.append(
                f"  search {float(c['seconds']) - float(shrink):.1f} s, shrinking "
                f"{float(shrink):.1f} s ({c.get('shrink_calls', 0)} calls, budget "
                f"{c.get('shrink_budget')})"
            )
        if c.get("database_examples"):
            lines.append(
                f"  began from {c['database_examples']} examples saved in the Hypothesis database "
                "(an earlier run's, of any seed: the counterexample and the sums may be theirs)"
            )
        if c.get("message") and c["outcome"] != "falsified":
            lines.append("  message: " + c["message"].splitlines()[0])
        if refused := [k.split(":", 1)[1] for k in c.get("measured") or {} if _refusal(k)]:
            # a held verdict says nothing of these: theory refuses their regions (a held-out
            # plugin author's gd region on a weight-decay rule showed only in the numbers)
            lines.append(
                f"  left out, theory refuses the region of: {', '.join(refused)} "
                "(python -m descentcheck.theory says why)"
            )
        if c["outcome"] == "falsified" and not ce:
            lines.append(f"  falsified: {c.get('message') or 'the check failed'}")
            lines.append(f"  the shrunk draw: {_clipped(c.get('falsifying_draw'))}")
    return "\n".join(lines + _footer(ledger))


def _refusal(key: str) -> bool:
    return key.startswith("region_refused:")


def _footer(ledger: dict[str, Any]) -> list[str]:
    """The ledger's closing lines: what was certified, how many claims met their expectation,
    and how to replay a counterexample."""
    claims, lines = ledger["claims"], []
    met = sum(c["meets_expectation"] for c in claims)
    done = sum(int(c["measured"].get("steps_certified", 0)) for c in claims if _held_steps(c))
    left = sum(int(c["measured"].get("steps_uncertified", 0)) for c in claims if _held_steps(c))
    if done + left:
        lines.append("")
        lines.append(
            f"certified: {done} of {done + left} tested steps of the claims expected to hold "
            f"({100 * done / (done + left):.2f}%) proved in Arb ball arithmetic"
        )
    runs = [c["measured"] for c in claims if "runs_certified" in (c.get("measured") or {})]
    if runs:
        done_r = sum(int(m["runs_certified"]) for m in runs)
        tested_r = sum(int(m.get("runs_tested", 0)) for m in runs)
        lines.append(
            f"certified: {done_r} of {tested_r} tested runs of the whole-run claims decided in Arb "
            "ball arithmetic"
        )
    jobs = ledger.get("jobs", 1)
    lines.append("")
    lines.append(
        f"{met} of {len(claims)} claims meet their expectation "
        f"(profile {ledger['profile']}, {float(ledger['seconds']):.1f} s, "
        f"{jobs} {'process' if jobs == 1 else 'processes'})"
    )
    if any(c.get("counterexample") for c in claims):
        lines.append(
            "replay a counterexample: descentcheck replay LEDGER.json --claim ID --dir DIR (the "
            "ledger of verify --json LEDGER.json), or descentcheck.properties.write_replay("
            "counterexample, DIR), writes spec.json, data.npz, params.npz and prints the train "
            "command"
        )
    return lines
