"""The mutation-score section: how many mutants of the trainer the claims ledger alone kills.

``tox -e mutants`` mutates ``impl/optim``, ``impl/ops``, ``impl/losses.py`` and
``impl/network.py`` with mutmut and runs ``descentcheck verify --profile fast`` (the ledger,
nothing else) against each mutant; ``tests/mutation/collect.py`` writes the outcome, with the
triage of every survivor, to ``mutants.json`` beside this module. The score is

    score = killed / (tried - equivalent)

where *killed* counts timeouts and crashes too, and an *equivalent* mutant is one no claim can
tell from the original (each is recorded with why). A survivor that is not equivalent is a
*gap*: the claim added for it is named, and a test shows it kills that mutant; or, where the
mutated code was dead (read by nothing in the package), it is removed and ``removed`` says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from descentcheck.impl.errors import DescentcheckError

from .document import Callout, Paragraph, Section, Table
from .fmt import num

MUTANTS_FILE = Path(__file__).resolve().parent / "mutants.json"
MUTANTS_FORMAT = "descentcheck.mutants/1"
STATUSES = ("killed", "timeout", "survived")
TRIAGE_KINDS = ("equivalent", "gap")
COUNT_KEYS = (
    "generated",
    "filtered",
    "not_sampled",
    "tried",
    "killed",
    "timeout",
    "survived",
    "equivalent",
    "gap",
)


class MutantsFileError(DescentcheckError):
    """The mutation results file is missing, unreadable or inconsistent."""


def _check_mutant(m: Any, i: int) -> None:
    if not isinstance(m, dict):
        raise MutantsFileError(f"mutants.json: mutant {i} is not an object")
    for key in ("file", "line", "original", "mutated", "status"):
        if key not in m:
            raise MutantsFileError(f"mutants.json: mutant {i} has no {key!r}")
    if m["status"] not in STATUSES:
        raise MutantsFileError(f"mutants.json: mutant {i} has unknown status {m['status']!r}")
    triage = m.get("triage")
    if m["status"] == "survived":
        if not isinstance(triage, dict) or triage.get("kind") not in TRIAGE_KINDS:
            raise MutantsFileError(f"mutants.json: survivor {m['file']}:{m['line']} is not triaged")
        if not str(triage.get("reason", "")).strip():
            raise MutantsFileError(
                f"mutants.json: survivor {m['file']}:{m['line']} has no triage reason"
            )


def _check_counts(data: dict[str, Any]) -> None:
    counts, mutants = data["counts"], data["mutants"]
    if not isinstance(counts, dict) or any(not isinstance(counts.get(k), int) for k in COUNT_KEYS):
        raise MutantsFileError(
            "mutants.json: counts must give an integer for each of " + ", ".join(COUNT_KEYS)
        )
    tally = {s: sum(1 for m in mutants if m["status"] == s) for s in STATUSES}
    kinds = {
        k: sum(
            1
            for m in mutants
            if (m.get("triage") or {}).get("kind") == k and m["status"] == "survived"
        )
        for k in TRIAGE_KINDS
    }
    expected = {**tally, **kinds, "tried": len(mutants)}
    for key, value in expected.items():
        if counts[key] != value:
            raise MutantsFileError(
                f"mutants.json: counts[{key!r}] is {counts[key]} but the mutants give {value}"
            )
    if counts["generated"] != counts["filtered"] + counts["not_sampled"] + counts["tried"]:
        raise MutantsFileError("mutants.json: generated != filtered + not_sampled + tried")


def validate(data: Any) -> dict[str, Any]:
    """``data`` when it is a well-formed results file; MutantsFileError (one line) otherwise."""
    if not isinstance(data, dict) or data.get("format") != MUTANTS_FORMAT:
        raise MutantsFileError(f"mutants.json: not a {MUTANTS_FORMAT} file")
    for key in ("commit", "tool", "test_command", "sample", "seconds", "counts", "mutants"):
        if key not in data:
            raise MutantsFileError(f"mutants.json: no {key!r}")
    if not isinstance(data["mutants"], list):
        raise MutantsFileError("mutants.json: 'mutants' must be a list")
    for i, m in enumerate(data["mutants"]):
        _check_mutant(m, i)
    _check_counts(data)
    return data


def load_mutants(path: str | Path | None = None) -> dict[str, Any]:
    """The committed results (default: ``mutants.json`` beside this module), validated."""
    p = Path(path) if path is not None else MUTANTS_FILE
    try:
        data = json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise MutantsFileError(f"{p}: no mutation results (run tox -e mutants)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MutantsFileError(f"{p}: unreadable ({str(e).splitlines()[0]})") from None
    return validate(data)


def score(counts: dict[str, int]) -> float:
    """killed (timeouts included) over the non-equivalent mutants tried."""
    live = counts["tried"] - counts["equivalent"]
    return (counts["killed"] + counts["timeout"]) / live if live else 1.0


def score_after_rerun(data: dict[str, Any]) -> float:
    """The score once the gaps' reruns count: killed plus the survivors a new claim killed."""
    c = data["counts"]
    closed = sum(
        1
        for m in data["mutants"]
        if m["status"] == "survived"
        and str((m.get("triage") or {}).get("rerun", "")).startswith("killed by")
    )
    live = c["tried"] - c["equivalent"]
    return (c["killed"] + c["timeout"] + closed) / live if live else 1.0


