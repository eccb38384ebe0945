"""Run vtsim from a notebook and read its outputs into pandas.

The notebooks drive the ``vtsim`` command line; its CSV and JSON outputs are
the contract (see the README). This module only finds the binary, runs it
in a temporary directory and loads what it wrote::

    import vtsim_helper as vh
    r = vh.run("scenarios/lan-basics.ron")          # a file ...
    r = vh.run('Scenario(name: "x", duration_s: 60, hosts: [(name: "h")])')  # ... or RON text
    r.errors                  # DataFrame indexed by t_s, one <clock>_error_us column per clock
    r.exchanges["naive"]      # that daemon's exchanges.csv
    r.trace["naive"]          # that daemon's trace.csv
    r.summary["clocks"]       # summary.json, parsed

    p = vh.replay(r.dir / "naive" / "exchanges.csv", "radclock")
    p.errors                  # tf, error_us at every exchange

    s = vh.sweep("scenarios/sweeps/poll-period.ron", seeds=3)  # fields of the Sweep
    s.points                  # points.csv: per grid point, median and IQR over seeds
    s.results                 # results.csv: one row per run

    # a bundled scenario, shortened (fields are overridden in the RON text)
    r = vh.run("scenarios/vet-noise-overhead.ron", duration_s=240)

The binary is ``$VTSIM_BIN`` if set, otherwise ``target/release/vtsim`` under
``$CARGO_TARGET_DIR`` or the repository root (build it with
``cargo build --release``).

``QUICK`` (environment variable, default ``1``) selects the short versions
of the lessons that CI runs; set ``QUICK=0`` for the longer teaching runs.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

# Headless by default (CI, `jupyter execute`); an interactive session that
# already chose a backend keeps it.
if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")

import pandas as pd  # noqa: E402  (after the backend choice)

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository that holds these notebooks."""

SCENARIOS = REPO_ROOT / "scenarios"
"""The bundled scenarios."""

_WORKDIR: Path | None = None


def quick() -> bool:
    """True unless ``QUICK`` is set to 0/false/no: CI runs the short lessons."""
    return os.environ.get("QUICK", "1").strip().lower() not in ("0", "false", "no", "off")


def binary() -> Path:
    """The vtsim executable, or a FileNotFoundError saying how to build it."""
    env = os.environ.get("VTSIM_BIN")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"VTSIM_BIN={env} does not exist")
        return p
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    if not target.is_absolute():
        target = REPO_ROOT / target
    p = target / "release" / "vtsim"
    if not p.is_file():
        raise FileNotFoundError(
            f"{p} not found: run `cargo build --release` in {REPO_ROOT} or set VTSIM_BIN"
        )
    return p


def _workdir() -> Path:
    """One temporary directory per Python process, removed at exit."""
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="vtsim-nb-"))
        atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)
    return _WORKDIR


def _vtsim(args: list[str]) -> str:
    """Runs vtsim; a failure raises with its stderr (e.g. a scenario error
    with line and column), so a broken lesson fails loudly. A run longer
    than ``$VTSIM_TIMEOUT_S`` (default 600 s) is killed and fails too."""
    timeout_s = float(os.environ.get("VTSIM_TIMEOUT_S", "600"))
    try:
        proc = subprocess.run(
            [str(binary()), *args], capture_output=True, text=True, check=False, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"vtsim {' '.join(args)} took longer than {timeout_s:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(
            f"vtsim {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.strip()}"
        )
    return proc.stdout


def _read_errors(path: Path) -> pd.DataFrame:
    """errors.csv: t_s then one <clock>_error_us column per clock."""
    df = pd.read_csv(path)
    if "t_s" not in df.columns:
        raise ValueError(
            f"{path} has columns {list(df.columns)}, expected t_s and <clock>_error_us; "
            "series/true time [h]/clock error [µs] are the columns of vtsim's plot data, "
            "errors_data.csv"
        )
    return df.set_index("t_s")


def _read_dir_csvs(root: Path, name: str) -> dict[str, pd.DataFrame]:
    out = {}
    for p in sorted(root.glob(f"*/{name}")):
        out[p.parent.name] = pd.read_csv(p)
    return out


