"""``build_report``: run every part, draw the figures, write index.html, report.md, results.json.

The claims ledger (``descentcheck verify``) runs in a child process from the start, beside the
report's own experiments; the build waits for it at the end. One progress bar (tqdm) counts the
work units of every part.

BLAS runs with one thread during the build (see :mod:`.blas`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from descentcheck.impl.io import atomic_write_text
from descentcheck.impl.threads import one_blas_thread
from descentcheck.impl.trajectory import jsonable

from . import autoencoder, distance, region, trajectories, vanishing
from .document import Section
from .profiles import ReportProfile, get_profile
from .progress import Progress

FIGURES = "figures"
TITLE = "descentcheck: convergence report"
RESULTS_FORMAT = "descentcheck.report/1"

PARTS = (
    ("region", region),
    ("trajectories", trajectories),
    ("autoencoder", autoencoder),
    ("distance", distance),
    ("vanishing", vanishing),
)


#: the distributions whose versions the numbers depend on: the search (hypothesis), the proofs
#: (z3), the balls (python-flint), the oracle (mpmath), the data (scikit-learn, scipy)
VERSIONED = (
    "numpy",
    "sympy",
    "matplotlib",
    "hypothesis",
    "z3-solver",
    "python-flint",
    "mpmath",
    "scikit-learn",
    "scipy",
)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import descentcheck

    out = {"descentcheck": descentcheck.__version__, "python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


#: the report's own subfolders: what an earlier build made there and this one did not goes
MANAGED = (FIGURES, "counterexamples")
#: the files a build made under MANAGED (so the next drops those it does not make again, and
#: nothing else: a user's own file in a folder named figures/ is not the report's)
MANIFEST = ".descentcheck-report-files.json"


def _publishable(out: Path, target: Path) -> None:
    """Raise a one-line error naming ``target`` unless it, and every folder between ``out`` and
    it, can take its new file (a folder where a file goes, or a file where a folder goes, made
    the rename fail after earlier files had moved: a report of two runs)."""
    from descentcheck.impl.errors import DescentcheckError

    for folder in reversed(target.relative_to(out).parents[:-1]):
        if (out / folder).exists() and not (out / folder).is_dir():
            raise DescentcheckError(
                f"cannot publish the report: {out / folder} is a file where a folder goes; the "
                "earlier report was left as it was"
            )
    if target.exists() and not target.is_file():
        raise DescentcheckError(
            f"cannot publish the report: {target} is not a regular file (a directory?); the "
            "earlier report was left as it was"
        )


def _earlier_build(out: Path) -> set[str]:
    """The files the last build published under MANAGED (none when it left no manifest, or an
    unreadable one: then nothing is dropped)."""
    try:
        listed = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return set()
    return {f for f in listed if isinstance(f, str)} if isinstance(listed, list) else set()


def _publish(stage: Path, out: Path, managed: tuple[str, ...] = MANAGED) -> None:
    """Move every file built in ``stage`` to the same place under ``out`` (each move a rename),
    then drop what the last build made in the ``managed`` subfolders (figures, replay folders of
    claims no longer falsified) and this one did not, as its manifest lists them; files of
    anyone else there are kept."""
    files = sorted(p for p in stage.rglob("*") if p.is_file())
    for src in files:  # every target first: none is replaced unless all can be
        _publishable(out, out / src.relative_to(stage))
    made = set()
    for src in files:
        rel = src.relative_to(stage)
        made.add(rel.as_posix())
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, out / rel)
    if not managed:
        return
    ours = sorted(f for f in made if f.split("/")[0] in managed)
    earlier = _earlier_build(out)
    atomic_write_text(out / MANIFEST, json.dumps(ours, indent=0) + "\n")
    for rel in sorted(earlier - made, reverse=True):
        old = out / rel
        if rel.split("/")[0] in managed and ".." not in rel.split("/") and old.is_file():
            old.unlink()
            for folder in old.relative_to(out).parents[:-2]:  # up to its managed subfolder
                if (out / folder).is_dir() and not any((out / folder).iterdir()):
                    (out / folder).rmdir()


def _experiments(
    prof: ReportProfile, seed: int, bar: Progress, fig_dir: Path, timing: dict[str, float]
) -> tuple[list[Section], dict[str, Any]]:
    """Run the derivations and every experiment; their sections (figures written under
    ``fig_dir``) and their numbers. Each stage's seconds go into ``timing``."""
    from .autoencoder_section import autoencoder_section
    from .derivations import derivations_section
    from .distance_section import distance_section
    from .region_section import region_section
    from .trajectories_section import trajectories_section

    results: dict[str, Any] = {}
    bar.stage("derivations")
    t = time.perf_counter()
    deriv_sec, results["derivations"] = derivations_section()
    timing["derivations"] = time.perf_counter() - t
    bar.tick()
    for name, module in PARTS:
        t = time.perf_counter()
        results[name] = module.run(prof, seed, bar)
        timing[name] = time.perf_counter() - t
    bar.stage("figures")
    t = time.perf_counter()
    sections = [
        deriv_sec,
        region_section(results["region"], fig_dir, FIGURES),
        trajectories_section(results["trajectories"], fig_dir, FIGURES),
        autoencoder_section(results["autoencoder"], fig_dir, FIGURES),
        distance_section(results["distance"], results["vanishing"], fig_dir, FIGURES),
    ]
    timing["figures"] = time.perf_counter() - t
    bar.tick()
    return sections, results


