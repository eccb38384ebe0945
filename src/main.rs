//! The `vtsim` command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vtsim::replay;
use vtsim::run::{RunOptions, run_scenario};
use vtsim::scenario::{Scenario, ScenarioError};

/// Discrete-event simulator of virtualized timekeeping.
#[derive(Parser)]
#[command(name = "vtsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time fixed workloads: wall time, events/s, simulated/wall and peak memory.
    Bench {
        /// Shorter workloads (seconds in all; for CI).
        #[arg(long)]
        quick: bool,
        /// Runs per workload, 1 to 100; the table shows the median (default 3, or 1 with
        /// --quick; the one-day workloads run at least 9 times, the sweep pair in at least
        /// 5 rounds).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=vtsim::bench::MAX_REPEAT as u64))]
        repeat: Option<u64>,
        /// Measure this one workload in this process (used by the child processes).
        #[arg(long, hide = true)]
        workload: Option<String>,
    },
    /// Run a scenario and write summary.json, errors.csv, exchanges and plots.
    Run {
        /// Scenario file (RON).
        scenario: PathBuf,
        /// Output directory (default out/<scenario name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the scenario's master seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Replace the output directory if it exists.
        #[arg(long)]
        force: bool,
        /// Never show a progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Override a field, as PATH=VALUE (RON value; a path as in sweep
        /// files, e.g. daemons[0].algorithm.poll_period_s=64); repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Use this thread only. By default, on a machine with two cores or more, a scenario
        /// whose guests or hosts are independent runs in parts, one per core; any other, with
        /// helper threads for the crystals' noise and the probes' statistics. Results do not
        /// depend on it.
        #[arg(long)]
        single_thread: bool,
    },
    /// Put a scenario's Xen hosts on the fast parametric scheduler model, calibrated from
    /// their own explicit scheduler, and write the result: a faster run, whose guests run in
    /// parts. The model draws each packet's delays independently, which loses how a reply's
    /// delay follows its request's: compare with the explicit run before trusting it (see
    /// the README).
    Calibrate {
        /// Scenario file (RON).
        scenario: PathBuf,
        /// Where to write the calibrated scenario.
        #[arg(long)]
        out: PathBuf,
        /// Simulated seconds of the explicit scheduler per busy-guest count.
        #[arg(long, default_value_t = vtsim::calibrate::DEFAULT_SECONDS, value_parser = seconds)]
        seconds: f64,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check scenario and sweep files without running them.
    Validate {
        /// Scenario or sweep files (a sweep is checked at every grid point).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Print a scenario with every field at its default value.
    DumpDefaults,
    /// Print the scenario and sweep file reference (Markdown): every field, its type,
    /// default and meaning.
    Reference,
    /// List the bundled scenarios and sweeps and the available algorithms.
    List,
    /// Run a parameter sweep (many runs in parallel) and plot metrics against parameters.
    Sweep {
        /// Sweep file (RON).
        sweep: PathBuf,
        /// Worker threads, 1 to 1024 (default: all cores; never more than runs). Results do
        /// not depend on it.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=vtsim::sweep::MAX_JOBS as u64))]
        jobs: Option<u64>,
        /// Continue an interrupted sweep, keeping its completed rows (refused if the sweep or
        /// its base scenario changed since it started).
        #[arg(long)]
        resume: bool,
        /// Start over: replace the output directory if it holds a sweep (or nothing).
        #[arg(long, conflicts_with = "resume")]
        force: bool,
        /// Output directory (default out/<sweep name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Never show progress bars.
        #[arg(long, short)]
        quiet: bool,
        /// Stop after this many new runs (as an interruption would).
        #[arg(long, hide = true)]
        max_runs: Option<usize>,
    },
    /// Compare finished runs: metrics side by side and overlaid error plots.
    Compare {
        /// Run or sweep directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write compare.csv (runs), compare_sweeps.csv (sweeps) and the plots.
        #[arg(long, default_value = "out/compare")]
        out: PathBuf,
        /// Replace the output directory if it holds an earlier comparison.
        #[arg(long)]
        force: bool,
    },
    /// Run an algorithm over a recorded exchanges.csv.
    Replay {
        /// Exchanges file (see the README for the format).
        exchanges: PathBuf,
        /// Algorithm name (see `vtsim list`).
        #[arg(long)]
        algo: String,
        /// Algorithm parameter, as key=value (RON value); repeatable.
        #[arg(long = "set")]
        sets: Vec<String>,
        /// Exclude exchanges before this true time from metrics, seconds (finite, ≥ 0).
        #[arg(long, default_value_t = 0.0, value_parser = seconds)]
        metrics_from_s: f64,
        /// Seed for the algorithm's own randomness.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Counter value to start the algorithm at, at most the first stamp (default: where
        /// the run started the daemon, for a run's <daemon>/exchanges.csv; else the first stamp).
        #[arg(long)]
        start_counter: Option<u64>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Replace the output directory if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Run the seed-figure scenarios and check them against the published results (writes FIDELITY.md).
    Reproduce {
        /// Shortened runs (seconds on two cores); some bands are looser. Without it the
        /// table and its figures are also copied to docs/ when run from the source tree
        /// this binary was built from.
        #[arg(long)]
        quick: bool,
        /// Output directory for the runs, figures and FIDELITY.md.
        #[arg(long, default_value = "out/reproduce")]
        out: PathBuf,
        /// Replace the output directory if it holds an earlier reproduction (or nothing).
        #[arg(long)]
        force: bool,
    },
}

/// Whether the working directory is the source tree this binary was built
/// from (its `docs/` is the project's).
fn in_source_tree() -> bool {
    let here = std::env::current_dir().and_then(std::fs::canonicalize);
    let tree = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR"));
    matches!((here, tree), (Ok(a), Ok(b)) if a == b) && Path::new("docs").is_dir()
}

fn scenarios_dir() -> PathBuf {
    let local = Path::new("scenarios");
    if local.is_dir() {
        local.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
    }
}

/// Where `vtsim reproduce` reads the seed-figure scenarios: the source
/// tree this binary was built from (the bands it checks were set for those
/// files), whatever the working directory holds; where that tree is gone,
/// `scenarios/` in the working directory.
fn reproduce_scenarios_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("scenarios")
    }
}

