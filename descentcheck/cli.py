"""The ``descentcheck`` command line: a thin layer over the Python API.

Every user mistake ends in one line ``error: ...`` on stderr and exit status 2; no traceback.
Heavy libraries (SymPy, matplotlib, scikit-learn) are imported inside the commands that need
them, so ``descentcheck --help`` starts fast.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from descentcheck.__main__ import INTERRUPTED  # the entry point's line, one text for both
from descentcheck.impl.errors import DescentcheckError, did_you_mean

if TYPE_CHECKING:
    import numpy as np

    from descentcheck.impl.network import Network

BACKEND_NAMES = ("numpy", "cupy")  # impl.backend.BACKENDS, without importing numpy


class _Group(click.Group):
    """Turns the suite's errors, click's usage errors and Ctrl-C into one line each, never a
    traceback nor a usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            _usage_error(ctx, e)
            raise  # unreachable: _usage_error exits

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as e:  # a subcommand's bad option value, a missing option
            _usage_error(ctx, e)
        except DescentcheckError as e:
            _error(str(e))
            ctx.exit(2)
        except UnicodeEncodeError as e:  # a non-ASCII path printed to an ASCII-only stdout
            _error(
                f"cannot print {e.object[e.start : e.end]!r} in this terminal's encoding "
                f"({e.encoding}); set PYTHONIOENCODING=utf-8"
            )
            ctx.exit(2)
        except KeyboardInterrupt as e:  # a sweep says itself what it committed (SweepInterrupted)
            click.echo(INTERRUPTED, err=True)
            ctx.exit(_status(e))
        except BrokenPipeError:  # `descentcheck verify --list | head`: the reader has gone
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
            ctx.exit(141)  # as a shell reports a process ended by SIGPIPE
        except OSError as e:  # "error: run/trajectory.json: is a directory"
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            _error(f"{where}{_why(e)}")
            ctx.exit(2)
        except MemoryError as e:  # numpy names the array: "Unable to allocate 745. GiB for ..."
            _error(f"out of memory: {e or 'an allocation failed'}")
            ctx.exit(2)


def _why(e: OSError) -> str:
    """What went wrong, in lower case; a folder that cannot be made because a file stands in
    its path names that file (as ``train --out`` does), not "not a directory"."""
    if e.filename and isinstance(e, FileExistsError | NotADirectoryError):
        from descentcheck.impl.io import file_in_the_way

        if (bad := file_in_the_way(os.fsdecode(e.filename))) is not None:
            return f"{bad}, not a folder"
    return (e.strerror or str(e)).lower()


def _error(message: str, join: bool = False) -> None:
    """``error: MESSAGE`` on one line whatever the message holds: a newline in it (a path's) is
    shown as ``\\n``; with ``join``, click's multi-line messages (a missing choice option lists
    its choices one per line) are joined instead. Characters stderr cannot encode are escaped."""
    if join:
        message = " ".join(" ".join(line.split()) for line in message.splitlines() if line.strip())
    text = "error: " + message.replace("\r", "\\r").replace("\n", "\\n")
    if not _can_print(text):
        text = text.encode("ascii", "backslashreplace").decode()
    click.echo(text, err=True)