def _survivor_rows(data: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    rows = []
    for m in data["mutants"]:
        if m["status"] != "survived":
            continue
        t = m["triage"]
        why = t["reason"]
        if t.get("claim"):
            why += f" Claim added: `{t['claim']}`"
            why += f"; rerun on this mutant: {t['rerun']}." if t.get("rerun") else "."
        if t.get("removed"):  # a gap closed by removing dead code (the callout counts it so)
            why += f" Closed: {t['removed']}"
        rows.append(
            (
                f"`{m['file']}:{m['line']}`",
                f"`{m['original'].strip()}` → `{m['mutated'].strip()}`",
                t["kind"],
                why,
            )
        )
    return tuple(rows)


def _intro(data: dict[str, Any]) -> Paragraph:
    s = data["sample"]
    rate, top = float(s["rate"]), float(s.get("top", 0.0))
    sample = (
        "every mutant"
        if rate + top >= 1.0
        else f"a seeded sample (rate {num(rate, 3)}, seed {s['seed']}; "
        "the full run is `tox -e mutants` without MUTANTS_SAMPLE)"
        if not top
        else f"a seeded sample of {num(rate + top, 3)} of the mutants (seed {s['seed']}: "
        f"hash keys below {num(rate, 3)}, run upward, and at or above {num(1 - top, 3)}, run "
        "downward by a second worker)"
    )
    return Paragraph(
        f"{data['tool']} mutated the trainer ({', '.join(data.get('paths', []))}) at commit "
        f"`{str(data['commit'])[:12]}` and ran the claims ledger alone (`{data['test_command']}`) "
        f"against {sample}, in {num(float(data['seconds']) / 60, 3)} minutes. A mutant is "
        "killed when a claim misses its expectation, crashes or times out. Mutants that only "
        "touch a docstring, an annotation or the text of a raised error are not tried "
        "(*filtered* counts those inside the sample)."
    )


def mutants_section(data: dict[str, Any] | None = None) -> Section:
    """The section, from the committed results (``data``: already loaded ones)."""
    sec = Section("mutants", "Mutation score: what the ledger alone kills")
    if data is None and not MUTANTS_FILE.is_file():
        return sec.add(Callout("No mutation results in this build: run `tox -e mutants`.", "note"))
    data = load_mutants() if data is None else validate(data)
    c = data["counts"]
    sec.add(_intro(data))
    sec.add(
        Table(
            ("mutants", "count"),
            (
                *((k.replace("_", " "), str(c[k])) for k in COUNT_KEYS),
                ("score: killed / (tried − equivalent)", num(score(c), 4)),
                (
                    "score with the claims added for the gaps (rerun)",
                    num(score_after_rerun(data), 4),
                ),
            ),
            caption="Killed includes crashes; timeouts are counted on their own row and in "
            "the score.",
            numeric=(False, True),
        )
    )
    open_gaps = [
        m
        for m in data["mutants"]
        if m["status"] == "survived"
        and m["triage"]["kind"] == "gap"
        and not (m["triage"].get("claim") or m["triage"].get("removed"))
    ]
    if open_gaps:
        sec.add(
            Callout(
                f"{len(open_gaps)} surviving mutant(s) are real gaps no claim closes yet: "
                + ", ".join(f"`{m['file']}:{m['line']}`" for m in open_gaps)
                + ".",
                "fail",
            )
        )
    elif c["survived"] == c["equivalent"]:
        sec.add(Callout("The ledger alone kills every non-equivalent mutant tried.", "ok"))
    else:
        sec.add(
            Callout(
                f"{c['gap']} survivors were gaps; each now has a claim that kills it "
                "(shown by a test), rerun on the mutant, or its code is gone (dead code "
                "removed, the reason recorded).",
                "note",
            )
        )
    if any((m.get("triage") or {}).get("rerun") for m in data["mutants"]):
        sec.add(
            Paragraph(
                "Each gap's mutant was run again against the ledger with the new claims added "
                "(the claim files copied onto the same commit); *rerun* names the claim that "
                "killed it there. `tests/test_mutants.py` shows each new claim holding on the "
                "trainer and failing on its mutant at the current commit."
            )
        )
    rows = _survivor_rows(data)
    if rows:
        sec.add(
            Table(
                ("where", "mutation", "triage", "why"),
                rows,
                caption="Every survivor of the run, with its triage.",
            )
        )
    return sec