/// The `.ron` files of `dir`, sorted by name (none if it cannot be read).
fn ron_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ron"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A non-negative finite number of seconds.
fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{text:?} is not a finite number of seconds ≥ 0")),
    }
}

/// Most rows (grid points × clocks, migrations and failovers) of the table
/// `vtsim sweep` prints at the end; `vtsim compare` prints a larger
/// sweep's whole table.
const SWEEP_TABLE_MAX_ROWS: usize = 64;

/// Exit status of a command whose reader went away (`vtsim list | head`):
/// what a shell reports for a process ended by SIGPIPE.
const CLOSED_PIPE: i32 = 128 + 13;

/// Exit status of a command stopped by Ctrl-C: what a shell reports for a
/// process ended by SIGINT.
const INTERRUPTED: i32 = 128 + 2;

/// Runs of a sweep whose rows `results` holds (after its header).
fn runs_done(results: &Path) -> usize {
    std::fs::read_to_string(results)
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// On Ctrl-C during a sweep: says how many runs are kept and the command
/// that continues the sweep, then exits with [`INTERRUPTED`]. The rows in
/// `results.csv` (written whole, by renaming) are kept; the few runs that
/// finished since its last rewrite, like a run under way, are run again
/// by the resume.
fn on_interrupt(sweep: &Path, plan: &vtsim::sweep::Plan, dir: &Path) -> anyhow::Result<()> {
    let name = plan.sweep.name.clone();
    let total = plan.runs().len();
    let results = dir.join("results.csv");
    let resume = vtsim::sweep::resume_command(sweep, dir);
    ctrlc::set_handler(move || {
        // On a line of its own, below the progress bars and the `^C`.
        let _ = writeln!(
            stderr(),
            "\n{name}: interrupted with {} of {total} runs done (kept in {}); to continue it: {resume}",
            runs_done(&results),
            results.display()
        );
        std::process::exit(INTERRUPTED);
    })
    .map_err(|e| anyhow::anyhow!("cannot handle Ctrl-C: {e}"))
}

/// On Ctrl-C during a run (or a reproduction, comparison or replay, which
/// stage their output alike): removes its staging directory (a killed
/// run's is removed only by the next run to the same output), says so,
/// then exits with [`INTERRUPTED`].
fn on_run_interrupt(name: &str, target: &Path) -> anyhow::Result<()> {
    let name = name.to_string();
    let target = target.to_path_buf();
    ctrlc::set_handler(move || {
        let what = if vtsim::output::abandon_staging(&target) {
            "its output was already written to"
        } else {
            "nothing written to"
        };
        let _ = writeln!(
            stderr(),
            "\n{name}: interrupted; {what} {}",
            target.display()
        );
        std::process::exit(INTERRUPTED);
    })
    .map_err(|e| anyhow::anyhow!("cannot handle Ctrl-C: {e}"))
}

/// Standard output or error. Rust ignores SIGPIPE, so writing to a closed
/// pipe is an error, which `println!` turns into a panic; here it ends the
/// program quietly instead, as SIGPIPE would. Output is printed only after
/// every file is written, so nothing is left half done.
struct Console<W>(W);

impl<W: Write> Console<W> {
    fn check<T>(r: std::io::Result<T>) -> std::io::Result<T> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(CLOSED_PIPE),
            r => r,
        }
    }
}