def _can_print(text: str) -> bool:
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _usage_error(ctx: click.Context, e: click.UsageError) -> None:
    """``error: <click's message>``, exit status 2 (click's own status for usage errors); no
    command at all is not an error but a request for the help, which click prints."""
    if isinstance(e, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        raise e
    _error(e.format_message(), join=True)
    ctx.exit(2)


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM's default action ended the process at once, leaving a half-written temporary
    file beside the result (held-out crash audit): it is raised as an interrupt instead."""
    from descentcheck.impl.interrupts import Terminated

    raise Terminated()


def _status(e: BaseException) -> int:
    """128 + the signal: 143 after SIGTERM, 130 after Ctrl-C, as a shell reports them."""
    from descentcheck.impl.interrupts import Terminated

    return 143 if isinstance(e, Terminated) else 130


def run() -> None:
    """The console script: :func:`main`, with SIGTERM raised as an interrupt; once an
    interrupt has been reported (status 130, or 143) the process only exits, and a further
    Ctrl-C would only add a traceback from Python's exit handlers under the one line, so it is
    ignored from then on."""
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    try:
        main()
    except KeyboardInterrupt as e:  # after the command's own handling: its work is done or undone
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        click.echo(INTERRUPTED, err=True)
        sys.exit(_status(e))
    except SystemExit as e:
        if e.code in (130, 143):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="descentcheck")
def main() -> None:
    """Check convergence claims about neural-network training, and train with a float64
    reference trainer whose gradients and updates are verified."""
    if os.environ.get("DESCENTCHECK_VECTOR_MATH"):  # else nothing to check, and numpy unneeded
        from descentcheck.impl.ops.vector_math import setting

        setting()
    if os.environ.get("DESCENTCHECK_FUSED"):
        from descentcheck.impl.ops.fused import setting as fused_setting

        fused_setting()
    if os.environ.get("DESCENTCHECK_BLAS"):
        from descentcheck.impl.ops.blas import provider

        provider()  # a bad value, or mkl asked for where it cannot run, stops every command
    # every command reads the optimizer registry before it starts, so a refused optimizer
    # plugin stops each one with its line (never half-used; train's options come from it)
    from descentcheck.registry.optimizers import names

    names()


def _named_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty path would be the working folder, written into without being named."""
    if value is not None and not value.strip():
        raise click.BadParameter("is empty; name a folder (. for this one)")
    return value


def _network_data_params(
    spec: str, data: str, init: str | None, seed: int | None
) -> tuple[Network, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    from descentcheck.impl.data import load_data
    from descentcheck.impl.io import load_params
    from descentcheck.impl.network import Network

    net = Network.from_spec(spec)
    ds = load_data(data)
    x, y = net.check_data(ds.x, ds.y)
    if init is not None and seed is not None:
        raise click.UsageError("give either --init PARAMS.npz or --seed N, not both")
    params = load_params(init, net) if init is not None else net.init(seed=seed or 0, x=x)
    return net, x, y, params


_spec_arg = click.argument("spec")
_data_opt = click.option(
    "--data",
    required=True,
    help="an .npz with x and y, or a built-in: digits, iris, wine, "
    "breast_cancer, diabetes, xor, spirals, sine",
)
_init_opt = click.option(
    "--init", type=click.Path(dir_okay=False), help="initial parameters (.npz, keys NODE.PARAM)"
)
_seed_opt = click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="initialise with this seed instead (default 0)",
)


class _TrainCommand(click.Command):
    """``train`` with ``--optimizer`` and one option per hyperparameter of the optimizer
    registry (built-ins and plugins), added on first use so that ``descentcheck --help`` loads
    no plugin. A hyperparameter several optimizers take is one option. Rebuilt at each use
    (cheap once the registry is loaded), so it always shows the registry as it is."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        base = getattr(self, "_base", None)
        if base is None:
            base = self._base = list(self.params)
        at = next(i for i, p in enumerate(base) if p.name == "seed") + 1
        self.params = [*base[:at], *_optimizer_options(), *base[at:]]
        return super().get_params(ctx)


class _OptimizerChoice(click.Choice):
    """A registered optimizer's name; a refusal also names entry-point groups that look like
    descentcheck's and are not (a plugin in ``descentcheck.optimizer`` was never loaded)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as e:
            from descentcheck.registry.plugins import stray_groups

            if hint := stray_groups():  # after click's sentence, without its full stop
                e.message = e.message.rstrip(".") + hint
            raise


class _Real(click.ParamType):
    """A float, where a number too large for float64 is named as typed: ``--lr 1e400`` read as
    inf, and the registry's check then said "got inf"."""

    name = "float"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        x = click.FLOAT.convert(value, param, ctx)
        if math.isinf(x) and isinstance(value, str) and "inf" not in value.lower():
            self.fail(f"{value} is beyond float64's range (its largest is 1.8e308)", param, ctx)
        return x


def _optimizer_options() -> list[click.Option]:
    """``--optimizer`` and the hyperparameters' options, from the registry."""
    from descentcheck.registry import optimizers as registry

    names = registry.names()
    out = [click.Option(["--optimizer"], type=_OptimizerChoice(names), required=True)]
    for name, h in registry.options().items():
        users = registry.users(name)
        if h.kind == "choice":
            choices = {c: None for u in users for c in registry.get(u).hyperparameter(name).choices}
            kind: Any = click.Choice(tuple(choices))
        else:
            kind = _Real()
        who = "" if len(users) == len(names) else f"{', '.join(users)}: "
        required = name == "lr"  # every optimizer takes a learning rate
        own = {u: registry.get(u).hyperparameter(name) for u in users}

        def told(x: Any) -> str:  # its help, with its interval and default when it has them
            return x.help + (f" ({x.describe()})" if x.describe() else "")

        text = who + told(h)
        if len({told(x) for x in own.values()}) > 1:  # meanings, ranges or defaults differ
            text = "; ".join(f"{u}: {told(x)}" for u, x in own.items())
        out.append(click.Option([h.option], type=kind, required=required, help=text))
    return out


@main.command(cls=_TrainCommand)
@_spec_arg
@_data_opt
@_init_opt
@_seed_opt
@click.option("--steps", type=int, default=100, show_default=True, help="number of updates")
@click.option("--batch-size", type=int, help="minibatch size (default: full batch)")
@click.option(
    "--shuffle-seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="minibatch order",
)
@click.option(
    "--backend",
    type=click.Choice(BACKEND_NAMES),
    default="numpy",
    show_default=True,
    help="where to compute: numpy on the CPU, or cupy on an NVIDIA GPU (float64 both)",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="output directory",
    callback=_named_path,
)
@click.option("--quiet", "-q", is_flag=True, help="print nothing but errors")
def train(
    spec: str,
    data: str,
    init: str | None,
    seed: int | None,
    optimizer: str,
    steps: int,
    batch_size: int | None,
    shuffle_seed: int,
    backend: str,
    out: str,
    quiet: bool,
    **hyperparameters: float | str | None,
) -> None:
    """Train SPEC on DATA and write OUT/trajectory.json and OUT/params.npz.

    Both files are written atomically and together (temporary files, then renames with Ctrl-C
    held off), so a failed or interrupted run never clobbers an earlier result nor leaves one
    run's parameters beside another's trajectory. A loss that turns inf/NaN stops the run
    with status "diverged".
    """
    from descentcheck.impl.backend import get_backend
    from descentcheck.impl.trainer import train as run

    be = get_backend(backend)  # an unusable backend fails before any data is loaded
    net, x, y, params = _network_data_params(spec, data, init, seed)
    with _new_folders_removed_on_failure(Path(out)):
        for name in ("params.npz", "trajectory.json"):  # before the run, not after it
            _writable(Path(out) / name, "run")
        traj = run(
            net,
            params,
            x,
            y,
            optimizer=optimizer,
            steps=steps,
            batch_size=batch_size,
            seed=shuffle_seed,
            progress=None if not quiet else False,
            backend=be,
            **hyperparameters,
        )
    out_dir = Path(out)
    run_inputs = {
        "spec": net.spec.raw,
        "data": data,
        "init": init if init is not None else {"seed": seed or 0},
    }
    _write_run(out_dir, traj, run_inputs)
    if not quiet:
        up = traj.increases()
        click.echo(f"{traj.status}: {traj.message}")
        # the steps whose loss was evaluated: a run stopped by a non-finite update took one more
        evaluated = len(traj.losses) - 1
        click.echo(
            f"loss {traj.losses[0]:.10g} -> {traj.losses[-1]:.10g} over {evaluated} "
            f"steps ({traj.wall_time:.3g} s on {traj.device})"
        )
        if up:
            k = up[0]
            nan = any(math.isnan(traj.losses[j + 1]) for j in up)
            click.echo(
                f"loss {'increased or became NaN' if nan else 'increased'} at {len(up)} step(s); "
                f"first at step {k}: "
                f"{traj.losses[k]:.17g} -> {traj.losses[k + 1]:.17g}"
            )
        elif evaluated < 1:  # diverged at w_0 (or --steps 0): nothing to compare
            taken = "its one update was not finite" if traj.steps else "no step was taken"
            click.echo(f"{taken}, so nothing to say about a decrease")
        else:
            click.echo("loss decreased (or stayed) at every step")
        click.echo(f"wrote {out_dir / 'trajectory.json'} and {out_dir / 'params.npz'}")


def _write_run(out_dir: Path, traj: Any, inputs: dict[str, Any]) -> None:
    """``out_dir/params.npz`` and ``out_dir/trajectory.json`` (the trajectory, ``inputs`` and
    the parameters file's SHA-256), as a pair: never one run's parameters beside another's
    trajectory; a kill -9 between the two renames can still pair them wrongly, which
    ``params_sha256`` lets readers see."""
    import hashlib
    import json

    from descentcheck.impl.io import atomic_write_files, npz_bytes

    out_dir.mkdir(parents=True, exist_ok=True)
    params_file = npz_bytes(traj.params)
    record = {**traj.to_json(), **inputs}
    record["params_sha256"] = hashlib.sha256(params_file).hexdigest()
    atomic_write_files(
        {
            out_dir / "params.npz": params_file,
            out_dir / "trajectory.json": (json.dumps(record, indent=1) + "\n").encode(),
        }
    )


@main.command()
@_spec_arg
@_data_opt
@_init_opt
@_seed_opt
@click.option(
    "--method",
    type=click.Choice(("auto", "complex_step", "mpmath", "richardson")),
    default="auto",
    show_default=True,
    help="the oracle",
)
@click.option(
    "--rtol",
    type=click.FloatRange(min=0.0),
    default=1e-8,
    show_default=True,
    help="an entry passes when |backprop - oracle| <= rtol * max(|backprop|, |oracle|, "
    "1e-6 * max|gradient|) + 10 * (the oracle's error estimate)",
)
def gradcheck(
    spec: str, data: str, init: str | None, seed: int | None, method: str, rtol: float
) -> NoReturn:
    """Check the backprop gradient of every parameter of SPEC against a high-precision oracle.

    Prints one row per parameter array; exits with status 1 when any check fails, 3 when none
    fails but some could not be decided (UNDECIDED: the oracle's own error would decide).
    """
    import numpy as np
    from tqdm import tqdm

    from descentcheck.impl.gradcheck import check_network_gradient, format_table

    net, x, y, params = _network_data_params(spec, data, init, seed)
    total = sum(int(np.size(params[n])) for n in net.param_names)
    # on a terminal only (disable=None): a large net's check takes minutes
    bar = tqdm(total=total, unit="entry", desc="gradcheck", disable=None, leave=False)
    try:
        with np.errstate(all="ignore"):  # a non-finite loss is reported below, not warned of
            result = check_network_gradient(
                net, params, x, y, method=method, rtol=rtol, progress=lambda _, n: bar.update(n)
            )
    except (ValueError, DescentcheckError) as e:  # an unusable oracle, a loss not finite
        raise DescentcheckError(f"gradcheck: {' '.join(str(e).split())}") from None
    finally:
        bar.close()
    if not net.param_names:  # an empty table would read as if something had been checked
        click.echo("the net has no parameters: no gradient to check")
        sys.exit(0)
    click.echo(format_table(result))
    for row in result:  # why auto passed over an oracle; entries found at a kink
        if row.result.note:
            click.echo(f"note: {row.name}: {row.result.note}")
        if row.result.undecided == "oracle error":  # a kink without an oracle: the note above
            click.echo(f"note: {row.name}: {row.result.message}")
    click.echo(
        "pass: |backprop - oracle| <= rtol * max(|backprop|, |oracle|, 1e-6 * max|gradient|) "
        f"+ 10 * (the oracle's error estimate), rtol {rtol:g}; max rel. error is "
        "|backprop - oracle| over that max"
    )
    if all(r.ok for r in result):
        sys.exit(0)
    sys.exit(3 if all(r.ok or r.result.undecided for r in result) else 1)


class _OpsHelp(click.Command):
    """A command whose help lists the op registry's derivations (plugins' included) where its
    text says ``{ops}``; read when the help is shown, so ``--help`` alone stays fast."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from descentcheck.registry.ops import derive_names
        from descentcheck.registry.optimizers import names

        text = self.help
        self.help = (
            (text or "")
            .replace("{ops}", ", ".join(derive_names()))
            .replace("{optimizers}", ", ".join(names()))
        )
        try:
            super().format_help_text(ctx, formatter)
        finally:
            self.help = text


@main.command(cls=_OpsHelp)
@click.argument("op")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("latex", "sympy", "json", "mathml")),
    default="latex",
    show_default=True,
)
@click.option("--dim", type=int, default=None, help="number of inputs D of an op [default: 3]")
@click.option(
    "--setting",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="an optimizer's choice its rule depends on (repeatable) [default: its default]",
)
def derive(op: str, fmt: str, dim: int | None, settings: tuple[str, ...]) -> None:
    """Print SymPy's derivation of OP: its output and gradient with respect to every parameter
    and input, for one unit with inputs x0..x{D-1} (JSON: {"op", "symbols", "output", "grad"}).
    For an optimizer, its update rule of one entry and its exact descent region (or why it has
    none; JSON: {"optimizer", "state", "step", "region", ...}).

    OP is one of: {ops}; or an optimizer: {optimizers}.
    """
    from descentcheck.registry import ops
    from descentcheck.registry.optimizers import names
    from descentcheck.theory import DeriveError, derive_text

    if dim is not None and op not in ops.derive_names() and op in names():
        # an update rule is of one entry: a D would be silently ignored
        raise DescentcheckError(f"--dim is for ops; {op!r} is an optimizer (one entry's rule)")
    if (info := ops.get(op)) is not None and info.plugin is not None:
        info.plugin.check_rules()  # a refused rule named as train names it
    setting = _derive_setting(op, settings) if settings else None
    try:
        click.echo(derive_text(op, fmt, 3 if dim is None else dim, setting))
    except DeriveError as e:
        raise DescentcheckError(str(e)) from None


def _derive_setting(op: str, settings: tuple[str, ...]) -> dict[str, str]:
    """``--setting NAME=VALUE`` as a dict, each NAME a choice hyperparameter of the optimizer
    ``op`` and VALUE one of its choices (one-line errors otherwise)."""
    from descentcheck.impl.errors import did_you_mean
    from descentcheck.registry.optimizers import get, names

    if op not in names():
        raise DescentcheckError(f"--setting is for optimizers; {op!r} is not one")
    entry = get(op)
    choices = tuple(h.name for h in entry.hyperparameters if h.kind == "choice")
    out: dict[str, str] = {}
    for item in settings:
        name, eq, value = item.partition("=")
        if not eq:
            raise DescentcheckError(f"--setting takes NAME=VALUE, got {item!r}")
        if name not in choices:
            known = f" (its choices: {', '.join(choices)})" if choices else " (it has no choices)"
            raise DescentcheckError(
                f"{op} has no choice {name!r}{known}{did_you_mean(name, choices)}"
            )
        value = entry.hyperparameter(name).check(value)
        if out.get(name, value) != value:  # the last of two used to win, silently
            raise DescentcheckError(f"--setting {name} given twice: {out[name]!r} and {value!r}")
        out[name] = value
    return out


@main.command()
@click.option(
    "--profile",
    type=click.Choice(("fast", "ci", "thorough")),
    default="ci",
    show_default=True,
    help="how many generated cases per claim",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the ledger")
@click.option("--stats", is_flag=True, help="also print what the strategies generated")
@click.option("--claim", "claims", multiple=True, help="run only this claim id (repeatable)")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="worker processes (default: DESCENTCHECK_JOBS, else up to 2); 1 runs in this process",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),  # checked here, not as the DESCENTCHECK_SEED it is passed on as
    default=None,
    help="Hypothesis seed (default: the profile's fixed seed; thorough draws a fresh one)",
)
@click.option(
    "--list", "list_claims", is_flag=True, help="list the claims (id, expect, statement) and stop"
)
def verify(
    profile: str,
    json_path: str | None,
    stats: bool,
    claims: tuple[str, ...],
    workers: int | None,
    seed: int | None,
    list_claims: bool,
) -> None:
    """Run the claims ledger: each claim held on generated cases or falsified with a shrunk,
    replayable counterexample. Exits with status 1 when a claim misses its expectation."""
    _every_registry()
    from descentcheck.properties import BY_ID, format_ledger, format_stats, run_verify

    if list_claims:
        if claims or json_path or stats:
            raise click.UsageError("--list takes no --claim, --json or --stats: it runs nothing")
        width = max(map(len, BY_ID))
        for c in BY_ID.values():
            click.echo(f"{c.id:{width}s}  {c.expect:5s}  {c.statement}")
        return

    unknown = [c for c in claims if c not in BY_ID]
    if unknown:
        # 40-odd ids: the closest one, else the command that lists them (not a 2 KB line)
        near = did_you_mean(unknown[0], BY_ID, "; descentcheck verify --list names them")
        from descentcheck.registry.plugins import stray_groups

        raise DescentcheckError(f"unknown claim {unknown[0]!r}{near}{stray_groups()}")
    if json_path:  # before the claims run, not after
        _writable(Path(json_path), "ledger")
    if seed is not None:  # read by properties.profiles.get_profile, as DESCENTCHECK_SEED
        os.environ["DESCENTCHECK_SEED"] = str(seed)
    ledger, ok = run_verify(
        profile=profile,
        json_path=json_path,
        stats=stats,
        progress=None,
        claims=claims or None,
        workers=workers,
    )
    click.echo(format_ledger(ledger))
    if stats:
        click.echo(format_stats(ledger["stats"]))
    if json_path:
        click.echo(f"wrote {json_path}")
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite results file")
@click.option(
    "--scheduler",
    default=None,
    help="tcp://HOST:PORT runs on a Dask cluster; 'local' (default: worker processes) or 'serial'",
)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="default: all cores")
@click.option("--progress/--no-progress", default=None, help="default: on a terminal only")
def sweep(
    sweep_file: str, db: str, scheduler: str | None, workers: int | None, progress: bool | None
) -> NoReturn:
    """Run a resumable sweep (SWEEP_FILE: TOML or JSON) over architectures, optimizers,
    hyperparameters and seeds; every finished case is committed to the SQLite file at once, so an
    interrupted sweep resumes where it stopped and a finished one does no work."""
    from descentcheck.properties.sweep import SweepInterrupted, run_sweep

    _every_registry()
    try:
        summary = run_sweep(sweep_file, db, scheduler=scheduler, workers=workers, progress=progress)
    except SweepInterrupted as e:
        click.echo(str(e), err=True)
        sys.exit(143 if e.terminated else 130)
    click.echo(summary.format())
    sys.exit(0 if summary.complete else 1)


@contextlib.contextmanager
def _new_folders_removed_on_failure(folder: Path) -> Iterator[None]:
    """Remove the folders up to ``folder`` that the body made, if they are still empty when it
    fails: a refused run (a hyperparameter out of range, Ctrl-C) leaves no empty --out behind."""
    missing = []
    p = folder.absolute()
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for p in missing:  # the deepest first
            with contextlib.suppress(OSError):  # not empty, or gone: left as it is
                p.rmdir()
        raise


def _writable(path: Path, what: str) -> None:
    """Fail now, in one line, if ``path`` cannot be written, rather than after a long run."""
    if path.is_dir():
        raise DescentcheckError(f"cannot write the {what} to {path}: it is a directory")
    if path.exists() and not path.is_file():
        raise DescentcheckError(f"cannot write the {what} to {path}: not a regular file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        from descentcheck.impl.io import file_in_the_way

        bad = file_in_the_way(path.parent) or "a file is in the way"
        raise DescentcheckError(f"cannot write the {what} to {path}: {bad}") from None
    except OSError as e:
        raise DescentcheckError(f"cannot write the {what} to {path}: {e.strerror or e}") from None
    if not os.access(path.parent, os.W_OK):
        raise DescentcheckError(f"cannot write the {what} to {path}: its folder is read-only")


def _every_registry() -> None:
    """Load every registry, plugins included, and call each plugin's SymPy rules and
    derivation once: a command that draws networks and runs claims (verify, sweep, report)
    stops at a refused plugin's one line before it starts, instead of failing claim by claim
    (``train --help`` reads the optimizer registry for its options)."""
    from descentcheck.registry import ops
    from descentcheck.registry.optimizers import check_plugin_derivations

    ops.check_plugin_rules()
    check_plugin_derivations()
    from descentcheck.properties.claims import CLAIMS  # noqa: F401 (the import loads them)


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="default: reports/out; with --db, DB_report/ beside the database (DB its name less "
    "the suffix)",
    callback=_named_path,
)
@click.option(
    "--profile",
    type=click.Choice(("smoke", "ci", "thorough")),
    default="ci",
    show_default=True,
)
@click.option("--db", type=click.Path(dir_okay=False), help="report on a sweep's SQLite file")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, exists=True),
    help="present this `verify --json` ledger instead of running verify",
)
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def report(
    out: str | None, profile: str, db: str | None, seed: int, ledger: str | None, quiet: bool
) -> None:
    """Build the convergence report (index.html, report.md, results.json, figures), or with
    --db the report of a sweep's results."""
    if db is not None:
        from descentcheck.reports.sweep import report_from_db

        ctx = click.get_current_context()
        given = [
            f"--{name}"
            for name in ("profile", "ledger", "seed")
            if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
        ]
        if given:  # a sweep's report runs nothing: these would be ignored without a word
            raise click.UsageError(f"{given[0]} has no use with --db (a sweep's report)")
        index = report_from_db(db, out)
    else:
        from descentcheck.reports import build_report

        _every_registry()
        index = build_report(
            out or "reports/out",
            profile=profile,
            progress=False if quiet else None,
            seed=seed,
            ledger=ledger,
        )
    click.echo(f"wrote {index}")


def _is_sqlite(path: str) -> bool:
    """A sweep database by its first bytes, or by its name (then the sweep reader says what is
    wrong with it: a corrupt or empty ``.sqlite`` was read as a ledger, "malformed JSON")."""
    from descentcheck.properties.sweep.store import SQLITE_MAGIC

    if Path(path).suffix.lower() in (".sqlite", ".sqlite3", ".db"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False  # the ledger reader names the problem


@main.command()
@click.argument("ledger", metavar="SOURCE", type=click.Path(dir_okay=False))
@click.option(
    "--claim", "claim_id", help="a ledger: which claim's counterexample (default: the first)"
)
@click.option(
    "--case",
    "case_index",
    type=click.IntRange(min=0),
    help="a sweep database: which case, its # in the sweep report (default: the first inside "
    "the region whose loss rose, else the first that rose)",
)
@click.option(
    "--dir", "directory", required=True, type=click.Path(file_okay=False), callback=_named_path
)
def replay(ledger: str, claim_id: str | None, case_index: int | None, directory: str) -> None:
    """Write a run as spec.json, data.npz and params.npz in DIR and print the `descentcheck
    train` command that replays it bit for bit. SOURCE is a ledger (its counterexample) or a
    sweep database (any of its cases)."""
    from descentcheck.impl.io import file_in_the_way

    if (bad := file_in_the_way(directory)) is not None:  # before the line naming the run
        raise DescentcheckError(f"cannot write the replay into {directory}: {bad}")
    if _is_sqlite(ledger):
        if claim_id is not None:
            raise DescentcheckError(f"{ledger} is a sweep database: pick a case with --case N")
        from descentcheck.properties.sweep.replay import write_case_replay

        write_case_replay(ledger, case_index, directory)
        return
    if case_index is not None:
        raise DescentcheckError(
            f"--case picks a case of a sweep database, and {ledger} is not one (a ledger "
            "takes --claim ID)"
        )
    from descentcheck.properties import write_replay
    from descentcheck.properties.ledger_file import read_ledger

    claims = read_ledger(ledger)["claims"]
    ids = [c["id"] for c in claims]
    if claim_id is not None and claim_id not in ids:
        from descentcheck.impl.errors import did_you_mean

        raise DescentcheckError(
            f"{ledger} has no claim {claim_id!r}{did_you_mean(claim_id, ids)} "
            f"({len(ids)} claim{'' if len(ids) == 1 else 's'} in it)"
        )
    found = [
        c for c in claims if c.get("counterexample") and (claim_id is None or c["id"] == claim_id)
    ]
    if not found:
        which = f"claim {claim_id!r}" if claim_id else "any claim"
        drawn = [c["id"] for c in claims if c.get("falsifying_draw")]
        if drawn and (claim_id is None or claim_id in drawn):
            which += f" (claim {drawn[0]!r} keeps only its shrunk draw, its falsifying_draw)"
        raise DescentcheckError(f"{ledger} holds no counterexample for {which}")
    from descentcheck.properties.ledger import REPLAYABLE

    missing = sorted(REPLAYABLE - set(found[0]["counterexample"]))
    if missing:
        raise DescentcheckError(
            f"the counterexample of claim {found[0]['id']!r} is a record of the claim's own, "
            f"not a run to replay (no {', '.join(missing)}; make_counterexample builds one)"
        )
    others = len(found) - 1 if claim_id is None else 0
    click.echo(
        f"counterexample of claim {found[0]['id']}"
        + (f" (the first of {others + 1}; --claim ID picks another)" if others else "")
    )
    write_replay(found[0]["counterexample"], directory)


@main.command()
@click.argument("name", required=False)
def examples(name: str | None) -> None:
    """List the built-in example specs, or print one as JSON (usable in place of SPEC)."""
    import json

    from descentcheck.impl.examples import EXAMPLES

    if name is None:
        for key, spec in EXAMPLES.items():
            click.echo(
                f"{key:16s} {spec['inputs']} inputs, {len(spec['nodes'])} nodes, "
                f"loss {spec['loss']}"
            )
        return
    if name not in EXAMPLES:
        raise DescentcheckError(f"unknown example {name!r}; known: {', '.join(EXAMPLES)}")
    click.echo(json.dumps(EXAMPLES[name], indent=1))


@main.command()
def datasets() -> None:
    """List the built-in data sets and their preprocessing."""
    from descentcheck.impl.data import describe_builtins

    click.echo(describe_builtins(preprocessing=True))


if __name__ == "__main__":  # pragma: no cover
    main()