def _ledger(verify: Any, given: dict[str, Any] | None, out: Path) -> dict[str, Any]:
    """The claims ledger: the background verify run's, or the given one (copied to ``out``)."""
    if verify is not None:
        return verify.result()
    assert given is not None
    (out / "ledger.json").write_text(json.dumps(given, indent=1), "utf-8")
    return given


def _write_pages(
    out: Path,
    sections: list[Section],
    prof: ReportProfile,
    seed: int,
    verified: str,
    source: str | None = None,
) -> None:
    """``index.html`` and ``report.md``, from the same sections; ``source`` the ledger file
    given to ``--ledger`` (None: this build ran verify)."""
    from .html import render_html
    from .markdown import render_markdown

    whose = f"the file `{source}`, from " if source else ""
    subtitle = [
        f"Profile `{prof.name}` (its claims ledger: {whose}verify's `{verified}` profile), seed "
        f"{seed}. Claims, derivations and experiments for "
        "backprop with momentum on DAGs with skip connections (Agarwal, Klobusicky & "
        "Schonfeld 2021, arXiv:1705.07404) and distance networks trained with RMSProp "
        "(Kurbiel & Khaleghian 2017, arXiv:1708.01911).",
    ]
    (out / "index.html").write_text(render_html(TITLE, subtitle, sections), "utf-8")
    (out / "report.md").write_text(render_markdown(TITLE, subtitle, sections), "utf-8")


def _build(
    out: Path,
    prof: ReportProfile,
    seed: int,
    verify: Any,
    ledger: dict[str, Any] | None,
    bar: Progress,
    source: str | None = None,
) -> None:
    """Every file of the report, into ``out``; ``source`` the file ``ledger`` was read from."""
    from .ledger_section import ledger_section
    from .summary import summary_section

    t0 = time.perf_counter()
    fig_dir = out / FIGURES
    fig_dir.mkdir()
    timing: dict[str, float] = {}
    sections_body, results = _experiments(prof, seed, bar, fig_dir, timing)
    bar.stage("claims ledger (verify)")
    t = time.perf_counter()
    ledger_data = _ledger(verify, ledger, out)
    timing["waiting_for_verify"] = time.perf_counter() - t
    bar.tick()
    bar.stage("ledger figures and pages")
    led_sec, replays = ledger_section(ledger_data, out, fig_dir, FIGURES, source)
    meta = {"profile": prof.name, "seed": seed, "seconds": time.perf_counter() - t0}
    summ_sec, summary = summary_section(ledger_data, results, meta)
    from .mutants_section import mutants_section  # the committed mutation results (tox -e mutants)

    verified = str(ledger_data.get("profile", prof.verify))  # a given ledger's own
    sections = [summ_sec, led_sec, *sections_body, mutants_section()]
    _write_pages(out, sections, prof, seed, verified, source)
    timing["total"] = time.perf_counter() - t0
    record = {
        "format": RESULTS_FORMAT,
        "profile": prof.name,
        "seed": seed,
        "versions": _versions(),
        "timing_seconds": timing,
        "summary": summary,
        "ledger": {**ledger_data, "report_replays": replays},
        **results,
    }
    (out / "results.json").write_text(
        json.dumps(jsonable(record), indent=1, allow_nan=False) + "\n", "utf-8"
    )


STAGING = ".building-"
"""The prefix of a build's hidden folder inside the output folder, followed by its process id."""


def remove_stale_staging(final: Path) -> list[Path]:
    """Remove the hidden build folders in ``final`` whose process has ended (a build killed
    with SIGKILL cannot remove its own: a held-out tester found them piling up, 636 KB each);
    a live build's folder is kept. Returns the folders removed."""
    removed = []
    for d in final.glob(f"{STAGING}*-*"):
        pid = d.name[len(STAGING) :].split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:  # a number no process id takes
        return False
    except PermissionError:  # another user's process
        return True
    return True


def build_report(
    out_dir: str | Path,
    profile: str = "ci",
    progress: bool | None = None,
    seed: int = 0,
    ledger: str | Path | None = None,
) -> Path:
    """Build the report into ``out_dir``; return the path of its ``index.html``.

    ``profile``: smoke | ci | thorough (see :mod:`.profiles`). ``progress``: True shows the bar,
    None only on a terminal, False never. ``seed`` seeds every experiment and the ledger's
    Hypothesis search. ``ledger``: an existing ``verify --json`` file to present instead of
    running verify, checked before anything runs (``properties.ledger_file``). Everything is
    built in a hidden folder inside ``out_dir`` and moved into place at the end (Ctrl-C held off
    while the files move), so an interrupted or failed build leaves the earlier report whole."""
    from descentcheck.impl.interrupts import deferred_interrupts
    from descentcheck.properties.ledger_file import read_ledger

    from .ledger import VerifyRun

    given = read_ledger(ledger) if ledger is not None else None
    prof = get_profile(profile)
    final = Path(out_dir)
    final.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final)
    out = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-", dir=final))
    verify = (
        None
        if ledger is not None
        else VerifyRun(prof.verify, prof.claims, out / "ledger.json", seed)
    )
    total = sum(module.units(prof) for _, module in PARTS) + 4
    try:
        with one_blas_thread(), Progress(total, progress) as bar:
            _build(out, prof, seed, verify, given, bar, None if ledger is None else str(ledger))
            with deferred_interrupts():
                _publish(out, final)
            bar.tick()
    finally:
        if verify is not None:
            verify.stop()
        shutil.rmtree(out, ignore_errors=True)
    return final / "index.html"
