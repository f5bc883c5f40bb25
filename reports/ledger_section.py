"""The claims-ledger section: one row per claim, then each claim's statement, source,
conditions, measured-against-theory numbers, and for a counterexample its DAG, loss curve and
replay command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from descentcheck.properties.ledger import REPLAYABLE

from . import counterexamples as cx
from .document import Bullets, Callout, Code, Details, Figure, Paragraph, Section, Table
from .fmt import count, num, seconds


def _outcome(c: dict[str, Any]) -> str:
    return f"[badge] {c['outcome']}"


#: how a ledger's ``aggregation`` folded a number over the cases, in the table's words
_FOLDED = {
    "max": "largest",
    "min": "smallest",
    "sum": "total",
    "mean": "mean",
    "counterexample": "its counterexample's",
}


def _numbers(c: dict[str, Any]) -> Table | None:
    measured, theory = c.get("measured") or {}, c.get("theory") or {}
    keys = list(measured) + [k for k in theory if k not in measured]
    if not keys:
        return None
    folded = c.get("aggregation") if isinstance(c.get("aggregation"), dict) else None

    def shown(d: dict[str, Any], k: str) -> str:
        return num(d[k], 4) if isinstance(d.get(k), int | float) else str(d.get(k, "-"))

    rows = tuple(
        (f"`{k}`", shown(measured, k), shown(theory, k))
        + ((_FOLDED.get(str(folded.get(k)), "-"),) if folded is not None else ())
        for k in keys
    )
    if folded is None:  # an experiment's own numbers (or an older ledger): as it gave them
        return Table(
            ("quantity", "measured", "theory"),
            rows,
            caption="What the claim measured beside what theory says.",
            numeric=(False, True, True),
        )
    return Table(
        ("quantity", "measured", "theory", "over its cases"),
        rows,
        caption=(
            "What the claim measured beside what theory says: each number folded over the "
            "claim's cases as the last column says (the largest, the smallest, the total or "
            "the mean of the per-case values), or the counterexample's own (counterexample_*)."
        ),
        numeric=(False, True, True, False),
    )


def _certified(measured: dict[str, Any]) -> Paragraph | None:
    """How many tested steps were certified in ball arithmetic, and why the others were not."""
    if "steps_certified" not in measured:
        return None
    done, left = int(measured["steps_certified"]), int(measured.get("steps_uncertified", 0))
    if done + left == 0:
        return None
    why = "; ".join(
        f"{int(v)}: {k.split(':', 1)[1].strip()}"
        for k, v in measured.items()
        if k.startswith("uncertified:")
    )
    return Paragraph(
        f"**Certified.** {done} of {done + left} tested steps "
        f"({num(100 * done / (done + left), 4)}%) were certified in Arb ball arithmetic on the "
        "real network, each for the claim's own inequality"
        + (f"; not certified: {why}." if why else ".")
    )


def certified_total(claims: list[dict[str, Any]]) -> tuple[int, int]:
    """Certified and uncertified tested steps over the claims expected to hold."""
    done = left = 0
    for c in claims:
        m = c.get("measured") or {}
        if c["expect"] == "holds" and "steps_certified" in m:
            done += int(m["steps_certified"])
            left += int(m.get("steps_uncertified", 0))
    return done, left


def unresolved_total(claims: list[dict[str, Any]]) -> int:
    """Steps of the claims expected to hold whose change was below the float resolution:
    neither tested nor passed (said beside the certified share, which leaves them out)."""
    return sum(
        int((c.get("measured") or {}).get("steps_unresolved", 0))
        for c in claims
        if c["expect"] == "holds"
    )


def _pair_blocks(ce: dict[str, Any], cid: str, fig_dir: Path, rel: str) -> list[Any]:
    """For a skip-DAG counterexample: the sequential net and the skip net, side by side."""
    if "sequential" not in ce:
        return []
    cx.pair_figure(ce, fig_dir / f"pair_{cid}.png")
    seq = ce["sequential"]["losses"]
    return [
        Paragraph(
            f"**The pair.** With the same learning rate, the sequential net (left) decreased "
            f"its loss at every one of {len(seq) - 1} steps ({seq[0]!r} → {seq[-1]!r}); the "
            f"same net with the skip connection (right, in red) rose at step {ce['step']}. "
            f"L_0: sequential {num(ce['L0_sequential'], 4)}, with the skip "
            f"{num(ce['L0_skip'], 4)}."
        ),
        Figure(
            f"{rel}/pair_{cid}.png",
            f"The metamorphic pair of `{cid}`: the sequential DAG and the skip DAG.",
            f"sequential and skip DAGs of the counterexample to {cid}",
        ),
    ]


def _counterexample_blocks(
    c: dict[str, Any], out_dir: Path, fig_dir: Path, rel: str
) -> tuple[list[Any], dict[str, Any]]:
    ce = c["counterexample"]
    cid = c["id"]
    cx.write_files(ce, out_dir / "counterexamples" / cid)
    rep = cx.replay(ce)
    command = cx.replay_command(ce, cid)
    cx.counterexample_figure(ce, rep, cid, fig_dir / f"counterexample_{cid}.png")
    hp = ", ".join(
        # a float exactly (its shortest repr): "lr = 1" was 0.9999999999999998
        f"{k} = {v!r}" if isinstance(v, float) else f"{k} = {v}"
        for k, v in ce["hyperparameters"].items()
    )
    certified = ce.get("certified_increase")
    cert = {
        True: "certified in Arb ball arithmetic (the new loss's ball lies wholly above "
        "the old one)",
        False: "not certified in ball arithmetic",
        None: "not checked in ball arithmetic",
    }.get(certified, str(certified))
    n = len(ce["data"]["x"])
    blocks: list[Any] = [
        Paragraph(
            f"**Counterexample.** {count(len(ce['spec']['nodes']), 'node')}, "
            f"{count(n, 'sample')}; {hp}. At step "
            f"{ce['step']} the loss rose from {ce['loss_before']!r} to {ce['loss_after']!r} "
            f"(+{num(ce['increase'], 4)}), {cert}."
        ),
        Figure(
            f"{rel}/counterexample_{cid}.png",
            f"Counterexample to `{cid}`: its DAG, its loss per step with the rise in red, and "
            "the change of loss per step (symmetric log scale).",
            f"DAG and loss curve of the counterexample to {cid}",
        ),
        *_pair_blocks(ce, cid, fig_dir, rel),
        Paragraph(
            "Replay it (from the report folder; the files are in "
            f"`counterexamples/{cid}/`) and `train` prints the rise:"
        ),
        Code(command, "sh"),
        Callout(
            "Replayed in-process: the same two losses, bit for bit."
            if rep["reproduced"]
            else "Replayed in-process: the losses differ from the stored ones "
            f"({rep['loss_before']!r} → {rep['loss_after']!r}).",
            "ok" if rep["reproduced"] else "fail",
        ),
    ]
    return blocks, {
        "command": command,
        **{k: rep[k] for k in ("reproduced", "loss_before", "loss_after")},
    }


def _processes(jobs: Any) -> str:
    return f"{jobs} {'process' if jobs == 1 else 'processes'}"


def _command(ledger: dict[str, Any], claims: list[dict[str, Any]]) -> str:
    """The ``verify`` command that checks what the ledger holds, and, when that is not every
    registered claim, how many were left out (a held-out reader took a two-claim ledger's
    ``verify --profile fast`` for a run of all 46)."""
    from descentcheck.properties import BY_ID

    ran = [str(c["id"]) for c in claims]
    done = set(ran)
    left = [i for i in BY_ID if i not in done]
    command = f"descentcheck verify --profile {ledger['profile']}"
    if not left:
        return f"`{command}`"
    if len(ran) <= 6:
        command += "".join(f" --claim {i}" for i in ran)
        head = f"`{command}`"
    else:
        head = f"`{command}` with a selection of `--claim`s"
    return (
        f"{head} (of the {len(BY_ID)} claims registered here, {len(left)} "
        f"{'is' if len(left) == 1 else 'are'} not in this ledger, "
        f"{', '.join(f'`{i}`' for i in left[:3])}{', ...' if len(left) > 3 else ''})"
    )


def _overview(
    ledger: dict[str, Any], claims: list[dict[str, Any]], source: str | None = None
) -> list[Any]:
    """What ran (``source``: the ledger file given, not run by this build), and one table row
    per claim."""
    given = f"From the ledger file `{source}` (not run by this build): " if source else ""
    return [
        Paragraph(
            f"{given}{_command(ledger, claims)} checked {len(claims)} "
            f"claim{'' if len(claims) == 1 else 's'} in "
            f"{seconds(float(ledger['seconds']))} ({_processes(ledger.get('jobs', 1))}, "
            f"Hypothesis seed {ledger.get('hypothesis_seed')}). A claim expected to hold must "
            "survive every generated case; a claim expected to fail must be falsified, with a "
            "shrunk counterexample that `descentcheck train` replays — that shows the search has "
            "teeth. "
            "Held means that no generated case falsified the claim: evidence over the cases "
            "drawn, not a proof for every network (a certified step is proved, in ball "
            "arithmetic, for that step of that case only; the derivations section says what "
            "is proved symbolically). "
            "Open a claim for its statement, source, conditions and measured numbers; the "
            "falsified ones show their counterexample."
        ),
        Table(
            ("claim", "expect", "outcome", "cases", "seconds", "as expected"),
            tuple(
                (
                    f"`{c['id']}`",
                    c["expect"],
                    _outcome(c),
                    str(c["examples"]),
                    f"{float(c['seconds']):.1f}",
                    "[badge] yes" if c["meets_expectation"] else "[badge] no",
                )
                for c in claims
            ),
            caption="One row per claim; cases = generated examples (or seeds, for an experiment).",
            numeric=(False, False, False, True, True, False),
        ),
    ]


def _totals(claims: list[dict[str, Any]], stats: dict[str, Any]) -> list[Any]:
    """The ledger-wide certified share and what the strategies generated (each when present)."""
    out: list[Any] = []
    done, left = certified_total(claims)
    if done + left:
        out.append(
            Paragraph(
                f"Certified verdicts: {done} of {done + left} tested steps of the claims expected "
                f"to hold ({num(100 * done / (done + left), 4)}%) are proved in Arb ball "
                "arithmetic on the real network; each falsified claim's increase is certified "
                "(verify reports an error otherwise). Not among them: "
                f"{unresolved_total(claims)} unresolved steps, whose change or guarantee was "
                "below the float resolution, neither tested nor passed"
                + (
                    f"; and {stats['vacuous']} of {stats['draws']} draws tested nothing "
                    "(vacuous: no step in a region, no layer of the kind claimed)."
                    if stats.get("draws") and "vacuous" in stats
                    else "."
                )
            )
        )
    if stats.get("cases"):
        out.append(
            Paragraph(
                f"The strategies generated {stats['cases']} random DAGs for the claims that draw "
                f"them: mean depth {num(stats['depth_mean'], 3)} (max {stats['depth_max']}), "
                f"{num(100 * stats['share_with_skip'], 3)}% with skip connections "
                f"({num(100 * stats['share_with_add'], 3)}% with add, "
                f"{num(100 * stats['share_with_concat'], 3)}% with concat), "
                f"{num(100 * stats['share_with_distance'], 3)}% with a distance layer, median "
                f"{num(stats['params_median'])} parameters (max {stats['params_max']})."
            )
        )
    return out


def _claim_details(
    c: dict[str, Any], out_dir: Path, fig_dir: Path, rel: str
) -> tuple[Details, dict[str, Any] | None]:
    """One claim's collapsible block, and its counterexample's additions (None without one)."""
    blocks: list[Any] = [
        Paragraph(f"**Statement.** {c['statement']}"),
        Paragraph(f"**Source.** {c['source']}"),
    ]
    if c.get("conditions"):
        blocks += [Paragraph("**Conditions.**"), Bullets(tuple(c["conditions"]))]
    table = _numbers(c)
    if table is not None:
        blocks.append(table)
    cert = _certified(c.get("measured") or {})
    if cert is not None:
        blocks.append(cert)
    if c.get("message") and c["outcome"] != "held":
        # a crash's last frames, kept apart from its one-line message, are shown below it
        text = str(c["message"]) + (f"\n{c['traceback']}" if c.get("traceback") else "")
        blocks.append(Code(text, "text"))
    info = None
    ce = c.get("counterexample")
    if ce and REPLAYABLE <= set(ce):  # a run: replayed, drawn, its files written
        more, info = _counterexample_blocks(c, out_dir, fig_dir, rel)
        blocks += more
    elif ce:  # a record of the claim's own making (a plugin's): shown as it is, as the ledger does
        blocks += [
            Paragraph("**Counterexample** (the claim's own record, not a run to replay):"),
            Code(json.dumps(ce, indent=1, default=str), "json"),
        ]
    head = (
        f"`{c['id']}`: expected to {'hold' if c['expect'] == 'holds' else 'fail'}, "
        f"{c['outcome']} after {count(c['examples'], 'case')}"
        + ("" if c["meets_expectation"] else " (UNEXPECTED)")
    )
    return Details(head, blocks, open=c["outcome"] != "held" or not c["meets_expectation"]), info


def ledger_section(
    ledger: dict[str, Any], out_dir: Path, fig_dir: Path, rel: str, source: str | None = None
) -> tuple[Section, dict[str, Any]]:
    """The section, and what the report adds to the ledger (replay commands and checks);
    ``source`` names the ledger file it was read from, when this build did not run verify."""
    sec = Section("ledger", "Claims ledger")
    claims = ledger["claims"]
    sec.add(*_overview(ledger, claims, source))
    sec.add(*_totals(claims, (ledger.get("stats") or {}).get("all") or {}))
    extra: dict[str, Any] = {}
    for c in claims:
        details, info = _claim_details(c, out_dir, fig_dir, rel)
        if info is not None:
            extra[c["id"]] = info
        sec.add(details)
    return sec, extra
