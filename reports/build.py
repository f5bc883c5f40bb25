"""``build_report``: run every part, draw the figures, write index.html, report.md, results.json.

The claims ledger (``descentcheck verify``) runs in a child process from the start, beside the
report's own experiments; the build waits for it at the end. One progress bar (tqdm) counts the
work units of every part.

BLAS runs with one thread during the build (see :mod:`.blas`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import autoencoder, distance, region, trajectories, vanishing
from .blas import single_threaded_blas
from .profiles import get_profile
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


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import sympy

    import descentcheck

    return {
        "descentcheck": descentcheck.__version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "sympy": sympy.__version__,
        "matplotlib": matplotlib.__version__,
    }


def _publish(stage: Path, out: Path) -> None:
    """Move every file built in ``stage`` to the same place under ``out`` (each move a rename),
    then drop the figures an earlier build left that this one did not make."""
    made = set()
    for src in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = src.relative_to(stage)
        made.add(rel)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, out / rel)
    for old in (out / FIGURES).glob("*.png"):
        if old.relative_to(out) not in made:
            old.unlink()


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
    running verify."""
    from .autoencoder_section import autoencoder_section
    from .derivations import derivations_section
    from .distance_section import distance_section
    from .html import render_html
    from .ledger import VerifyRun, load_ledger
    from .ledger_section import ledger_section
    from .markdown import render_markdown
    from .region_section import region_section
    from .summary import summary_section
    from .trajectories_section import trajectories_section

    prof = get_profile(profile)
    final = Path(out_dir)
    final.mkdir(parents=True, exist_ok=True)
    # everything is built in a hidden folder inside out_dir and moved into place at the end,
    # so an interrupted or failed build leaves the earlier report whole
    out = Path(tempfile.mkdtemp(prefix=".building-", dir=final))
    fig_dir = out / FIGURES
    fig_dir.mkdir()
    t0 = time.perf_counter()
    verify = (
        None
        if ledger is not None
        else VerifyRun(prof.verify, prof.claims, out / "ledger.json", seed)
    )
    timing: dict[str, float] = {}
    results: dict[str, Any] = {}
    total = sum(module.units(prof) for _, module in PARTS) + 4
    try:
        with single_threaded_blas(), Progress(total, progress) as bar:
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
            sections_body = [
                deriv_sec,
                region_section(results["region"], fig_dir, FIGURES),
                trajectories_section(results["trajectories"], fig_dir, FIGURES),
                autoencoder_section(results["autoencoder"], fig_dir, FIGURES),
                distance_section(results["distance"], results["vanishing"], fig_dir, FIGURES),
            ]
            timing["figures"] = time.perf_counter() - t
            bar.tick()
            bar.stage("claims ledger (verify)")
            t = time.perf_counter()
            if verify is not None:
                ledger_data = verify.result()
            else:
                ledger_data = load_ledger(Path(ledger))
                (out / "ledger.json").write_text(json.dumps(ledger_data, indent=1), "utf-8")
            timing["waiting_for_verify"] = time.perf_counter() - t
            bar.tick()
            bar.stage("ledger figures and pages")
            led_sec, replays = ledger_section(ledger_data, out, fig_dir, FIGURES)
            meta = {"profile": prof.name, "seed": seed, "seconds": time.perf_counter() - t0}
            summ_sec, summary = summary_section(ledger_data, results, meta)
            sections = [summ_sec, led_sec, *sections_body]
            subtitle = [
                f"Profile `{prof.name}`, seed {seed}. Claims, derivations and experiments for "
                "backprop with momentum on DAGs with skip connections (Agarwal, Klobusicky & "
                "Schonfeld 2021, arXiv:1705.07404) and distance networks trained with RMSProp "
                "(Kurbiel & Khaleghian 2017, arXiv:1708.01911).",
            ]
            (out / "index.html").write_text(render_html(TITLE, subtitle, sections), "utf-8")
            (out / "report.md").write_text(render_markdown(TITLE, subtitle, sections), "utf-8")
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
                json.dumps(_jsonable(record), indent=1, allow_nan=False) + "\n", "utf-8"
            )
            _publish(out, final)
            bar.tick()
    finally:
        if verify is not None:
            verify.stop()
        shutil.rmtree(out, ignore_errors=True)
    return final / "index.html"
