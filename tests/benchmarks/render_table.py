"""Render a pytest-benchmark JSON file of ``tests/benchmarks`` as a Markdown report.

    python tests/benchmarks/render_table.py BENCH.json [-o BENCH.md]

With a per-layer breakdown (``test_breakdown``), a table of where the large net's step goes.
Per-step times are the call time divided by the steps each call trains (``extra_info["steps"]``);
each cell shows the minimum over rounds and, in brackets, the median. Goal ratios come from the
interleaved ``test_ratio_*`` benchmarks (median of the per-round ratios, and the ratio of the two
minima) when the file has them, else from the separate benchmarks' minima. Every goal is shown as
met or not, and by how much when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

IMPLS = ("descentcheck", "torch", "jax", "floor", "torch_floor")
BLAS_TIE = 0.03  # MKL / numpy floors within 3% of each other: neither BLAS is the faster
TITLES = {"descentcheck": "descentcheck", "torch": "PyTorch eager", "jax": "JAX jit"}
LABELS = {"torch": "PyTorch eager", "floor": "BLAS floor", "jax": "JAX jit"}
# issue 14: small DAGs at most a third of PyTorch eager's time; large nets within 1.2 times
# their BLAS floor and no slower than PyTorch eager, at every width
TARGETS = {("small", "torch"): 0.33, ("large", "floor"): 1.2, ("large", "torch"): 1.0}


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _cell(stats: dict[str, float] | None, per: int = 1) -> str:
    if stats is None:
        return "-"
    return f"{_time(stats['min'] / per)} ({_time(stats['median'] / per)})"


def _goal(value: float, target: float, below: bool = True) -> str:
    ok = value <= target if below else value >= target
    if ok:
        return "met"
    return f"**not met**: {value / target - 1:.0%} over" if below else "**not met**"


def _machine(info: dict[str, Any]) -> str:
    cpu = info.get("lscpu", {})
    model = cpu.get("Model name") or info.get("cpu", {}).get("brand_raw") or info.get("machine")
    v = info.get("versions", {})
    blas = ", ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})"
        for b in v.get("blas", [])
    )
    parts = [
        f"{model}, {cpu.get('CPU(s)', info.get('cpu', {}).get('count', '?'))} CPUs",
        f"L2 {cpu['L2 cache']}, L3 {cpu['L3 cache']}" if "L2 cache" in cpu else None,
        f"{info.get('system')} {info.get('release')}",
        f"Python {v.get('python', info.get('python_version'))}",
        f"numpy {v.get('numpy')}; BLAS libraries loaded: {blas or 'unknown'}",
        (
            "numpy's float64 exp and tanh: "
            + ("AVX-512 SIMD loops" if v["numpy_tanh_exp_simd"] else "scalar libm loops")
            if "numpy_tanh_exp_simd" in v
            else None
        ),
        (
            "large products: "
            + (f"MKL's dgemm ({v.get('mkl')}, CNR)" if v["large_products"] == "mkl" else "numpy's")
            + f" ({v.get('cpu_vendor') or 'CPU vendor unknown'})"
            if "large_products" in v
            else None
        ),
        (
            "large arrays' exp: "
            + ("MKL's (mkl_umath)" if v["large_exp"] == "mkl_umath" else "numpy's")
            if "large_exp" in v
            else None
        ),
        (
            "large activations' tails: "
            + (
                f"numba {v.get('numba')}'s fused kernels"
                if v["fused"] == "numba"
                else "numpy's chains"
            )
            if "fused" in v
            else None
        ),
        f"torch {v['torch']}" if v.get("torch") else "torch not installed",
        f"torch CPU capability {v['torch_cpu_capability']}"
        if v.get("torch_cpu_capability")
        else None,
        (
            "set: " + ", ".join(f"{k}={x}" for k, x in v["emulation"].items())
            if v.get("emulation")
            else None
        ),
        f"jax {v['jax']}" if v.get("jax") else "jax not installed",
        f"threads per library: {info.get('bench_threads', '?')}"
        + (f" (process pinned to CPUs {info['pinned_cpus']})" if info.get("pinned_cpus") else ""),
    ]
    return "; ".join(p for p in parts if p)


def _cores_used(ratios: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """One sentence: the most cores each side computed on in a timed round (CPU time over wall
    time) and its minor page faults per round, over every interleaved ratio."""
    cores: dict[str, float] = {}
    faults: dict[str, float] = {}
    for r in ratios.values():
        e = r["extra_info"]
        if "cores_a" not in e:  # a JSON from before these were recorded
            continue
        for k, side in (("a", "descentcheck"), ("b", e["b"])):
            cores[side] = max(cores.get(side, 0.0), e[f"cores_{k}"])
            faults[side] = max(faults.get(side, 0.0), e[f"faults_{k}"])
    if not cores:
        return []
    each = ", ".join(
        f"{LABELS.get(k, k)} {cores[k]:.2f} cores, {faults[k]:.0f} faults" for k in sorted(cores)
    )
    return [
        "Most CPU time over wall time of a timed round, and most minor page faults per round, "
        f"over the ratios: {each}.",
        "",
    ]


def _breakdown(b: dict[str, Any]) -> list[str]:
    """A step breakdown (``breakdown.step_breakdown``) as table lines: ms per step, and each
    row's rest as a share of the step."""

    def ms(t: float) -> str:
        return f"{t * 1e3:.2f}"

    step = b["step"]
    lines = [
        "| layer | op | forward: products | forward: rest | backward: products "
        "| backward: rest | rest, share of step |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in b["layers"]:
        rest = r["fwd_rest"] + r["bwd_rest"]
        lines.append(
            f"| {r['layer']} | {r['op']} | {ms(r['fwd_products'])} | {ms(r['fwd_rest'])} "
            f"| {ms(r['bwd_products'])} | {ms(r['bwd_rest'])} | {rest / step:.1%} |"
        )
    lines += [
        f"| (network: loss, gradient sums, frees) | | | | | {ms(b['network'])} "
        f"| {b['network'] / step:.1%} |",
        f"| (trainer: norms, update, what no layer wrote in place) | | | | | {ms(b['trainer'])} "
        f"| {b['trainer'] / step:.1%} |",
        f"| **step** | | {ms(b['products'])} products | | "
        f"| {ms(b['rest'])} rest ({ms(b.get('rest_of_parts', b['rest']))} in the rows) "
        f"| {b['rest'] / step:.1%} |",
    ]
    return lines


def render(data: dict[str, Any]) -> str:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in data["benchmarks"]:
        by_kind[b["extra_info"].get("kind", "other")].append(b)
    commit = data.get("commit_info", {})
    lines = [
        "# descentcheck benchmarks",
        "",
        f"{data.get('datetime', '')[:19]} UTC, commit {str(commit.get('id', '?'))[:10]}"
        f"{' (uncommitted changes)' if commit.get('dirty') else ''}, "
        f"pytest-benchmark {data.get('version', '?')}.",
        "",
        f"Machine: {_machine(data.get('machine_info', {}))}.",
        "",
    ]

    # ---- per step
    steps: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for b in by_kind["step"]:
        steps[b["extra_info"]["case"]][b["extra_info"]["impl"]] = b
    ratios = {(b["extra_info"]["case"], b["extra_info"]["b"]): b for b in by_kind["ratio"]}
    if steps:
        lines += [
            "## Per training step (forward, backward, momentum update)",
            "",
            "Minimum over rounds per step (median in brackets); every side trains the same net "
            "from the same parameters in the same process, warmed up. Ratios are descentcheck's "
            "time over the other's, measured interleaved (median of per-round ratios); a ratio "
            "marked ~ comes from the separate runs' minima instead. The BLAS floor is the step's "
            "matrix products alone through the BLAS its large products take (the machine line's "
            "large products); torch's BLAS floor, the same products "
            "through torch's (where it is faster, PyTorch eager starts that far ahead).",
            "",
            "| net | batch | params | descentcheck | PyTorch eager | JAX jit | BLAS floor "
            "| torch's BLAS floor | dc / torch | dc / JAX | dc / floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines[-2:-2] = _cores_used(ratios)
        for case, impls in steps.items():
            ref = next(iter(impls.values()))["extra_info"]
            per = ref["steps"]
            st = {k: impls[k]["stats"] if k in impls else None for k in IMPLS}
            dc = st["descentcheck"]

            def ratio(other: str, case=case, dc=dc, st=st) -> str:
                r = ratios.get((case, other))
                if r is not None:
                    return f"{r['extra_info']['median_ratio']:.2f}"
                if dc is None or st[other] is None:
                    return "-"
                return f"~{dc['min'] / st[other]['min']:.2f}"

            lines.append(
                f"| {case} | {ref['batch']} | {ref['n_params']} | {_cell(dc, per)} "
                f"| {_cell(st['torch'], per)} | {_cell(st['jax'], per)} "
                f"| {_cell(st['floor'], per)} | {_cell(st['torch_floor'], per)} "
                f"| {ratio('torch')} | {ratio('jax')} "
                f"| {ratio('floor')} |"
            )
        lines.append("")

    # ---- per layer
    for b in by_kind["breakdown"]:
        e = b["extra_info"]
        lines += [
            f"## Where a step of {e['case']} goes: matrix products and the rest, per layer",
            "",
            "ms per step (CPU time with one thread per library); each layer's rules timed inside "
            "`loss_and_grad`, their matrix products alone (the floor's shapes), interleaved, "
            "minimum over "
            f"{e['repeats']} repeats; *rest* = rule - its products.",
            "",
            *_breakdown(e),
            "",
        ]

    # ---- which BLAS
    if by_kind["blas_choice"]:
        lines += [
            "## Which BLAS multiplies fastest here",
            "",
            "The BLAS floor per step through MKL's `dgemm` and through numpy's BLAS, interleaved "
            "(minima; the ratio is the median of per-round ratios). "
            "descentcheck's large products take MKL's on Intel CPUs and numpy's "
            "elsewhere (`impl/ops/blas.py`, `DESCENTCHECK_BLAS`); this checks that choice here.",
            "",
            "| net | MKL's floor | numpy's floor | MKL / numpy | taken | the faster? (within 3%: tie) |",
            "|---|---:|---:|---:|---|---|",
        ]
        for b in by_kind["blas_choice"]:
            e = b["extra_info"]
            r, ms = e["median_ratio"], 1e3 / e["steps"]  # per step, as the table above
            # within 3% either way is a tie: run-to-run spread on a shared machine is that wide
            faster = "mkl" if r < 1 - BLAS_TIE else "numpy" if r > 1 + BLAS_TIE else None
            verdict = "tie" if faster is None else "yes" if e["chosen"] == faster else "**no**"
            lines.append(
                f"| {e['case']} | {e['min_a'] * ms:.2f} ms | {e['min_b'] * ms:.2f} ms | {r:.2f} "
                f"| {e['chosen']} | {verdict} |"
            )
        lines.append("")

    # ---- goals
    goals_at = len(lines)
    lines += ["## Goals", "", "| goal | measured | target | status |", "|---|---|---|---|"]
    # a run of the ratios alone (``-k test_ratio``) has no per-side steps: its goals still show
    for case in dict.fromkeys([*steps, *(c for c, _ in ratios)]):
        impls = steps.get(case, {})
        size = "large" if "floor" in impls or (case, "floor") in ratios else "small"
        for other in ("floor", "torch"):
            r = ratios.get((case, other))
            target = r["extra_info"].get("goal") if r else TARGETS.get((size, other))
            if target is None:
                continue
            if r is not None:
                e = r["extra_info"]
                value = e["median_ratio"]
                shown = (
                    f"{value:.3f} (ratio of minima {e['ratio_of_minima']:.3f}), "
                    f"interleaved, {e['rounds']} rounds"
                )
            elif "descentcheck" in impls and other in impls:
                value = impls["descentcheck"]["stats"]["min"] / impls[other]["stats"]["min"]
                shown = f"{value:.3f} (minima of separate runs)"
            else:
                continue
            lines.append(
                f"| {case}: descentcheck / {LABELS[other]} per step | {shown} | <= {target:g} "
                f"| {_goal(value, target)} |"
            )
    for b in by_kind["verify"]:
        e, s = b["extra_info"], b["stats"]
        lines.append(
            f"| `{e['case']}` | {_time(s['min'])}; {e.get('summary', '')} "
            f"(exit status {e.get('exit_status')}) | < {e['goal']:.0f} s "
            f"| {_goal(s['min'], e['goal'])} |"
        )
    for b in by_kind["cli"]:
        e, s = b["extra_info"], b["stats"]
        lines.append(
            f"| `{e['case']}` start-up | {_time(s['median'])} median, {_time(s['min'])} min "
            f"| < {e.get('goal', 0.3)} s | {_goal(s['median'], e.get('goal', 0.3))} |"
        )
    if len(lines) == goals_at + 4:  # no goal was measured in this file
        del lines[goals_at:]
    else:
        lines.append("")

    # ---- JAX compile
    if by_kind["jax_compile"]:
        lines += [
            "## JAX compile time (trace, lower, compile: paid for every new architecture)",
            "",
            "| net | compile | = descentcheck steps |",
            "|---|---:|---:|",
        ]
        for b in by_kind["jax_compile"]:
            case = b["extra_info"]["case"]
            dc = steps.get(case, {}).get("descentcheck")
            n = ""
            if dc is not None:
                n = f"{b['stats']['min'] / (dc['stats']['min'] / dc['extra_info']['steps']):.0f}"
            lines.append(f"| {case} | {_cell(b['stats'])} | {n} |")
        lines.append("")

    # ---- large reproductions per backend
    if by_kind["device_step"]:
        lines += [
            "## Large distance networks per backend (RMSProp, full batch)",
            "",
            "Per step, minimum over rounds (median in brackets); the CuPy rows appear only where "
            "a GPU was available.",
            "",
            "| net | batch | params | backend | device | per step |",
            "|---|---:|---:|---|---|---:|",
        ]
        for b in by_kind["device_step"]:
            e = b["extra_info"]
            lines.append(
                f"| {e['case']} | {e['batch']} | {e['n_params']} | {e['backend']} "
                f"| {e['device']} | {_cell(b['stats'], e['steps'])} |"
            )
        lines.append("")

    # ---- other costs
    lines += ["## Other costs", "", "| what | time | note |", "|---|---:|---|"]
    for b in by_kind["throughput"]:
        e, s = b["extra_info"], b["stats"]
        lines.append(
            f"| property throughput | {e['cases'] / s['min']:.1f} cases/s "
            f"({e['cases'] / s['median']:.1f} median) | {e['measured']}; {e['cases']} cases per "
            f"round, {s['rounds']} rounds |"
        )
    for b in by_kind["theory"]:
        e, s = b["extra_info"], b["stats"]
        lines.append(
            f"| theory suite (`{e['case']}`) | {_time(s['min'])} | {e.get('summary', '')} "
            f"(exit status {e.get('exit_status')}) |"
        )
    for b in by_kind["gradcheck"]:
        e = b["extra_info"]
        lines.append(
            f"| gradient check, {e['case']} | {_cell(b['stats'])} | "
            f"`check_network_gradient`, complex step, {e['n_params']} parameters |"
        )
    for b in by_kind["plugin_loss"]:
        lines.append(
            f"| a loss plugin's derived value and gradient, {b['extra_info']['case']} "
            f"| {_cell(b['stats'])} | `LossPlugin.value_and_grad`, lambdified |"
        )
    for b in by_kind["layer"]:
        e = b["extra_info"]
        lines.append(
            f"| distance layer forward + backward, {e['case']}, {e['impl']} path "
            f"| {_cell(b['stats'])} | |"
        )
    lines.append("")

    # ---- accuracy
    if by_kind["accuracy"]:
        lines += [
            "## Distance layer: accuracy of the matmul path (errors in eps = 2^-52)",
            "",
            "Against the direct formula in extended precision; *scaled*: relative to the sum of "
            "the magnitudes of the terms (the theory checks' measure), *normwise*: relative to "
            "the largest exact value; worst over the output and all gradients.",
            "",
            "| op | inputs | matmul scaled | matmul normwise | direct scaled | direct normwise |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for b in by_kind["accuracy"]:
            for row in b["extra_info"]["rows"]:
                m, d = row["matmul"], row["direct"]
                lines.append(
                    f"| {b['extra_info']['case'][3:]} | {row['scenario']} "
                    f"| {m['scaled_eps']:.1f} | {m['normwise_eps']:.1f} "
                    f"| {d['scaled_eps']:.1f} | {d['normwise_eps']:.1f} |"
                )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    ap.add_argument("-o", "--out", type=Path, help="write the Markdown here (default: stdout)")
    args = ap.parse_args(argv)
    text = render(json.loads(args.json.read_text()))
    if args.out:
        args.out.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