impl<W: Write> Write for Console<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::check(self.0.write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Self::check(self.0.flush())
    }
}

fn stdout() -> Console<std::io::Stdout> {
    Console(std::io::stdout())
}

fn stderr() -> Console<std::io::Stderr> {
    Console(std::io::stderr())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    };
    // Line-buffered output still held is written here, while a closed
    // pipe can still end the program quietly.
    let _ = stdout().flush();
    code
}

fn dispatch(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Bench {
            quick,
            repeat,
            workload,
        } => {
            let repeat = repeat.map_or(if quick { 1 } else { 3 }, |r| r as usize);
            let text = vtsim::bench::main(quick, repeat, workload.as_deref())?;
            write!(stdout(), "{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            scenario,
            out,
            seed,
            force,
            quiet,
            sets,
            single_thread,
        } => {
            // The path as `Scenario::set` reads it: trimmed (`seed = 9`).
            let sets_seed = |a: &String| a.split_once('=').is_some_and(|(p, _)| p.trim() == "seed");
            if seed.is_some() && sets.iter().any(sets_seed) {
                anyhow::bail!("--seed and --set seed=... both set the seed: give one of them");
            }
            let s = Scenario::load_with(&scenario, &sets)?;
            let opts = RunOptions {
                out,
                seed,
                force,
                progress: !quiet,
                parallel: !single_thread && vtsim::run::spare_core(),
            };
            // Before simulating: a refused --out should not cost the run.
            let files = s.input_files();
            let inputs: Vec<&Path> = std::iter::once(scenario.as_path())
                .chain(files.iter().map(PathBuf::as_path))
                .collect();
            vtsim::output::check_target(
                &opts.target(&s),
                force,
                &inputs,
                vtsim::output::RUN_MARKERS,
            )?;
            on_run_interrupt(&s.name, &opts.target(&s))?;
            let (dir, summary) = run_scenario(&s, &opts)?;
            let mut out = stdout();
            let parts = match summary.parts {
                1 => String::new(),
                n => format!(" in {n} parts"),
            };
            writeln!(
                out,
                "{}: {} events{parts}, output in {}",
                s.name,
                summary.events,
                dir.display()
            )?;
            for table in [
                vtsim::run::error_table(&summary),
                vtsim::run::stability_table(&summary),
                vtsim::run::moves_table(&summary),
                vtsim::run::domains_table(&summary),
            ]
            .into_iter()
            .flatten()
            {
                write!(out, "{table}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Calibrate {
            scenario,
            out,
            seconds,
            force,
        } => {
            let (name, hosts) = vtsim::calibrate::calibrate_file(&scenario, &out, seconds, force)?;
            writeln!(
                stdout(),
                "{name}: calibrated {} ({seconds} s per busy-guest count); wrote {}",
                hosts.join(", "),
                out.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { scenarios } => {
            let mut bad = 0;
            for p in &scenarios {
                match validate_file(p) {
                    Ok(what) => writeln!(stdout(), "{}: ok ({what})", p.display())?,
                    Err(e) => {
                        writeln!(stderr(), "{e}")?;
                        bad += 1;
                    }
                }
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::DumpDefaults => {
            writeln!(stdout(), "{}", vtsim::scenario::default_scenario().to_ron())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reference => {
            write!(stdout(), "{}", vtsim::reference::markdown())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List => {
            let dir = scenarios_dir();
            let mut out = stdout();
            writeln!(out, "scenarios in {}:", dir.display())?;
            for f in ron_files(&dir) {
                let desc = Scenario::load(&f)
                    .map(|s| s.description)
                    .unwrap_or_else(|e| format!("(invalid: {e})"));
                writeln!(
                    out,
                    "  {:<36} {}",
                    f.file_name().unwrap_or_default().to_string_lossy(),
                    desc.lines().next().unwrap_or("")
                )?;
            }
            // Sweeps beside their base scenarios: only the sweep files.
            let sweeps_dir = dir.join("sweeps");
            let sweeps: Vec<PathBuf> = ron_files(&sweeps_dir)
                .into_iter()
                .filter(|p| {
                    models::text_file::read_text(p)
                        .is_ok_and(|t| vtsim::scenario::top_level_name(&t) == Some("Sweep"))
                })
                .collect();
            if !sweeps.is_empty() {
                writeln!(out, "sweeps in {}:", sweeps_dir.display())?;
            }
            for f in sweeps {
                let desc = vtsim::sweep::load(&f)
                    .map(|p| p.outline())
                    .unwrap_or_else(|e| format!("(invalid: {e})"));
                writeln!(
                    out,
                    "  {:<36} {desc}",
                    f.file_name().unwrap_or_default().to_string_lossy()
                )?;
            }
            writeln!(
                out,
                "algorithms: {}",
                algorithms::AlgorithmConfig::NAMES.join(", ")
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sweep {
            sweep,
            jobs,
            resume,
            force,
            out,
            quiet,
            max_runs,
        } => {
            let plan = vtsim::sweep::load_with(&sweep, !quiet)?;
            let opts = vtsim::sweep::SweepOptions {
                out,
                jobs: jobs.map(|j| j as usize),
                resume,
                force,
                progress: !quiet,
                max_runs,
            };
            on_interrupt(&sweep, &plan, &opts.dir(&plan))?;
            let dir = vtsim::sweep::run_sweep(&plan, &opts)?;
            let results = dir.join("results.csv");
            // Runs finished so far (fewer after --max-runs).
            let done = runs_done(&results);
            if done == plan.runs().len() {
                let (table, left_out) =
                    vtsim::compare::sweep_table(&dir, &plan.sweep.name, SWEEP_TABLE_MAX_ROWS)?;
                write!(stdout(), "{table}")?;
                if left_out > 0 {
                    writeln!(
                        stdout(),
                        "({left_out} more row{} left out: `vtsim compare {}` prints them all)",
                        if left_out == 1 { "" } else { "s" },
                        vtsim::sweep::shell_word(&dir)
                    )?;
                }
            }
            let rest = if done < plan.runs().len() {
                format!(
                    "; to continue it: {}",
                    vtsim::sweep::resume_command(&sweep, &dir)
                )
            } else {
                String::new()
            };
            writeln!(
                stdout(),
                "{}: {done} of {} runs done; results in {}{rest}",
                plan.sweep.name,
                plan.runs().len(),
                results.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reproduce { quick, out, force } => {
            // The committed page holds the full runs, and is only ever
            // rewritten in the source tree this binary was built from: any
            // other directory's docs/ is the user's own.
            let docs = (!quick && in_source_tree()).then(|| PathBuf::from("docs"));
            on_run_interrupt("reproduce", &out)?;
            let report = vtsim::reproduce::reproduce(&vtsim::reproduce::ReproduceOptions {
                quick,
                out: out.clone(),
                force,
                scenarios: reproduce_scenarios_dir(),
                docs: docs.clone(),
            })?;
            write!(stdout(), "{}", vtsim::reproduce::text_report(&report))?;
            let copied = docs.map_or(String::new(), |d| {
                format!(
                    " (copied to {} and {})",
                    d.join("FIDELITY.md").display(),
                    d.join("fidelity").display()
                )
            });
            writeln!(
                stdout(),
                "{} rows from {} runs in {:.1} s; table and figures in {}{copied}",
                report.rows.len(),
                report.runs.len(),
                report.wall_s,
                out.join("FIDELITY.md").display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { dirs, out, force } => {
            on_run_interrupt("compare", &out)?;
            let table = vtsim::compare::compare(&dirs, &out, force)?;
            write!(stdout(), "{table}")?;
            writeln!(stdout(), "written to {}", out.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            exchanges,
            algo,
            sets,
            metrics_from_s,
            seed,
            start_counter,
            out,
            force,
        } => {
            vtsim::output::check_target(&out, force, &[&exchanges], vtsim::output::RUN_MARKERS)?;
            on_run_interrupt("replay", &out)?;
            let rows = replay::read_rows(&exchanges)?;
            let cfg = replay::config_from_sets(&algo, &sets)?;
            let from_run = start_counter
                .is_none()
                .then(|| replay::run_start_counter(&exchanges))
                .flatten();
            let r = replay::replay(
                &rows,
                &cfg,
                seed,
                metrics_from_s,
                start_counter.or(from_run),
            )?;
            let dir = replay::write_outputs(&r, &cfg, &exchanges, &out, force)?;
            let stats = vtsim::run::ErrorStats::from_summary(&r.at_exchange);
            let mut o = stdout();
            if let Some(c) = from_run {
                writeln!(
                    o,
                    "started {} at counter {c}, where the run started the daemon (its summary.json)",
                    cfg.name()
                )?;
            }
            writeln!(
                o,
                "{}: {} exchanges replayed through {}; output in {}",
                exchanges.display(),
                rows.len(),
                cfg.name(),
                dir.display()
            )?;
            if stats.count > 0 {
                writeln!(
                    o,
                    "error at exchange: median {:.3} µs, IQR {:.3} µs, RMS {:.3} µs",
                    stats.median, stats.iqr, stats.rms
                )?;
            } else if rows.iter().any(|r| r.tf_true_ns.is_some()) {
                writeln!(
                    o,
                    "no true time falls at or after --metrics-from-s {metrics_from_s:?} s: no error metrics"
                )?;
            } else {
                writeln!(o, "no true times in the file: no error metrics")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Checks one scenario or sweep file as a run would; returns what it holds.
/// Building the world also checks what only the models can (a migration's
/// duration, so whether two moves overlap); loading a sweep builds one at
/// each of its grid points, as `vtsim sweep` does before any run.
fn validate_file(p: &Path) -> anyhow::Result<String> {
    let text = vtsim::scenario::read_text(p).map_err(|cause| ScenarioError::Io {
        file: p.display().to_string(),
        cause,
    })?;
    if vtsim::scenario::top_level_name(&text) == Some("Sweep") {
        let plan = vtsim::sweep::load(p)?;
        Ok(format!("sweep {}: {}", plan.sweep.name, plan.outline()))
    } else {
        let s = Scenario::load(p)?;
        vtsim::run::build_world(&s).map_err(|e| anyhow::anyhow!("error: {}: {e}", p.display()))?;
        Ok(s.name)
    }
}
