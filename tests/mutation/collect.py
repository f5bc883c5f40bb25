"""Turn mutmut 2's cache (``.mutmut-cache``, SQLite) and the hand triage
(``tests/mutation/triage.json``) into the committed results file ``reports/mutants.json``.

Run from the mutated tree's root after ``mutmut run`` (its sources restored)::

    python tests/mutation/collect.py --commit SHA --seconds 3600 --out reports/mutants.json

Every mutant mutmut generated is counted: *not_sampled* (outside the seeded sample),
*filtered* (in the sample, but a docstring, annotation or error-text mutant, see
:mod:`filters`), or *tried*, with its status and, for a survivor, its triage. Triage entries are keyed ``file:line:index`` (line
1-based) and give ``kind`` (``equivalent`` or ``gap``), ``reason`` and, for a gap, ``claim``.
A survivor without a triage entry is written with ``kind`` "untriaged", which the report's
loader refuses, so an untriaged run cannot reach the report.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from filters import filter_reason, sampled

from descentcheck.reports.mutants_section import COUNT_KEYS

STATUS = {
    "ok_killed": "killed",
    "ok_suspicious": "killed",  # killed, only slowly
    "bad_timeout": "timeout",
    "bad_survived": "survived",
}
TEST_COMMAND = "descentcheck verify --profile fast (tests/mutation/ledger_runner.py)"


PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def mutated_paths(pyproject: Path = PYPROJECT) -> list[str]:
    """``[tool.mutmut] paths_to_mutate`` of the tree mutmut ran in: a run narrowed to one file
    (README, Mutation runs) records that file, not the default four paths."""
    import tomllib

    config = tomllib.loads(pyproject.read_text("utf-8"))["tool"]["mutmut"]
    return [p.strip() for p in config["paths_to_mutate"].split(",") if p.strip()]


def cache_rows(cache: Path) -> list[tuple[str, str, int, int, str]]:
    """``(file, line text, line number 0-based, index, status)`` for every cached mutant."""
    with sqlite3.connect(cache) as db:
        return db.execute(
            'SELECT s.filename, l.line, l.line_number, m."index", m.status '
            "FROM mutant m JOIN line l ON m.line = l.id JOIN sourcefile s ON l.sourcefile = s.id "
            'ORDER BY s.filename, l.line_number, m."index"'
        ).fetchall()


def mutated_line(filename: str, line: str, line_number: int, index: int) -> tuple[str, str]:
    """The original source and the mutant's source (whole files)."""
    import mutmut

    mid = mutmut.RelativeMutationID(
        line=line, index=index, line_number=line_number, filename=filename
    )
    ctx = mutmut.Context(mutation_id=mid, filename=filename)
    mutated, _ = mutmut.mutate(ctx)
    return ctx.source, mutated


def _diff_line(original: str, mutated: str, line_number: int) -> tuple[str, str]:
    a, b = original.split("\n"), mutated.split("\n")
    return a[line_number], b[line_number] if line_number < len(b) else ""


def collect(
    cache: Path, triage: dict[str, Any], rate: float, seed: int, top: float = 0.0
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    mutants = []
    for filename, line, line_number, index, status in cache_rows(cache):
        counts["generated"] += 1
        if not sampled(filename, line_number, index, rate, seed, top):
            counts["not_sampled"] += 1
            continue
        original, mutated = mutated_line(filename, line, line_number, index)
        if filter_reason(original, mutated, filename) is not None:
            counts["filtered"] += 1
            continue
        if status not in STATUS:  # in the sample but never run: the results are not whole
            raise SystemExit(f"{filename}:{line_number + 1}:{index} was not run ({status})")
        key = f"{filename}:{line_number + 1}:{index}"
        before, after = _diff_line(original, mutated, line_number)
        entry: dict[str, Any] = {
            "id": key,
            "file": filename,
            "line": line_number + 1,
            "index": index,
            "original": before,
            "mutated": after,
            "status": STATUS[status],
        }
        if entry["status"] == "survived":
            t = triage.get(key) or {"kind": "untriaged", "reason": ""}
            entry["triage"] = t
            if t["kind"] in ("equivalent", "gap"):
                counts[t["kind"]] += 1
        counts["tried"] += 1
        counts[entry["status"]] += 1
        mutants.append(entry)
    return counts, mutants


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=".mutmut-cache", type=Path)
    ap.add_argument("--triage", default=Path(__file__).with_name("triage.json"), type=Path)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--seconds", required=True, type=float)
    ap.add_argument("--rate", default=1.0, type=float, help="MUTANTS_SAMPLE of the run")
    ap.add_argument("--seed", default=0, type=int, help="MUTANTS_SEED of the run")
    ap.add_argument("--top", default=0.0, type=float, help="budget.py --descending: 1 - its rate")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    triage = json.loads(args.triage.read_text("utf-8")) if args.triage.is_file() else {}
    counts, mutants = collect(args.cache, triage, args.rate, args.seed, args.top)
    data = {
        "format": "descentcheck.mutants/1",
        "commit": args.commit,
        "tool": f"mutmut {version('mutmut')}",
        "test_command": TEST_COMMAND,
        "paths": mutated_paths(),
        "sample": {"rate": args.rate, "seed": args.seed, **({"top": args.top} if args.top else {})},
        "seconds": args.seconds,
        "counts": counts,
        "mutants": mutants,
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    untriaged = [m["id"] for m in mutants if (m.get("triage") or {}).get("kind") == "untriaged"]
    print(f"{counts}; untriaged survivors: {', '.join(untriaged) or 'none'}")


if __name__ == "__main__":
    main()
