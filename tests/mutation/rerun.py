"""Run the ledger again on chosen mutants (by ``file:line:index``, line 1-based) and say which
claim kills each: how a survivor's triage shows that the claim added for it closes the gap.

Run from the mutated tree's root, as the mutation run is (``MUTANTS_SEED_DB`` as there). Each
mutant is written into its file, :mod:`ledger_runner` runs, and the file is put back (also when
the run is interrupted). Prints one JSON line per mutant: ``{"id", "killed", "by", "seconds"}``.

On a later commit than the cache's, lines have moved: the mutated line is then found by its
text (the nearest equal line to where it was, ``"line"`` in the output; ``"gone"`` when no line
has that text any more), and the edit mutmut makes there must be the one ``--results`` (the run's
``reports/mutants.json``) recorded, else ``"edit differs"`` and nothing runs.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collect import mutated_line

HERE = Path(__file__).resolve().parent


def _line_text(cache: Path, filename: str, line_number: int) -> str:
    with sqlite3.connect(cache) as db:
        row = db.execute(
            "SELECT l.line FROM line l JOIN sourcefile s ON l.sourcefile = s.id "
            "WHERE s.filename = ? AND l.line_number = ?",
            (filename, line_number),
        ).fetchone()
    if row is None:
        raise SystemExit(f"no line {line_number + 1} of {filename} in {cache}")
    return row[0]


def rerun(cache: Path, mutant: str, recorded: dict[str, str]) -> dict[str, object]:
    filename, line, index = mutant.rsplit(":", 2)
    text = _line_text(cache, filename, int(line) - 1)
    path = Path(filename)
    equal = [i for i, t in enumerate(path.read_text("utf-8").split("\n")) if t == text]
    if not equal:
        return {"id": mutant, "gone": True}
    n = min(equal, key=lambda i: abs(i - (int(line) - 1)))
    original, mutated = mutated_line(filename, text, n, int(index))
    edit = mutated.split("\n")[n] if mutated != original else None
    if mutant in recorded and edit != recorded[mutant]:
        return {"id": mutant, "line": n + 1, "edit differs": [recorded[mutant], edit]}
    t0 = time.perf_counter()
    try:
        path.write_text(mutated, "utf-8")
        run = subprocess.run(
            [sys.executable, str(HERE / "ledger_runner.py")],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        path.write_text(original, "utf-8")
    last = (run.stdout.strip().splitlines() or [""])[-1]
    by = last.removeprefix("killed by ").split(":")[0] if run.returncode else None
    return {
        "id": mutant,
        "line": n + 1,
        "killed": run.returncode != 0,
        "by": by,
        "seconds": round(time.perf_counter() - t0),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mutants", nargs="+", help="file:line:index (line 1-based)")
    ap.add_argument("--cache", default=".mutmut-cache", type=Path)
    ap.add_argument("--results", type=Path, help="the run's reports/mutants.json")
    args = ap.parse_args(argv)
    runs = json.loads(args.results.read_text("utf-8"))["mutants"] if args.results else []
    recorded = {m["id"]: m["mutated"] for m in runs}
    for m in args.mutants:
        print(json.dumps(rerun(args.cache, m, recorded)), flush=True)


if __name__ == "__main__":
    main()
