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

The binary is ``$VTSIM_BIN`` if set, otherwise ``target/release/vtsim`` under
``$CARGO_TARGET_DIR`` or the repository root (build it with
``cargo build --release``).

``QUICK`` (environment variable, default ``1``) selects the short versions
of the lessons that CI runs; set ``QUICK=0`` for the longer teaching runs.
"""

from __future__ import annotations

import atexit
import json
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
    with line and column), so a broken lesson fails loudly."""
    proc = subprocess.run(
        [str(binary()), *args], capture_output=True, text=True, check=False
    )
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
            "if they are series/true time [h]/clock error [µs], the plot data overwrote "
            "errors.csv: set output: (plots: false) in the scenario"
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


def run(scenario: str | os.PathLike, seed: int | None = None) -> Run:
    """Runs a scenario given as a file path or as RON text.

    A string that contains ``(`` is taken as RON text and written to a
    temporary file; anything else is a path (relative paths are tried from
    the current directory, then from the repository root).
    """
    if isinstance(scenario, str) and "(" in scenario:
        src = _fresh("scenario.ron")
        src.write_text(scenario)
    else:
        src = Path(scenario)
        if not src.is_absolute() and not src.exists():
            src = REPO_ROOT / src
        if not src.is_file():
            raise FileNotFoundError(f"no scenario file {scenario}")
    out = _fresh("run")
    args = ["run", str(src), "--out", str(out), "--force", "--quiet"]
    if seed is not None:
        args += ["--seed", str(seed)]
    stdout = _vtsim(args)
    return Run(
        dir=out,
        summary=json.loads((out / "summary.json").read_text()),
        errors=_read_errors(out / "errors.csv"),
        exchanges=_read_dir_csvs(out, "exchanges.csv"),
        trace=_read_dir_csvs(out, "trace.csv"),
        stdout=stdout,
    )


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
        summary=json.loads((out / "summary.json").read_text()),
        errors=pd.read_csv(out / "errors.csv"),
        trace=pd.read_csv(trace) if trace.exists() else None,
        stdout=stdout,
    )


def measured_rtt_s(ex: pd.DataFrame) -> pd.Series:
    """RTT each exchange shows the client, seconds: the counter interval
    Tf − Ta at the nominal rate, minus the server's residence Te − Tb."""
    return (ex["tf"] - ex["ta"]) / ex["counter_hz"] - (ex["te"] - ex["tb"])