@dataclass
class Run:
    """The outputs of one ``vtsim run``."""

    dir: Path
    """Output directory (temporary: gone when the kernel exits)."""
    summary: dict
    """summary.json."""
    errors: pd.DataFrame
    """errors.csv indexed by true time ``t_s``; columns ``<clock>_error_us``."""
    exchanges: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per daemon: exchanges.csv."""
    trace: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per daemon: trace.csv (algorithm state after each exchange)."""
    stdout: str = ""
    """What ``vtsim run`` printed (the table of errors)."""
    stability: pd.DataFrame | None = None
    """stability.csv (``clock``, ``tau_s``, ``n``, ``oadev``, ``mdev``,
    ``tdev_us``, ``mtie_us``), when the scenario sets
    ``probes.stability_max_tau_s``."""

    def error_us(self, clock: str) -> pd.Series:
        """One clock's error, µs, indexed by true time (s)."""
        return self.errors[f"{clock}_error_us"]

    def stats(self, clock: str, which: str = "error_us") -> dict:
        """summary.json metrics of one clock (``error_us`` on the probe
        grid or ``error_at_exchange_us``)."""
        for c in self.summary["clocks"]:
            if c["name"] == clock:
                return c[which]
        raise KeyError(f"no clock {clock!r}; clocks: {[c['name'] for c in self.summary['clocks']]}")


@dataclass
class Replay:
    """The outputs of one ``vtsim replay``."""

    dir: Path
    """Output directory."""
    summary: dict
    """summary.json (one clock, error_at_exchange_us only)."""
    errors: pd.DataFrame
    """errors.csv: ``tf`` (raw counter) and ``error_us`` at each exchange."""
    trace: pd.DataFrame | None
    """trace.csv, or None if the algorithm has no trace."""
    stdout: str = ""

    def stats(self) -> dict:
        """error_at_exchange_us metrics."""
        return self.summary["clocks"][0]["error_at_exchange_us"]


_counter = 0


def _fresh(name: str) -> Path:
    global _counter
    _counter += 1
    return _workdir() / f"{_counter:03d}-{name}"


def _find(file: str | os.PathLike, what: str) -> Path:
    """A file given by path: relative paths are tried from the current
    directory, then from the repository root."""
    path = Path(file)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file {file}")
    return path


def run(scenario: str | os.PathLike, seed: int | None = None, **fields: object) -> Run:
    """Runs a scenario given as a file path or as RON text.

    A string that contains ``(`` is taken as RON text; anything else is a
    path (relative paths are tried from the current directory, then from the
    repository root). ``fields`` override scenario fields as in
    :func:`set_fields` (e.g. ``duration_s=600``). vtsim's own PNG/SVG plots
    are switched off (``output.plots: false``) unless ``output__plots=True``
    is passed: the notebooks plot with matplotlib (vtsim's own plot data is
    errors_data.csv, beside the probes' errors.csv).
    """
    if isinstance(scenario, str) and "(" in scenario:
        text = scenario
    else:
        text = _find(scenario, "scenario").read_text()
    fields.setdefault("output__plots", False)
    src = _fresh("scenario.ron")
    src.write_text(set_fields(text, **fields))
    out = _fresh("run")
    args = ["run", str(src), "--out", str(out), "--force", "--quiet"]
    if seed is not None:
        args += ["--seed", str(seed)]
    stdout = _vtsim(args)
    return Run(
        dir=out,
        summary=_read_summary(out / "summary.json"),
        errors=_read_errors(out / "errors.csv"),
        exchanges=_read_dir_csvs(out, "exchanges.csv"),
        trace=_read_dir_csvs(out, "trace.csv"),
        stdout=stdout,
        stability=pd.read_csv(out / "stability.csv") if (out / "stability.csv").exists() else None,
    )


def _read_summary(path: Path) -> dict:
    """summary.json. A statistic without samples (``count`` 0: a clock that
    never synchronised, every packet lost; a ``stability`` row at a τ the
    run was too short for) holds ``null`` values; they are read as NaN, at
    any depth of a clock's entry, so that arithmetic and pandas treat them
    as missing."""
    summary = json.loads(path.read_text())
    for clock in summary.get("clocks", []):
        for k, v in clock.items():
            if isinstance(v, (dict, list)):
                clock[k] = _nulls_to_nan(v)
    return summary


def _nulls_to_nan(v: object) -> object:
    """``v`` with every ``None`` inside it (nested dicts and lists, such as
    a clock's ``stability`` rows) replaced by NaN."""
    if v is None:
        return math.nan
    if isinstance(v, dict):
        return {k: _nulls_to_nan(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_nulls_to_nan(x) for x in v]
    return v


def replay(
    exchanges: str | os.PathLike,
    algo: str,
    sets: dict[str, object] | None = None,
    metrics_from_s: float = 0.0,
    seed: int = 1,
) -> Replay:
    """Runs ``vtsim replay`` of an exchanges.csv through ``algo``.

    ``sets`` maps parameter names to values written as RON (numbers and
    booleans as Python prints them, strings as given).
    """
    out = _fresh(f"replay-{algo}")
    args = [
        "replay",
        str(exchanges),
        "--algo",
        algo,
        "--metrics-from-s",
        repr(float(metrics_from_s)),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--force",
    ]
    for k, v in (sets or {}).items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        args += ["--set", f"{k}={v}"]
    stdout = _vtsim(args)
    trace = out / "trace.csv"
    return Replay(
        dir=out,
        summary=_read_summary(out / "summary.json"),
        errors=pd.read_csv(out / "errors.csv"),
        trace=pd.read_csv(trace) if trace.exists() else None,
        stdout=stdout,
    )


@dataclass
class Sweep:
    """The outputs of one ``vtsim sweep``."""

    dir: Path
    """Output directory (also holds the recorded sweep.ron and base.ron)."""
    results: pd.DataFrame
    """results.csv: one row per run (run, point, seed, the varied fields,
    then ``<clock>.<metric>`` columns)."""
    points: pd.DataFrame
    """points.csv: per grid point, ``<clock>.<metric>.median``, ``.q25`` and
    ``.q75`` over seeds."""
    stdout: str = ""


def sweep(
    sweep_file: str | os.PathLike,
    jobs: int | None = None,
    base: str | os.PathLike | None = None,
    **fields: object,
) -> Sweep:
    """Runs ``vtsim sweep`` on a sweep file, with fields of its ``Sweep``
    replaced as in :func:`set_fields` (``seeds=2``).

    The base scenario is the one the sweep file names, read from beside it,
    unless ``base`` gives another: a file path (relative paths are tried from
    the current directory, then from the repository root) or RON text (a
    string that contains ``(``), e.g. from :func:`scenario_text`.

    ``duration_s`` (a field of ``Sweep``) shortens every run, but the base's
    ``probes.metrics_from_s`` must stay below it: the bundled poll-period
    sweep measures from 86400 s of its two-day runs, so to shorten it pass a
    base with both changed::

        short = vh.scenario_text("scenarios/sweeps/poll-period-base.ron",
                                 duration_s=7200, probes__metrics_from_s=3600)
        s = vh.sweep("scenarios/sweeps/poll-period.ron", seeds=2, base=short)
    """
    path = _find(sweep_file, "sweep")
    text = path.read_text()
    if base is None:
        i = _skip(text, 0)
        while i < len(text) and (text[i].isalnum() or text[i] == "_"):
            i += 1
        found, _ = _fields(text, _skip(text, i))
        if "base" not in found:
            raise ValueError(f"{path} names no base scenario")
        v, end = found["base"]
        base_path = (path.parent / json.loads(text[v:end].strip())).resolve()
    elif isinstance(base, str) and "(" in base:
        base_path = _fresh("base.ron")
        base_path.write_text(base)
    else:
        base_path = _find(base, "base scenario").resolve()
    fields["base"] = json.dumps(str(base_path))
    src = _fresh("sweep.ron")
    src.write_text(set_fields(text, **fields))
    out = _fresh("sweep")
    args = ["sweep", str(src), "--out", str(out), "--quiet"]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    stdout = _vtsim(args)
    return Sweep(
        dir=out,
        results=pd.read_csv(out / "results.csv"),
        points=pd.read_csv(out / "points.csv"),
        stdout=stdout,
    )


def _skip(text: str, i: int) -> int:
    """Index of the first character at or after i that is not whitespace or
    a comment."""
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = len(text) if j < 0 else j + 2
        else:
            break
    return i


def _value_end(text: str, i: int) -> int:
    """End of the RON value starting at i: the next ',' or closing bracket at
    this nesting level (strings and comments skipped)."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif text.startswith("//", i) or text.startswith("/*", i):
            i = _skip(text, i)
            continue
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return i
            depth -= 1
        elif c == "," and depth == 0:
            return i
        i += 1
    return i


def _fields(text: str, open_paren: int) -> tuple[dict[str, tuple[int, int]], int]:
    """Fields of the struct whose '(' is at open_paren: name -> value span,
    and the index of its closing ')'."""
    out = {}
    i = open_paren + 1
    while True:
        i = _skip(text, i)
        if i >= len(text) or text[i] == ")":
            return out, i
        j = i
        while j < len(text) and (text[j].isalnum() or text[j] == "_"):
            j += 1
        name = text[i:j]
        k = _skip(text, j)
        if not name or k >= len(text) or text[k] != ":":
            raise ValueError(f"not a RON struct field at offset {i}: {text[i:i + 30]!r}")
        v = _skip(text, k + 1)
        end = _value_end(text, v)
        out[name] = (v, end)
        i = end + 1 if end < len(text) and text[end] == "," else end


def set_fields(text: str, **fields: object) -> str:
    """Returns scenario RON text with fields replaced or added. Nested fields
    use double underscores: ``set_fields(t, duration_s=600,
    output__plots=False)``. Values are written as Python prints them
    (booleans as RON's true/false); pass a string to write RON verbatim."""
    for key, value in fields.items():
        ron = ("true" if value else "false") if isinstance(value, bool) else str(value)
        path = key.split("__")
        i = _skip(text, 0)
        while i < len(text) and (text[i].isalnum() or text[i] == "_"):
            i += 1  # the optional struct name
        i = _skip(text, i)
        if i >= len(text) or text[i] != "(":
            raise ValueError("the scenario is not a RON struct")
        for depth, name in enumerate(path):
            found, close = _fields(text, i)
            last = depth == len(path) - 1
            if name in found:
                v, end = found[name]
                if last:
                    while end > v and text[end - 1].isspace():
                        end -= 1
                    text = text[:v] + ron + text[end:]
                    break
                j = v
                while j < end and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                if j >= end or text[j] != "(":
                    raise ValueError(f"{name} is not a struct")
                i = j
            else:
                value_text = ron
                for inner in reversed(path[depth + 1 :]):
                    value_text = f"({inner}: {value_text})"
                text = text[: i + 1] + f"{name}: {value_text}, " + text[i + 1 :]
                break
    return text


def scenario_text(scenario: str | os.PathLike, **fields: object) -> str:
    """A scenario's RON text, with fields replaced as in :func:`set_fields`;
    e.g. a shorter run: ``scenario_text("lan-basics", duration_s=3600)``.

    ``scenario`` is a path (tried from the current directory, then from the
    repository root: ``"scenarios/sweeps/poll-period-base.ron"``) or else a
    bundled scenario's name under ``scenarios/``, with or without ``.ron``
    (``"lan-basics"``, ``"sweeps/poll-period-base"``)."""
    given = Path(scenario)
    bundled = SCENARIOS / (given if given.suffix == ".ron" else f"{given}.ron")
    candidates = [given] if given.is_absolute() else [given, REPO_ROOT / given, bundled]
    for p in candidates:
        if p.is_file():
            return set_fields(p.read_text(), **fields)
    raise FileNotFoundError(
        f"no scenario {scenario}: tried " + ", ".join(str(p) for p in candidates)
    )


def measured_rtt_s(ex: pd.DataFrame) -> pd.Series:
    """RTT each exchange shows the client, seconds: the counter interval
    Tf − Ta at the nominal rate, minus the server's residence Te − Tb."""
    return (ex["tf"] - ex["ta"]) / ex["counter_hz"] - (ex["te"] - ex["tb"])
