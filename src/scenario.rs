//! The scenario file: what a run simulates.
//!
//! A scenario is a RON document. Every field has a unit in its name, a
//! documented default and a valid range; unknown fields are errors, so a
//! typo never silently falls back to a default.
//!
//! ```ron
//! Scenario(
//!     name: "lan-basics",
//!     seed: 1,
//!     duration_s: 86400,
//!     hosts: [(name: "host0", counters: [(kind: Tsc)])],
//!     servers: [(name: "stratum1")],
//!     paths: [(min_rtt_us: 300, asymmetry_us: 20)],
//!     daemons: [(name: "naive", host: "host0", servers: [(server: "stratum1", path: 0)],
//!                algorithm: Naive(poll_period_s: 16))],
//! )
//! ```
//!
//! Loading is two steps: [`Scenario::parse`] reports syntax and type errors
//! with file, line and column; [`Scenario::validate`] reports every
//! impossible value and dangling reference at once, each with its field
//! path and valid range.
//!
//! RON's own syntax and type errors name neither the field nor what it
//! takes, and some mislead: a float in an integer field reads as a missing
//! comma after the digits before its point. So a parse error is said in
//! terms of the field it is in: the text up to the error is read again to
//! find the field's path (`paths[0].forward.congestion`, as `--set` and
//! sweeps name fields), and which integers a field takes is learnt by
//! trying values at the error's place.

use std::fmt;
use std::path::{Path, PathBuf};

use algorithms::{AlgorithmConfig, ConfigError, Num};
use models::dilation::TdfConfig;
use models::host::{CounterSource, HostConfig};
use models::migration::{MigrationConfig, TscMode};
use models::network::PathConfig;
use models::replication::ReplicationConfig;
use models::server::ServerConfig;
use models::xen::{DomainConfig, SchedulerConfig, XenHostConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn default_seed() -> u64 {
    1
}

/// A complete scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; also the default output directory `out/<name>/`.
    pub name: String,
    /// Free text shown by `vtsim list`.
    #[serde(default)]
    pub description: String,
    /// Master seed: every component's random stream derives from it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated duration, seconds: 0.001..=631152000 (20 years of 365.25
    /// days).
    pub duration_s: f64,
    /// Physical hosts.
    #[serde(default)]
    pub hosts: Vec<HostConfig>,
    /// Time servers.
    #[serde(default)]
    pub servers: Vec<ServerConfig>,
    /// Network paths between clients and servers, referred to by index.
    #[serde(default)]
    pub paths: Vec<PathConfig>,
    /// Synchronization daemons; each yields one clock.
    #[serde(default)]
    pub daemons: Vec<DaemonConfig>,
    /// Dependent clocks in guests (Xen hosts only).
    #[serde(default)]
    pub clocks: Vec<DependentClockConfig>,
    /// Scheduled events: migrations and replication failovers.
    #[serde(default)]
    pub events: Vec<ScenarioEvent>,
    /// Time-dilated domains.
    #[serde(default)]
    pub dilation: Vec<DilationConfig>,
    /// Error probes.
    #[serde(default)]
    pub probes: ProbeConfig,
    /// What the run writes.
    #[serde(default)]
    pub output: OutputConfig,
}

/// A daemon: an algorithm on a host, polling servers over paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Name, unique; names the clock and the daemon's output folder.
    pub name: String,
    /// Host it runs on (by name).
    pub host: String,
    /// Domain it runs in: 0 is the bare-metal OS or Dom0, 1.. the DomU
    /// guests of a Xen host (default 0).
    #[serde(default)]
    pub domain: usize,
    /// Counter it stamps with (default the TSC).
    #[serde(default = "default_counter")]
    pub counter: CounterSource,
    /// CPU core it reads its counter on (for per-core TSC offsets and Xen
    /// time records; default 0). On a Xen host whose scheduler places
    /// vCPUs (credit, SEDF), TSC and Xen clocksource reads follow the
    /// physical CPU of the domain's first vCPU instead.
    #[serde(default)]
    pub core: usize,
    /// Servers it polls, each over a path: one for every algorithm but
    /// ntpd, which selects among several.
    pub servers: Vec<ServerRef>,
    /// The synchronization algorithm.
    pub algorithm: AlgorithmConfig,
}

fn default_counter() -> CounterSource {
    CounterSource::Tsc
}

/// A clock in a guest that runs no synchronization of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependentClockConfig {
    /// Clock name, unique among clocks and daemons.
    pub name: String,
    /// Xen host it reads on (by name).
    pub host: String,
    /// Domain it lives in (1.. for a DomU).
    pub domain: usize,
    /// What it follows.
    pub follows: Follows,
}

fn default_store_latency_ms() -> f64 {
    1.0
}

/// The source of a dependent clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum Follows {
    /// The parameters Dom0's RADclock daemon publishes to the XenStore after
    /// every stamp (VET's dependent clock), read against the same counter.
    Radclock {
        /// Store write-to-visible latency, ms (0..=1000; default 1 ms, VET
        /// slides: "small delay (~1 ms) in Xenstore update").
        #[serde(default = "default_store_latency_ms")]
        store_latency_ms: f64,
    },
    /// Xen's wall clock, pushed by Dom0's ntpd every 11 minutes, plus Xen
    /// system time (the Xen status quo).
    NtpdWallclock,
}

/// A domain on a host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestLoc {
    /// Host name.
    pub host: String,
    /// Domain index on the host (1.. for a DomU).
    pub domain: usize,
}

/// Something that happens to a guest at a given time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum ScenarioEvent {
    /// Live migration of a guest's domain to a domain slot on another host.
    Migrate {
        /// When the migration starts (pre-copy begins), s.
        at_s: f64,
        /// The migrating guest.
        from: GuestLoc,
        /// Its destination slot.
        to: GuestLoc,
        /// Method (pre-copy, stop-and-copy or post-copy), memory, dirtying and
        /// link.
        #[serde(default)]
        migration: MigrationConfig,
        /// How the guest's TSC behaves after the move (default emulated).
        #[serde(default)]
        tsc_mode: TscMode,
        /// Path index the guest's daemons use after the move (default: unchanged).
        #[serde(default)]
        path: Option<usize>,
    },
    /// A semi-actively replicated guest: the follower goes live at `at_s`.
    Failover {
        /// When the leader fails, s.
        at_s: f64,
        /// The leader guest (replicated from the start of the run).
        leader: GuestLoc,
        /// The follower's domain slot.
        follower: GuestLoc,
        /// Log link and failover policy.
        #[serde(default)]
        replication: ReplicationConfig,
        /// Path index after failover (default: unchanged).
        #[serde(default)]
        path: Option<usize>,
    },
}

/// A time-dilated domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DilationConfig {
    /// Host name.
    pub host: String,
    /// Domain index.
    pub domain: usize,
    /// The dilation (factor 1..=1000, whether RDTSC is dilated...).
    pub tdf: TdfConfig,
    /// The domain's servers run at the same dilation (the meaningful setup:
    /// a reference dilated by the same factor). Default true.
    #[serde(default = "yes")]
    pub dilated_reference: bool,
}

fn yes() -> bool {
    true
}

/// A server as seen from one daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerRef {
    /// Server name.
    pub server: String,
    /// Index into `paths`.
    pub path: usize,
}

/// Valid `duration_s`: a millisecond to twenty years.
pub const DURATION_RANGE_S: (f64, f64) = (1e-3, 20.0 * 365.25 * 86_400.0);

/// Valid `probes.interval_s`: a millisecond to a day.
pub const PROBE_INTERVAL_RANGE_S: (f64, f64) = (1e-3, 86_400.0);

fn default_interval_s() -> f64 {
    1.0
}

/// Largest averaging factor of the stability metrics, in probe intervals
/// (2¹⁸: three days at 1 s). Their memory per clock is about 64 bytes per
/// probe interval of the largest τ (a ring of the last `3m` samples and
/// the MTIE window's extremes), so this caps it at 16 MB.
pub const MAX_STABILITY_FACTOR: usize = 1 << 18;

impl ProbeConfig {
    /// The largest averaging factor `m` of the stability metrics, or 0 for
    /// none: the largest power of two with `m·interval_s` within both
    /// `stability_max_tau_s` and a run of `duration_s` (a longer τ could
    /// not be estimated, and would only cost memory).
    pub fn stability_max_m(&self, duration_s: f64) -> usize {
        match self.stability_max_tau_s {
            Some(tau) if tau >= self.interval_s => {
                let ratio = (tau.min(duration_s) / self.interval_s * (1.0 + 1e-9))
                    .clamp(1.0, MAX_STABILITY_FACTOR as f64);
                1 << (ratio.log2().floor() as u32)
            }
            _ => 0,
        }
    }
}

/// Error probes: every clock's error is sampled on a grid of true time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Grid interval, seconds (1 ms..=1 day; default 1 s).
    pub interval_s: f64,
    /// Samples earlier than this are excluded from metrics (convergence), seconds (default 0).
    pub metrics_from_s: f64,
    /// Largest observation interval τ of each clock's stability metrics,
    /// seconds: OADEV, MDEV, TDEV and MTIE of its error on the probe grid
    /// (after `metrics_from_s`), at τ = 1, 2, 4, … probe intervals, in
    /// `summary.json`, `stability.csv` and plots. From `interval_s` to
    /// 2¹⁸ probe intervals; `None` (the default) computes none. Costs
    /// about one error sample's worth of work per octave of τ.
    pub stability_max_tau_s: Option<f64>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            interval_s: default_interval_s(),
            metrics_from_s: 0.0,
            stability_max_tau_s: None,
        }
    }
}

/// What a run writes besides `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Interval of rows in `errors.csv`, seconds (1 ms..=365 days): every
    /// n-th probe, n the ratio to the probe interval rounded to the nearest
    /// whole number and at least 1 (default: 60 s; every probe if the probe
    /// interval is larger).
    pub errors_csv_interval_s: f64,
    /// Write `exchanges.csv` per daemon (default true).
    pub exchanges: bool,
    /// Write the algorithm trace `trace.csv` per daemon (default true).
    pub trace: bool,
    /// Draw PNG and SVG plots (default true).
    pub plots: bool,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            errors_csv_interval_s: 60.0,
            exchanges: true,
            trace: true,
            plots: true,
        }
    }
}

/// A scenario that could not be read.
#[derive(Debug)]
pub enum ScenarioError {
    /// The file could not be read.
    Io {
        /// File.
        file: String,
        /// Cause.
        cause: std::io::Error,
    },
    /// Syntax or type error at a position.
    Parse {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected or found.
        message: String,
    },
    /// Impossible values or dangling references, all of them.
    Invalid {
        /// File.
        file: String,
        /// Every problem found.
        errors: Vec<ConfigError>,
    },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Io { file, cause } => {
                match cause
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<models::text_file::NotUtf8>())
                {
                    Some(bad) => {
                        write!(f, "{file}:{}:{}: cannot read: {bad}", bad.line, bad.column)
                    }
                    None => write!(f, "{file}: cannot read: {cause}"),
                }
            }
            ScenarioError::Parse {
                file,
                line,
                column,
                message,
            } => write!(f, "{file}:{line}:{column}: {message}"),
            ScenarioError::Invalid { file, errors } => {
                write!(
                    f,
                    "{file}: {} invalid value{}:",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                )?;
                for e in errors {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ScenarioError {}

pub use models::text_file::read_text;

/// RON options used for every file vtsim reads: variant newtypes may be
/// written without double parentheses, `Some` may be implicit.
pub fn ron_options() -> ron::Options {
    use ron::extensions::Extensions;
    ron::Options::default()
        .with_default_extension(Extensions::UNWRAP_VARIANT_NEWTYPES | Extensions::IMPLICIT_SOME)
}

/// `text` with every `r#None` outside string literals written `None`.
///
/// RON's serialiser writes a variant named `None` as the raw identifier
/// `r#None`, because in an `Option` field a bare `None` would mean "absent".
/// No scenario field holding such a variant (`loss`, `queueing`) is an
/// `Option`, so the bare name reads back as the variant, as users write it.
fn unescape_none_variants(text: &str) -> String {
    const RAW: &str = "r#None";
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string && rest.starts_with(RAW) {
            out.push_str("None");
            rest = &rest[RAW.len()..];
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The name of the struct RON `text` holds (`Scenario`, `Sweep`), after
/// any comments, whitespace and `#![...]` attributes; `None` when the text
/// starts with anything else.
///
/// ```
/// use vtsim::scenario::top_level_name;
/// assert_eq!(top_level_name("// a sweep\nSweep(name: \"x\")"), Some("Sweep"));
/// assert_eq!(top_level_name("#![enable(implicit_some)]\n/* */ Scenario ("), Some("Scenario"));
/// assert_eq!(top_level_name("(name: \"x\")"), None);
/// ```
pub fn top_level_name(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("#!") {
            rest = after.split_once(']').map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    (!name.is_empty() && after.trim_start().starts_with('(')).then_some(name)
}

/// A kind of file vtsim reads, by its top-level struct.
struct FileKind {
    /// The top-level struct (`Scenario`, `Sweep`).
    name: &'static str,
    /// What the file is called in a message.
    what: &'static str,
    /// The command that runs it.
    command: &'static str,
    /// Reads text as this kind of file, to try values at an error's place.
    read: ReadAs,
    /// Reads and checks text as this kind of file, to learn a field's own
    /// range from the check of a value that fits its type.
    check: Option<CheckAs>,
}

/// Reads RON text as one kind of file, keeping only the error.
type ReadAs = fn(&str) -> Result<(), ron::error::SpannedError>;

/// Reads RON text as one kind of file and checks its values: the problems
/// found (none when it cannot be read).
type CheckAs = fn(&str) -> Vec<ConfigError>;

/// The kinds of file vtsim reads.
const FILE_KINDS: [FileKind; 2] = [
    FileKind {
        name: "Scenario",
        what: "a scenario",
        command: "vtsim run",
        read: |text| ron_options().from_str::<Scenario>(text).map(drop),
        check: Some(|text| {
            ron_options()
                .from_str::<Scenario>(text)
                .map_or_else(|_| Vec::new(), |s| s.validate())
        }),
    },
    FileKind {
        name: "Sweep",
        what: "a sweep file",
        command: "vtsim sweep",
        read: |text| {
            ron_options()
                .from_str::<crate::sweep::Sweep>(text)
                .map(drop)
        },
        check: None,
    },
];

/// Turns a RON error in `text`, read as a `expected` struct (`Scenario`,
/// `Sweep`), into file:line:column form; a file of the other kind is
/// named as such, with the command that runs it. Where RON's own words
/// would mislead or leave out the field, the message names the field and
/// what it takes.
pub fn parse_error(
    file: &str,
    text: &str,
    expected: &str,
    e: ron::error::SpannedError,
) -> ScenarioError {
    let kind = |name: &str| FILE_KINDS.iter().find(|k| k.name == name);
    let (line, column) = (e.span.start.line, e.span.start.col);
    let at = offset_of(text, line, column).map(|at| match skip_blank(text, at) {
        past if past < text.len() => past,
        // Nothing follows: where RON stands.
        _ => at,
    });
    let (at, message) = match (kind(expected), top_level_name(text).and_then(kind)) {
        (Some(want), Some(found)) if want.name != found.name => (
            at,
            format!(
                "this is {}, not {}: run it with `{}`",
                found.what, want.what, found.command
            ),
        ),
        (want, _) => match at {
            Some(at) => explain(text, at, want, e.code),
            None => (at, ron_message(e.code)),
        },
    };
    let (line, column) = at.map_or((line, column), |at| line_column(text, at));
    ScenarioError::Parse {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// RON's message for `code`.
fn ron_message(code: ron::error::Error) -> String {
    match code {
        // RON's own text advises programmers to raise the limit.
        ron::error::Error::ExceededRecursionLimit => {
            "nested too deeply (RON's limit of 128 levels)".to_string()
        }
        code => code.to_string(),
    }
}

/// RON's complaint `code` about the token at byte `at` of `text`, said in
/// terms of the field there: its path, what it takes and what was found.
/// `kind` is the file's kind, to learn which integers a field takes.
/// Returns where the message points and the message; a complaint this
/// cannot improve keeps RON's words and place.
fn explain(
    text: &str,
    at: usize,
    kind: Option<&FileKind>,
    code: ron::error::Error,
) -> (Option<usize>, String) {
    use ron::error::Error as E;
    if matches!(code, E::ExceededRecursionLimit) {
        return (Some(at), ron_message(code));
    }
    let spot = Spot::at(text, at);
    let Some(token) = spot.token else {
        return (Some(at), ron_message(code));
    };
    let found = token.shown(text);
    let field = |message: String| match spot.path.as_str() {
        "" => message,
        path => format!("{path}: {message}"),
    };
    // `Some(` stands for the parentheses of the struct it holds (RON's
    // unwrapped newtypes), so a second `(` or the struct's name inside it
    // reads as a field name.
    let doubled = match &code {
        E::ExpectedIdentifier => token.text(text) == "(",
        E::NoSuchStructField { found: name, .. } => {
            name == token.text(text) && spot.next.is_some_and(|n| n.text(text) == "(")
        }
        _ => false,
    };
    if spot.after_some && doubled {
        let what = if found == "(" {
            "a second `(`".to_string()
        } else {
            format!("the struct name `{found}`")
        };
        return (
            Some(token.start),
            field(format!(
                "expected a field name after `Some(`, found {what}: an optional struct is \
                 written `(field: value, …)`, `Some(field: value, …)` or `None`"
            )),
        );
    }
    // Inside `Some(`, RON names the struct around the option, not the one
    // in it: name the option's path instead.
    if let Some(path) = spot.in_some.filter(|path| !path.is_empty()) {
        let unnamed = match &code {
            E::NoSuchStructField {
                expected, found, ..
            } => Some(E::NoSuchStructField {
                expected,
                found: found.clone(),
                outer: None,
            }),
            E::MissingStructField { field, .. } => {
                Some(E::MissingStructField { field, outer: None })
            }
            E::DuplicateStructField { field, .. } => {
                Some(E::DuplicateStructField { field, outer: None })
            }
            _ => None,
        };
        if let Some(code) = unnamed {
            return (Some(at), format!("{path}: {code}"));
        }
    }
    // RON stops reading an integer at its first character that is not a
    // digit (`7.0`, `1e3`) and complains about what follows, so a place
    // inside a number means that the field takes integers.
    let inside_number = token.kind == TokenKind::Number && token.start < at;
    let integer_code = matches!(
        code,
        E::ExpectedInteger | E::IntegerOutOfBounds | E::InvalidIntegerDigit { .. }
    );
    if inside_number || integer_code {
        let range = kind.and_then(|k| integer_range(text, token.start, k.read));
        match range {
            Some((lo, hi)) => {
                // A number beyond the type is beyond the field's own range,
                // if it has one: the check of the type's bound names it.
                let own = match (&code, kind.and_then(|k| k.check)) {
                    (E::IntegerOutOfBounds, Some(check)) => {
                        let bound = if found.starts_with('-') {
                            lo.to_string()
                        } else {
                            hi.to_string()
                        };
                        let probe =
                            format!("{}{bound}{}", &text[..token.start], &text[token.end..]);
                        field_range(&check(&probe), &spot.path)
                    }
                    _ => None,
                };
                let range = own.unwrap_or_else(|| format!("{lo}..={hi}"));
                return (
                    Some(token.start),
                    field(format!("expected an integer in {range}, found `{found}`")),
                );
            }
            None if integer_code => return (Some(token.start), field(ron_message(code))),
            None => {}
        }
    }
    // A float field stops at the first character no number has (`1.5x`):
    // the number is what is wrong, not a missing comma after it.
    let bad_number = inside_number && token.text(text).parse::<f64>().is_err();
    let expected = match code {
        _ if bad_number => "a number",
        E::ExpectedFloat => "a number",
        E::ExpectedBoolean => "`true` or `false`",
        E::ExpectedString => "a string in double quotes",
        code => return (Some(at), ron_message(code)),
    };
    (
        Some(token.start),
        field(format!("expected {expected}, found `{found}`")),
    )
}

/// The range `errors` give for the field at `path`, from a range check's
/// words ("… is outside the valid range 1..=15"), unit included.
fn field_range(errors: &[ConfigError], path: &str) -> Option<String> {
    errors.iter().filter(|e| e.field == path).find_map(|e| {
        e.message
            .split_once("valid range ")
            .map(|(_, r)| r.trim().to_string())
    })
}

/// The integers the value at byte `start` of `text` may be, as the
/// smallest and largest (`0..=255` for a byte), or `None` if it is not an
/// integer field: each candidate value replaces the text from `start` on,
/// and it fits if `read` gets past it.
fn integer_range(text: &str, start: usize, read: ReadAs) -> Option<(i128, u128)> {
    let takes = |value: &str| {
        let probe = format!("{}{value}", &text[..start]);
        match read(&probe) {
            Ok(()) => true,
            // RON reports the end of a value it could not use, or of the
            // whole text once the value was read.
            Err(e) => {
                e.code != ron::error::Error::IntegerOutOfBounds
                    && offset_of(&probe, e.span.end.line, e.span.end.col)
                        .is_some_and(|end| end == probe.len())
            }
        }
    };
    if !takes("0") || takes("0.5") {
        return None;
    }
    let signed = takes("-1");
    // A value fits every type at least as wide as the field's: the field
    // is of the widest type whose largest value fits.
    [128, 64, 32, 16, 8].into_iter().find_map(|bits: u32| {
        let (lo, hi) = if signed {
            let hi = u128::MAX >> (129 - bits);
            // i128 holds -hi - 1 for every width up to 128 bits.
            (-(hi as i128) - 1, hi)
        } else {
            (0, u128::MAX >> (128 - bits))
        };
        takes(&hi.to_string()).then_some((lo, hi))
    })
}

/// What kind of RON token a [`Token`] is, as far as messages care.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TokenKind {
    /// `(`, `[` or `{`.
    Open,
    /// `)`, `]` or `}`.
    Close,
    /// `,`.
    Comma,
    /// `:`.
    Colon,
    /// A name (a field, variant or struct, `Some`, `true`, `inf`).
    Ident,
    /// A number literal, with its sign.
    Number,
    /// A string or character literal, quotes included.
    Quoted,
    /// Anything else, one character.
    Other,
}

/// One token of RON text, by byte range.
#[derive(Clone, Copy, Debug)]
struct Token {
    kind: TokenKind,
    start: usize,
    end: usize,
}

impl Token {
    /// The token at byte `at` of `text` (which must not be whitespace or
    /// a comment), or `None` at the end of the text.
    fn at(text: &str, at: usize) -> Option<Token> {
        let rest = &text[at..];
        let c = rest.chars().next()?;
        let after = |n: usize| rest[n..].chars().next();
        let name_len = |from: usize| {
            rest[from..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(rest.len(), |i| from + i)
        };
        let (kind, len) = match c {
            '(' | '[' | '{' => (TokenKind::Open, 1),
            ')' | ']' | '}' => (TokenKind::Close, 1),
            ',' => (TokenKind::Comma, 1),
            ':' => (TokenKind::Colon, 1),
            '"' | '\'' => (TokenKind::Quoted, quoted_len(rest)),
            'b' if matches!(after(1), Some('"' | '\'')) => {
                (TokenKind::Quoted, 1 + quoted_len(&rest[1..]))
            }
            'b' if rest.starts_with("br") && matches!(after(2), Some('"' | '#')) => {
                (TokenKind::Quoted, 2 + raw_len(&rest[2..]))
            }
            'r' if matches!(after(1), Some('"'))
                || rest.starts_with("r##")
                || rest.starts_with("r#\"") =>
            {
                (TokenKind::Quoted, 1 + raw_len(&rest[1..]))
            }
            // A raw identifier, `r#None`.
            'r' if rest.starts_with("r#") => (TokenKind::Ident, name_len(2)),
            c if c.is_alphabetic() || c == '_' => (TokenKind::Ident, name_len(0)),
            c if c.is_ascii_digit()
                || (matches!(c, '-' | '+' | '.')
                    && after(1).is_some_and(|d| d.is_ascii_digit()))
                || (matches!(c, '-' | '+')
                    && after(1) == Some('.')
                    && after(2).is_some_and(|d| d.is_ascii_digit())) =>
            {
                (TokenKind::Number, number_len(rest))
            }
            c => (TokenKind::Other, c.len_utf8()),
        };
        Some(Token {
            kind,
            start: at,
            end: at + len,
        })
    }

    /// The token's text.
    fn text(self, text: &str) -> &str {
        &text[self.start..self.end]
    }

    /// The token's text for a message: at most 40 characters.
    fn shown(self, text: &str) -> String {
        let t = self.text(text);
        match t.char_indices().nth(40) {
            Some((cut, _)) => format!("{}…", &t[..cut]),
            None => t.to_string(),
        }
    }
}

/// The length of the quoted literal `text` starts with (`"…"` or `'…'`,
/// escapes included), or of all of `text` if it is not closed.
fn quoted_len(text: &str) -> usize {
    let quote = text.chars().next().unwrap_or('"');
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == quote => return i + 1,
            _ => {}
        }
    }
    text.len()
}

/// The length of the raw string `text` starts with after its `r`
/// (`"…"`, `#"…"#`, …), or of all of `text` if it is not closed.
fn raw_len(text: &str) -> usize {
    let hashes = text.len() - text.trim_start_matches('#').len();
    let close = format!("\"{}", "#".repeat(hashes));
    text.get(hashes + 1..)
        .and_then(|body| body.find(&close))
        .map_or(text.len(), |i| hashes + 1 + i + close.len())
}

/// The length of the number `text` starts with: sign, digits, point,
/// exponent and suffix alike, since RON stops within it where the field
/// takes another kind of number.
fn number_len(text: &str) -> usize {
    let mut prev = ' ';
    text.char_indices()
        .find(|&(i, c)| {
            let sign = matches!(c, '-' | '+') && (i == 0 || matches!(prev, 'e' | 'E'));
            prev = c;
            !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || sign)
        })
        .map_or(text.len(), |(i, _)| i)
}

/// Where in a RON file a byte is: the field whose value holds it and the
/// tokens around it.
struct Spot {
    /// The field path of the value there, as `--set` and sweeps name
    /// fields (`paths[0].forward.congestion`; variants are skipped); empty
    /// outside every field.
    path: String,
    /// The token holding the byte, or starting at it; `None` at the end.
    token: Option<Token>,
    /// The token after it.
    next: Option<Token>,
    /// Whether the two tokens before it are `Some` and `(`.
    after_some: bool,
    /// The path of the option, if the innermost `(` around it is the one
    /// of `Some(`.
    in_some: Option<String>,
}

impl Spot {
    /// Reads `text` up to byte `at`, which must be past any whitespace or
    /// comment before the next token.
    fn at(text: &str, at: usize) -> Spot {
        /// A `(`, `[` or `{` not yet closed: the field it is at, or for a
        /// list the index of the item, and whether it is `Some(`.
        struct Frame<'t> {
            field: Option<&'t str>,
            item: Option<usize>,
            some: bool,
        }
        let mut frames: Vec<Frame> = Vec::new();
        let mut before: [Option<Token>; 2] = [None, None];
        let mut pos = skip_blank(text, 0);
        let token = loop {
            let Some(t) = Token::at(text, pos) else {
                break None;
            };
            if t.end > at {
                break Some(t);
            }
            match (t.kind, t.text(text)) {
                (TokenKind::Open, open) => frames.push(Frame {
                    field: None,
                    item: (open == "[").then_some(0),
                    some: before[1].is_some_and(|b| b.text(text) == "Some"),
                }),
                (TokenKind::Close, _) => {
                    frames.pop();
                }
                (TokenKind::Comma, _) => {
                    if let Some(f) = frames.last_mut() {
                        f.field = None;
                        f.item = f.item.map(|i| i + 1);
                    }
                }
                (TokenKind::Colon, _) => {
                    if let (Some(f), Some(name)) = (frames.last_mut(), before[1])
                        && name.kind == TokenKind::Ident
                    {
                        f.field = Some(name.text(text));
                    }
                }
                _ => {}
            }
            before = [before[1], Some(t)];
            pos = skip_blank(text, t.end);
        };
        let path_of = |frames: &[Frame]| {
            let mut path = String::new();
            for f in frames {
                if let Some(i) = f.item {
                    path.push_str(&format!("[{i}]"));
                } else if let Some(name) = f.field {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
            }
            path
        };
        let is = |t: Option<Token>, s: &str| t.is_some_and(|t| t.text(text) == s);
        Spot {
            path: path_of(&frames),
            in_some: match frames.split_last() {
                Some((last, outer)) if last.some => Some(path_of(outer)),
                _ => None,
            },
            next: token.and_then(|t| Token::at(text, skip_blank(text, t.end))),
            token,
            after_some: is(before[0], "Some") && is(before[1], "("),
        }
    }
}

/// The byte offset in `text` of RON's position `line`:`column` (1-based,
/// columns in characters); the end of the text is a position too. `None`
/// if the position is not in `text`.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start = (1..line).try_fold(0, |at, _| text[at..].find('\n').map(|i| at + i + 1))?;
    text[line_start..]
        .char_indices()
        .map(|(i, _)| line_start + i)
        .chain(std::iter::once(text.len()))
        .nth(column.saturating_sub(1))
}

/// The 1-based line and column (in characters, as RON counts them) of byte
/// `at` of `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        1 + before.matches('\n').count(),
        1 + before[line_start..].chars().count(),
    )
}

/// The offset of the first token at or after byte `at` of `text`, past
/// whitespace and comments (`text.len()` if none follows): RON places some
/// errors where the parser stood (after a colon), not at the value that is
/// wrong.
fn skip_blank(text: &str, at: usize) -> usize {
    let mut rest = &text[at..];
    loop {
        let trimmed = rest.trim_start();
        if trimmed.starts_with("//") {
            rest = trimmed.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(mut inner) = trimmed.strip_prefix("/*") {
            // Block comments nest in RON.
            let mut depth = 1;
            while depth > 0 {
                match (inner.find("/*"), inner.find("*/")) {
                    (Some(open), Some(close)) if open < close => {
                        depth += 1;
                        inner = &inner[open + 2..];
                    }
                    (_, Some(close)) => {
                        depth -= 1;
                        inner = &inner[close + 2..];
                    }
                    (_, None) => {
                        inner = "";
                        break;
                    }
                }
            }
            rest = inner;
        } else {
            return text.len() - trimmed.len();
        }
    }
}

/// An override's RON value with every unit variant name (`Hpet`) quoted,
/// which is how the scenario's JSON form writes it: a parsed RON value keeps
/// no names. A variant with fields (`Exponential(mean_us: 50)`) is refused,
/// since its fields can be set one by one.
fn quote_unit_variants(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            // Copy a string literal through, escapes included.
            out.push(c);
            let mut escaped = false;
            for (_, c) in chars.by_ref() {
                out.push(c);
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => break,
                    _ => {}
                }
            }
        } else if c.is_ascii_digit() {
            // A number, exponent included (`1e-3` holds no name).
            out.push(c);
            let mut prev = c;
            while let Some(&(_, d)) = chars.peek() {
                let sign_of_exponent = matches!(d, '+' | '-') && matches!(prev, 'e' | 'E');
                if !(d.is_ascii_alphanumeric() || d == '_' || d == '.' || sign_of_exponent) {
                    break;
                }
                out.push(d);
                prev = d;
                chars.next();
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !(d.is_ascii_alphanumeric() || d == '_') {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            let name = &text[i..end];
            let next = text[end..].trim_start().chars().next();
            let keep = matches!(name, "true" | "false" | "None" | "Some" | "inf" | "NaN")
                || next == Some(':');
            if keep {
                out.push_str(name);
            } else if next == Some('(') {
                // A RON value keeps no variant names; a map from the name
                // to the fields is how serde reads a variant with fields.
                return Err(format!(
                    "the variant {name}(...) cannot be written this way here: write it as a \
                     map from its name to its fields, {{\"{name}\": {{\"field\": value, …}}}}, \
                     or set its fields one by one"
                ));
            } else {
                out.push('"');
                out.push_str(name);
                out.push('"');
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Sets `path` (fields by name, list items by `[i]`, as sweeps and `run
/// --set` name them) in a JSON tree, skipping enum-variant wrappers.
pub(crate) fn set_path(
    root: &mut serde_json::Value,
    path: &str,
    value: serde_json::Value,
) -> Result<(), String> {
    let mut node = root;
    let mut parts = Vec::new();
    for seg in path.split('.') {
        let (name, rest) = seg
            .split_once('[')
            .map_or((seg, None), |(n, r)| (n, Some(r)));
        parts.push(Ok(name.to_string()));
        if let Some(rest) = rest {
            for idx in rest.split('[') {
                let idx = idx
                    .strip_suffix(']')
                    .ok_or_else(|| format!("\"[{idx}\" is not an index in brackets"))?;
                parts.push(Err(idx
                    .parse::<usize>()
                    .map_err(|_| format!("\"{idx}\" is not an index"))?));
            }
        }
    }
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        match part {
            Ok(name) => {
                // Descend through single-key objects that are enum variants.
                loop {
                    match node {
                        serde_json::Value::Object(map) if map.contains_key(&name) => break,
                        serde_json::Value::Object(map)
                            if map.len() == 1
                                && map
                                    .keys()
                                    .next()
                                    .is_some_and(|k| k.starts_with(char::is_uppercase)) =>
                        {
                            node = map.values_mut().next().expect("one entry");
                        }
                        _ => return Err(format!("no field \"{name}\" here")),
                    }
                }
                let map = node.as_object_mut().expect("checked above");
                if i == last {
                    map.insert(name, value);
                    return Ok(());
                }
                node = map.get_mut(&name).expect("checked above");
            }
            Err(idx) => {
                let arr = node
                    .as_array_mut()
                    .ok_or_else(|| format!("not a list before [{idx}]"))?;
                let len = arr.len();
                let slot = arr
                    .get_mut(idx)
                    .ok_or_else(|| format!("index {idx} out of range (0..{len})"))?;
                if i == last {
                    *slot = value;
                    return Ok(());
                }
                node = slot;
            }
        }
    }
    Ok(())
}

/// An override's RON value as JSON, or why it has no JSON form: JSON has
/// no NaN, infinity or `()`, which would all become `null` and so read as
/// `None` in an optional field (1e400 parses as infinity). `None` is null.
/// See [`value_error`] for the message of a refusal.
pub(crate) fn ron_to_json(v: &ron::Value) -> Result<serde_json::Value, String> {
    /// The first part of `v` that JSON cannot hold.
    fn unwritable(v: &ron::Value) -> Option<String> {
        match v {
            ron::Value::Number(n) => {
                let x = n.into_f64();
                (!x.is_finite()).then(|| format!("{x} is not a finite number"))
            }
            ron::Value::Unit => Some("() is not a value".into()),
            ron::Value::Seq(items) => items.iter().find_map(unwritable),
            ron::Value::Map(m) => m
                .iter()
                .find_map(|(k, v)| unwritable(k).or_else(|| unwritable(v))),
            ron::Value::Option(Some(v)) => unwritable(v),
            _ => None,
        }
    }
    if let Some(m) = unwritable(v) {
        return Err(m);
    }
    serde_json::to_value(v).map_err(|e| format!("{e}"))
}

/// The message for a value [`ron_to_json`] refused at `path` of `tree` (a
/// scenario's JSON form): an optional field adds how to leave it unset.
pub(crate) fn value_error(tree: &serde_json::Value, path: &str, message: String) -> String {
    let mut unset = tree.clone();
    let optional = set_path(&mut unset, path, serde_json::Value::Null).is_ok()
        && Scenario::deserialize(&unset).is_ok();
    if optional {
        format!("{message}; write None to leave the field unset")
    } else {
        message
    }
}

/// Longest name of a scenario, sweep or daemon, bytes of UTF-8: each names
/// a folder, most file systems allow a name 255 bytes, and a run's output is
/// staged as `.<name>.partial-<pid>.old` beside its destination.
const MAX_NAME_BYTES: usize = 200;

/// Endings of the files a run writes in its folder (`summary.json`,
/// `errors.csv`, `errors.png`, `scenario.ron`...), which a daemon's folder
/// beside them must not take.
const RUN_FILE_EXTENSIONS: [&str; 5] = [".json", ".csv", ".png", ".svg", ".ron"];

/// Why `name` cannot name a folder of the output (a scenario's, a
/// sweep's, a daemon's), if it cannot: it must stay inside its parent.
pub fn folder_name_error(name: &str) -> Option<String> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Some("must be non-empty, without '/' or '\\', and not start with '.'".into());
    }
    let bytes = name.len();
    (bytes > MAX_NAME_BYTES).then(|| {
        format!(
            "{bytes} bytes; at most {MAX_NAME_BYTES} (it names a folder; a letter beyond \
             ASCII takes 2 to 4 bytes of UTF-8)"
        )
    })
}

impl Scenario {
    /// The files this scenario reads besides itself (empirical delay
    /// files), so that `--force` never replaces a directory holding one.
    pub fn input_files(&self) -> Vec<PathBuf> {
        self.paths
            .iter()
            .flat_map(|p| [&p.forward, &p.backward])
            .flat_map(|d| d.queueing.files())
            .map(PathBuf::from)
            .collect()
    }

    /// This scenario with `PATH=VALUE` overrides applied in order, not yet
    /// validated. `PATH` names a field as sweep files do
    /// (`daemons[0].algorithm.poll_period_s`: fields by name, list items by
    /// index, enum variants skipped); `VALUE` is RON (a number, string,
    /// boolean or list), a bare name such as `Hpet` is a unit variant and
    /// `None` leaves an optional field unset.
    /// `file` names the source in errors.
    ///
    /// ```
    /// use vtsim::scenario::Scenario;
    /// let s = Scenario::parse("Scenario(name: \"x\", duration_s: 60)", "x.ron").unwrap();
    /// let s = s.set("x.ron", &["duration_s=3600".into(), "seed=7".into()]).unwrap();
    /// assert_eq!((s.duration_s, s.seed), (3600.0, 7));
    /// ```
    pub fn set(self, file: &str, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let invalid = |field: &str, message: String| ScenarioError::Invalid {
            file: file.to_string(),
            errors: vec![ConfigError::new(field, message)],
        };
        let mut tree = serde_json::to_value(&self).expect("scenarios serialise");
        let mut s = self;
        for set in sets {
            let (path, text) = set
                .split_once('=')
                .ok_or_else(|| invalid("--set", format!("\"{set}\" is not PATH=VALUE")))?;
            let (path, text) = (path.trim(), text.trim());
            if path.is_empty() {
                return Err(invalid(
                    "--set",
                    format!("\"{set}\" names no field before '='"),
                ));
            }
            // Errors name the override as typed: the file itself is fine.
            let invalid = |m: String| invalid(path, format!("{m} (in --set {set})"));
            let quoted = quote_unit_variants(text).map_err(invalid)?;
            let v: ron::Value = ron_options()
                .from_str(&quoted)
                .map_err(|e| invalid(format!("\"{text}\" is not a RON value: {}", e.code)))?;
            let value = ron_to_json(&v).map_err(|m| invalid(value_error(&tree, path, m)))?;
            set_path(&mut tree, path, value).map_err(invalid)?;
            // Read back after each override, so that an error names it.
            s = Scenario::deserialize(&tree)
                .map_err(|e| invalid(format!("{text} does not fit the field: {e}")))?;
        }
        Ok(s)
    }

    /// Parses RON text; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        ron_options()
            .from_str(text)
            .map_err(|e| parse_error(file, text, "Scenario", e))
    }

    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::load_with(path, &[])
    }

    /// Reads and parses a scenario file, applies `PATH=VALUE` overrides in
    /// order ([`Scenario::set`]), then validates the result.
    pub fn load_with(path: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = crate::scenario::read_text(path).map_err(|cause| ScenarioError::Io {
            file: file.clone(),
            cause,
        })?;
        let mut s = Scenario::parse(&text, &file)?;
        if !sets.is_empty() {
            s = s.set(&file, sets)?;
        }
        let errors = s.validate();
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(ScenarioError::Invalid { file, errors })
        }
    }

    /// Serialises to pretty RON (round-trips through [`Scenario::parse`]).
    pub fn to_ron(&self) -> String {
        let cfg = ron::ser::PrettyConfig::new()
            .struct_names(true)
            .depth_limit(8);
        let text = ron_options()
            .to_string_pretty(self, cfg)
            .expect("scenario types always serialise");
        unescape_none_variants(&text)
    }

    /// Every problem: ranges with units, and references to things that do
    /// not exist.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        if let Some(m) = folder_name_error(&self.name) {
            e.push(ConfigError::new("name", m));
        }
        ConfigError::check_range(
            &mut e,
            "duration_s",
            self.duration_s,
            DURATION_RANGE_S.0,
            DURATION_RANGE_S.1,
            "s",
        );
        ConfigError::check_range(
            &mut e,
            "probes.interval_s",
            self.probes.interval_s,
            PROBE_INTERVAL_RANGE_S.0,
            PROBE_INTERVAL_RANGE_S.1,
            "s",
        );
        ConfigError::check_range(
            &mut e,
            "probes.metrics_from_s",
            self.probes.metrics_from_s,
            0.0,
            self.duration_s.max(0.0),
            "s (within the run)",
        );
        if let Some(tau) = self.probes.stability_max_tau_s {
            ConfigError::check_range(
                &mut e,
                "probes.stability_max_tau_s",
                tau,
                PROBE_INTERVAL_RANGE_S.0,
                PROBE_INTERVAL_RANGE_S.1 * MAX_STABILITY_FACTOR as f64,
                "s",
            );
        }
        ConfigError::check_range(
            &mut e,
            "output.errors_csv_interval_s",
            self.output.errors_csv_interval_s,
            1e-3,
            86_400.0 * 365.0,
            "s",
        );
        for (i, h) in self.hosts.iter().enumerate() {
            e.extend(h.validate(&format!("hosts[{i}]")));
            if (DURATION_RANGE_S.0..=DURATION_RANGE_S.1).contains(&self.duration_s) {
                e.extend(h.validate_count_range(&format!("hosts[{i}]"), self.duration_s));
            }
            if self.hosts[..i].iter().any(|o| o.name == h.name) {
                e.push(ConfigError::new(
                    format!("hosts[{i}].name"),
                    format!("\"{}\" is used twice", h.name),
                ));
            }
        }
        for (i, s) in self.servers.iter().enumerate() {
            e.extend(s.validate(&format!("servers[{i}]")));
            if self.servers[..i].iter().any(|o| o.name == s.name) {
                e.push(ConfigError::new(
                    format!("servers[{i}].name"),
                    format!("\"{}\" is used twice", s.name),
                ));
            }
        }
        for (i, p) in self.paths.iter().enumerate() {
            e.extend(p.validate(&format!("paths[{i}]")));
        }
        for (i, d) in self.daemons.iter().enumerate() {
            let at = format!("daemons[{i}]");
            if let Some(m) = folder_name_error(&d.name) {
                e.push(ConfigError::new(format!("{at}.name"), m));
            } else if let Some(ext) = RUN_FILE_EXTENSIONS
                .iter()
                // Case-insensitive file systems take `Errors.CSV` for `errors.csv`.
                .find(|ext| d.name.to_ascii_lowercase().ends_with(*ext))
            {
                e.push(ConfigError::new(
                    format!("{at}.name"),
                    format!(
                        "\"{}\" ends in {ext}, as the files a run writes beside its daemons' folders",
                        d.name
                    ),
                ));
            }
            if self.daemons[..i].iter().any(|o| o.name == d.name) {
                e.push(ConfigError::new(
                    format!("{at}.name"),
                    format!("\"{}\" is used twice", d.name),
                ));
            }
            check_placement(&mut e, &self.hosts, &at, &d.host, d.domain, Some(d.counter));
            if d.servers.is_empty() && !matches!(d.algorithm, AlgorithmConfig::FreeRunning(_)) {
                e.push(ConfigError::new(
                    format!("{at}.servers"),
                    "a synchronizing daemon needs at least one server",
                ));
            }
            if d.servers.len() > 1 && !matches!(d.algorithm, AlgorithmConfig::Ntpd(_)) {
                e.push(ConfigError::new(
                    format!("{at}.servers"),
                    format!(
                        "{} servers given, but {} follows one server (only ntpd selects among several)",
                        d.servers.len(),
                        d.algorithm.name()
                    ),
                ));
            }
            for (j, r) in d.servers.iter().enumerate() {
                if !self.servers.iter().any(|s| s.name == r.server) {
                    e.push(ConfigError::new(
                        format!("{at}.servers[{j}].server"),
                        format!("no server named \"{}\"", r.server),
                    ));
                }
                if r.path >= self.paths.len() {
                    e.push(ConfigError::new(
                        format!("{at}.servers[{j}].path"),
                        format!("{} is not a path index (0..{})", r.path, self.paths.len()),
                    ));
                }
            }
            for err in d.algorithm.validate() {
                e.push(ConfigError::new(
                    format!("{at}.algorithm.{}", err.field),
                    err.message,
                ));
            }
        }
        for (i, ev) in self.events.iter().enumerate() {
            let at = format!("events[{i}]");
            let (at_s, a, b, path) = match ev {
                ScenarioEvent::Migrate {
                    at_s,
                    from,
                    to,
                    migration,
                    path,
                    ..
                } => {
                    e.extend(migration.validate(&format!("{at}.migration")));
                    (*at_s, from, to, path)
                }
                ScenarioEvent::Failover {
                    at_s,
                    leader,
                    follower,
                    replication,
                    path,
                } => {
                    e.extend(replication.validate(&format!("{at}.replication")));
                    (*at_s, leader, follower, path)
                }
            };
            ConfigError::check_range(
                &mut e,
                &format!("{at}.at_s"),
                at_s,
                0.0,
                self.duration_s.max(0.0),
                "s (within the run)",
            );
            let (a_name, b_name) = match ev {
                ScenarioEvent::Migrate { .. } => ("from", "to"),
                ScenarioEvent::Failover { .. } => ("leader", "follower"),
            };
            check_placement(
                &mut e,
                &self.hosts,
                &format!("{at}.{a_name}"),
                &a.host,
                a.domain,
                None,
            );
            check_placement(
                &mut e,
                &self.hosts,
                &format!("{at}.{b_name}"),
                &b.host,
                b.domain,
                None,
            );
            for (name, g) in [(a_name, a), (b_name, b)] {
                if g.domain == 0 {
                    e.push(ConfigError::new(
                        format!("{at}.{name}.domain"),
                        "0 is Dom0, the host's control domain; guests are domains 1 and up",
                    ));
                }
            }
            if a.host == b.host && a.domain == b.domain {
                e.push(ConfigError::new(
                    format!("{at}.{b_name}"),
                    "the destination must differ from the source",
                ));
            }
            if let Some(p) = path
                && *p >= self.paths.len()
            {
                e.push(ConfigError::new(
                    format!("{at}.path"),
                    format!("{p} is not a path index (0..{})", self.paths.len()),
                ));
            }
        }
        e.extend(self.occupied_destinations());
        for (i, dl) in self.dilation.iter().enumerate() {
            let at = format!("dilation[{i}]");
            e.extend(dl.tdf.validate(&format!("{at}.tdf")));
            check_placement(&mut e, &self.hosts, &at, &dl.host, dl.domain, None);
            if dl.domain == 0 {
                e.push(ConfigError::new(
                    format!("{at}.domain"),
                    "0 is Dom0, the host's control domain; dilation slows a guest's time (domains 1 and up)",
                ));
            }
            if let Some(j) = self.dilation[..i]
                .iter()
                .position(|o| o.host == dl.host && o.domain == dl.domain)
            {
                e.push(ConfigError::new(
                    format!("{at}.domain"),
                    format!(
                        "domain {} of host \"{}\" is already dilated by dilation[{j}]",
                        dl.domain, dl.host
                    ),
                ));
            }
            if !dl.tdf.dilate_rdtsc {
                for (k, d) in self.daemons.iter().enumerate() {
                    if d.host == dl.host
                        && d.domain == dl.domain
                        && d.counter == CounterSource::Tsc
                        && matches!(d.algorithm, AlgorithmConfig::Ntpd(_))
                    {
                        e.push(ConfigError::new(
                            format!("daemons[{k}].counter"),
                            format!(
                                "ntpd disciplines its guest kernel's clock, which in a domain dilated by {at} reads the TSC dilated; a leaking RDTSC (dilate_rdtsc: false) is a user-level reader's: set {at}.tdf.dilate_rdtsc: true or read another counter"
                            ),
                        ));
                    }
                }
            }
        }
        e.extend(self.cpu_share_conflicts());
        e.extend(self.carried_cap_conflicts());
        for (i, c) in self.clocks.iter().enumerate() {
            let at = format!("clocks[{i}]");
            if let Some(j) = self
                .dilation
                .iter()
                .position(|dl| dl.host == c.host && dl.domain == c.domain)
            {
                e.push(ConfigError::new(
                    format!("{at}.domain"),
                    format!(
                        "domain {} of host \"{}\" is dilated by dilation[{j}]; dependent clocks in a dilated domain are not modelled",
                        c.domain, c.host
                    ),
                ));
            }
            if c.name.is_empty()
                || self.daemons.iter().any(|d| d.name == c.name)
                || self.clocks[..i].iter().any(|o| o.name == c.name)
            {
                e.push(ConfigError::new(
                    format!("{at}.name"),
                    format!(
                        "\"{}\" must be non-empty and unique among clocks and daemons",
                        c.name
                    ),
                ));
            }
            check_placement(&mut e, &self.hosts, &at, &c.host, c.domain, None);
            match self.hosts.iter().find(|h| h.name == c.host) {
                Some(h) if h.xen.is_none() => e.push(ConfigError::new(
                    format!("{at}.host"),
                    format!(
                        "host \"{}\" does not run Xen; dependent clocks need a hypervisor",
                        c.host
                    ),
                )),
                _ => {}
            }
            if let Follows::Radclock { store_latency_ms } = c.follows {
                // Only a Dom0 RADclock publishes parameters to the XenStore;
                // without one the clock would never have a reading.
                let publisher = self.daemons.iter().any(|d| {
                    d.host == c.host
                        && d.domain == 0
                        && matches!(d.algorithm, AlgorithmConfig::Radclock(_))
                });
                if !publisher {
                    e.push(ConfigError::new(
                        format!("{at}.follows"),
                        format!(
                            "Radclock follows the parameters a Dom0 RADclock daemon publishes, \
                             and no daemon on host \"{}\" runs Radclock in domain 0",
                            c.host
                        ),
                    ));
                }
                ConfigError::check_range(
                    &mut e,
                    &format!("{at}.follows.store_latency_ms"),
                    store_latency_ms,
                    0.0,
                    1000.0,
                    "ms",
                );
            }
        }
        e.extend(crate::checks::cross_checks(self));
        e
    }
}

/// Checks that `host` exists, has `domain`, and can provide `counter`.
fn check_placement(
    e: &mut Vec<ConfigError>,
    hosts: &[HostConfig],
    at: &str,
    host: &str,
    domain: usize,
    counter: Option<CounterSource>,
) {
    let Some(h) = hosts.iter().find(|h| h.name == host) else {
        e.push(ConfigError::new(
            format!("{at}.host"),
            format!("no host named \"{host}\""),
        ));
        return;
    };
    let domains = h.xen.as_ref().map_or(1, |x| 1 + x.host.guests.len());
    if domain >= domains {
        e.push(ConfigError::new(
            format!("{at}.domain"),
            format!(
                "{domain} is not a domain of host \"{host}\" (valid: 0..={})",
                domains - 1
            ),
        ));
    }
    if let Some(src) = counter {
        let hw = h.counters.iter().any(|c| c.kind == src.hardware());
        if !hw || (src == CounterSource::XenClocksource && h.xen.is_none()) {
            e.push(ConfigError::new(
                format!("{at}.counter"),
                format!("host \"{host}\" cannot provide {src:?}"),
            ));
        }
    }
}

impl Scenario {
    /// Host `h` as it runs: each domain whose dilation dilates its CPU share
    /// gets the credit cap that leaves it 1/TDF of its vCPUs' time
    /// ([`TdfConfig::cpu_cap_pct`]).
    pub fn host_as_run(&self, h: &HostConfig) -> HostConfig {
        let mut h = h.clone();
        for (host, domain, tdf) in self.dilated_slots() {
            if host != h.name {
                continue;
            }
            if let Some(d) = h.xen.as_mut().and_then(|x| x.host.domain_mut(domain))
                && let Some(cap) = tdf.cpu_cap_pct(d.vcpus)
            {
                d.cap_pct = cap;
            }
        }
        h
    }

    /// Every domain slot a dilated guest occupies during the run, with its
    /// dilation: its own, and the slots its migrations and failover take it
    /// to, which carry its 1/TDF share of the CPU with it.
    fn dilated_slots(&self) -> Vec<(&str, usize, &TdfConfig)> {
        let mut slots: Vec<(&str, usize, &TdfConfig)> = self
            .dilation
            .iter()
            .map(|dl| (dl.host.as_str(), dl.domain, &dl.tdf))
            .collect();
        let mut moves: Vec<(f64, &GuestLoc, &GuestLoc)> = self
            .events
            .iter()
            .map(|ev| match ev {
                ScenarioEvent::Migrate { at_s, from, to, .. } => (*at_s, from, to),
                ScenarioEvent::Failover {
                    at_s,
                    leader,
                    follower,
                    ..
                } => (*at_s, leader, follower),
            })
            .collect();
        moves.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, from, to) in moves {
            let carried = slots
                .iter()
                .find(|(h, d, _)| *h == from.host && *d == from.domain)
                .map(|&(_, _, tdf)| tdf);
            if let Some(tdf) = carried
                && !slots
                    .iter()
                    .any(|(h, d, _)| *h == to.host && *d == to.domain)
            {
                slots.push((to.host.as_str(), to.domain, tdf));
            }
        }
        slots
    }

    /// A dilation that dilates its domain's CPU share needs the credit
    /// scheduler, which enforces it as a cap, and leaves the cap to it.
    /// Xen host `host`'s configuration and its domain `domain`, if both exist.
    fn xen_domain(&self, host: &str, domain: usize) -> Option<(&XenHostConfig, &DomainConfig)> {
        let x = &self
            .hosts
            .iter()
            .find(|h| h.name == host)?
            .xen
            .as_ref()?
            .host;
        Some((x, x.domains().nth(domain)?))
    }

    fn cpu_share_conflicts(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        for (i, dl) in self.dilation.iter().enumerate() {
            let Some((x, d)) = self.xen_domain(&dl.host, dl.domain) else {
                continue;
            };
            if dl.tdf.cpu_cap_pct(d.vcpus).is_none() {
                continue;
            }
            let field = format!("dilation[{i}].tdf.dilate_cpu_share");
            match &x.scheduler {
                SchedulerConfig::Credit(_) => {
                    let share_pct = 100.0 * d.vcpus as f64 / dl.tdf.factor;
                    if share_pct < 1.0 {
                        e.push(ConfigError::new(
                            field.clone(),
                            format!(
                                "1/TDF of {} vCPU(s) is {} % of a pCPU, below the credit scheduler's smallest cap (1 %); use a factor of at most {} or set dilate_cpu_share: false",
                                d.vcpus,
                                Num(share_pct),
                                100 * d.vcpus
                            ),
                        ));
                    }
                    if d.cap_pct != 0 {
                        e.push(ConfigError::new(
                            field,
                            format!(
                                "the domain sets its own cap_pct ({} %), which the 1/TDF share would replace; keep one of them",
                                d.cap_pct
                            ),
                        ));
                    }
                }
                SchedulerConfig::Sedf(_) => e.push(ConfigError::new(
                    field,
                    "the 1/TDF CPU share is a credit cap; under SEDF give the domain sedf.slice_ns = period/TDF with extratime: false, and set dilate_cpu_share: false",
                )),
                SchedulerConfig::Parametric(_) => e.push(ConfigError::new(
                    field,
                    "the parametric scheduler model has no caps; set dilate_cpu_share: false",
                )),
            }
        }
        e
    }

    /// A dilated guest's 1/TDF CPU cap is its slots' for the whole run: the
    /// slots its moves take it to must enforce it as its own does, and no
    /// other guest may move into a slot that carries it.
    fn carried_cap_conflicts(&self) -> Vec<ConfigError> {
        let slots = self.dilated_slots();
        let capped = |h: &str, d: usize| {
            slots
                .iter()
                .any(|(sh, sd, tdf)| *sh == h && *sd == d && tdf.dilate_cpu_share)
        };
        let mut e = Vec::new();
        for (j, ev) in self.events.iter().enumerate() {
            let (from, to, field) = match ev {
                ScenarioEvent::Migrate { from, to, .. } => (from, to, format!("events[{j}].to")),
                ScenarioEvent::Failover {
                    leader, follower, ..
                } => (leader, follower, format!("events[{j}].follower")),
            };
            if !capped(&from.host, from.domain) {
                if capped(&to.host, to.domain) {
                    e.push(ConfigError::new(
                        field,
                        format!(
                            "{}/dom{} carries a dilated guest's 1/TDF CPU cap during the run, which would cap this guest too; move it to another slot",
                            to.host, to.domain
                        ),
                    ));
                }
                continue;
            }
            let Some((x, d)) = self.xen_domain(&to.host, to.domain) else {
                continue;
            };
            if !matches!(x.scheduler, SchedulerConfig::Credit(_)) {
                e.push(ConfigError::new(
                    field,
                    format!(
                        "the guest is dilated with dilate_cpu_share, a credit cap that {}'s scheduler cannot enforce; set dilate_cpu_share: false",
                        to.host
                    ),
                ));
            } else if d.cap_pct != 0 {
                e.push(ConfigError::new(
                    field,
                    format!(
                        "the dilated guest's 1/TDF CPU cap would replace this slot's own cap_pct ({} %); keep one of them",
                        d.cap_pct
                    ),
                ));
            }
        }
        e
    }

    /// Guests move between slots one by one, in time order: a destination
    /// is empty until the guest arrives (the world keeps it offline, and a
    /// failover's follower is the leader's replica), so no daemon or
    /// dependent clock may start there and no other guest may still be in
    /// it; a guest that has left a slot cannot leave it again.
    fn occupied_destinations(&self) -> Vec<ConfigError> {
        let mut order: Vec<usize> = (0..self.events.len()).collect();
        let at_s = |ev: &ScenarioEvent| match ev {
            ScenarioEvent::Migrate { at_s, .. } | ScenarioEvent::Failover { at_s, .. } => *at_s,
        };
        order.sort_by(|&a, &b| at_s(&self.events[a]).total_cmp(&at_s(&self.events[b])));
        let mut seen: Vec<&GuestLoc> = Vec::new();
        // Slots a guest moved into (and by which event), and slots left.
        let mut arrived: Vec<(&GuestLoc, usize)> = Vec::new();
        let mut left: Vec<(&GuestLoc, usize)> = Vec::new();
        let mut e = Vec::new();
        for i in order {
            let (from, to, names, verb) = match &self.events[i] {
                ScenarioEvent::Migrate { from, to, .. } => {
                    (from, to, ("from", "to"), "migrates a guest into it")
                }
                ScenarioEvent::Failover {
                    leader, follower, ..
                } => (
                    leader,
                    follower,
                    ("leader", "follower"),
                    "fails a guest over to it",
                ),
            };
            if !seen.contains(&to) {
                let placed = self
                    .daemons
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.host == to.host && d.domain == to.domain)
                    .map(|(k, _)| format!("daemons[{k}].domain"))
                    .chain(
                        self.clocks
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| c.host == to.host && c.domain == to.domain)
                            .map(|(k, _)| format!("clocks[{k}].domain")),
                    );
                for field in placed {
                    e.push(ConfigError::new(
                        field,
                        format!(
                            "domain {} of host \"{}\" is empty until events[{i}] {verb}; \
                             place the guest's daemons and clocks in its source slot",
                            to.domain, to.host
                        ),
                    ));
                }
            }
            if let Some(&(_, j)) = arrived.iter().find(|(g, _)| *g == to) {
                e.push(ConfigError::new(
                    format!("events[{i}].{}", names.1),
                    format!(
                        "domain {} of host \"{}\" still holds the guest events[{j}] moved there",
                        to.domain, to.host
                    ),
                ));
            }
            if let Some(&(_, j)) = left.iter().find(|(g, _)| *g == from) {
                e.push(ConfigError::new(
                    format!("events[{i}].{}", names.0),
                    format!(
                        "domain {} of host \"{}\" has no guest to move: its guest moves out with events[{j}] (at {} s)",
                        from.domain,
                        from.host,
                        at_s(&self.events[j])
                    ),
                ));
            }
            if matches!(self.events[i], ScenarioEvent::Failover { .. })
                && let Some(&(_, j)) = arrived.iter().find(|(g, _)| *g == from)
            {
                e.push(ConfigError::new(
                    format!("events[{i}].leader"),
                    format!(
                        "domain {} of host \"{}\" holds the guest events[{j}] moved there; replication runs from the start for the guest placed in the leader slot, so a guest that arrives later is not replicated",
                        from.domain, from.host
                    ),
                ));
            }
            arrived.retain(|(g, _)| *g != from);
            left.retain(|(g, _)| *g != to);
            arrived.push((to, i));
            left.push((from, i));
            seen.extend([from, to]);
        }
        e
    }
}

/// A small complete scenario: one host with a TSC, one server, one LAN path
/// and one naive daemon, every field of each at its default (what
/// `vtsim dump-defaults` prints). The lists themselves (`hosts`,
/// `servers`, `paths`, `daemons`...) are empty when omitted.
pub fn default_scenario() -> Scenario {
    Scenario {
        name: "example".into(),
        description: "One host, server, path and naive daemon, each field at its default; lists left out of a scenario are empty".into(),
        seed: default_seed(),
        duration_s: 3600.0,
        hosts: vec![HostConfig::default()],
        servers: vec![ServerConfig::default()],
        paths: vec![PathConfig::default()],
        daemons: vec![DaemonConfig {
            name: "naive".into(),
            host: HostConfig::default().name,
            counter: default_counter(),
            domain: 0,
            core: 0,
            servers: vec![ServerRef {
                server: ServerConfig::default().name,
                path: 0,
            }],
            algorithm: AlgorithmConfig::default_for("naive").expect("naive is registered"),
        }],
        clocks: Vec::new(),
        events: Vec::new(),
        dilation: Vec::new(),
        probes: ProbeConfig::default(),
        output: OutputConfig::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_reach_nested_fields_variants_options_and_lists() {
        let s = Scenario::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/radclock-lan.ron"
        )))
        .unwrap();
        let sets = [
            "daemons[0].algorithm.poll_period_s=64",
            "daemons[1].counter=Hpet",
            "probes.stability_max_tau_s=None",
            "paths[0].asymmetry_us = -12.5",
            "hosts[0].counters=[(kind: Tsc), (kind: Hpet)]",
        ]
        .map(String::from);
        let t = s.clone().set("f", &sets).unwrap();
        let AlgorithmConfig::Radclock(r) = &t.daemons[0].algorithm else {
            panic!("radclock-lan's first daemon runs RADclock");
        };
        assert_eq!(r.poll_period_s, 64.0);
        assert_eq!(t.daemons[1].counter, CounterSource::Hpet);
        assert_eq!(t.probes.stability_max_tau_s, None);
        assert_eq!(t.paths[0].asymmetry_us, Some(-12.5));
        assert_eq!(t.hosts[0].counters.len(), 2);
        assert!(t.validate().is_empty());
        // Everything else as it was; no override, no change.
        let mut back = t.clone();
        back.daemons = s.daemons.clone();
        back.probes = s.probes.clone();
        back.paths = s.paths.clone();
        back.hosts = s.hosts.clone();
        assert_eq!(back, s);
        assert_eq!(s.clone().set("f", &[]).unwrap(), s);
    }

    #[test]
    fn unit_variant_names_are_quoted_and_variants_with_fields_refused() {
        assert_eq!(
            quote_unit_variants(r#"[(kind: Tsc, note: "a Tsc \" B"), Some(x), true, 1e-3]"#)
                .unwrap(),
            r#"[(kind: "Tsc", note: "a Tsc \" B"), Some("x"), true, 1e-3]"#
        );
        assert_eq!(quote_unit_variants("Hpet").unwrap(), "\"Hpet\"");
        let e = quote_unit_variants("Exponential(mean_us: 50)").unwrap_err();
        assert!(
            e.contains(r#"write it as a map from its name to its fields, {"Exponential": {"#),
            "{e}"
        );
    }

    #[test]
    fn overrides_refuse_values_json_cannot_hold_and_keep_none() {
        let s = Scenario::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/lan-basics.ron"
        )))
        .unwrap();
        for (set, says) in [
            ("paths[0].asymmetry_us=NaN", "NaN is not a finite number"),
            ("paths[0].asymmetry_us=inf", "inf is not a finite number"),
            ("paths[0].asymmetry_us=1e400", "inf is not a finite number"),
            ("paths[0].asymmetry_us=()", "() is not a value"),
            ("duration_s=-inf", "-inf is not a finite number"),
            (
                "hosts[0].counters=[(kind: Tsc, x: NaN)]",
                "NaN is not a finite",
            ),
        ] {
            let e = s.clone().set("f", &[set.to_string()]).unwrap_err();
            let e = e.to_string();
            let path = set.split_once('=').unwrap().0;
            assert!(e.contains(&format!("{path}: {says}")), "{set}: {e}");
            // Only an optional field can be left unset.
            let optional = path.ends_with("asymmetry_us");
            let unset = e.contains("write None to leave the field unset");
            assert_eq!(unset, optional, "{e}");
        }
        let t = s.set("f", &["paths[0].asymmetry_us=None".into()]).unwrap();
        assert_eq!(t.paths[0].asymmetry_us, None);
        assert_eq!(
            ron_to_json(&ron::Value::Option(None)),
            Ok(serde_json::Value::Null)
        );
    }

    #[test]
    fn set_path_refuses_unbalanced_brackets() {
        let mut v = serde_json::json!({"daemons": [{"name": "a"}]});
        for path in ["daemons[0.name", "daemons[0]].name", "daemons[0]x.name"] {
            assert!(
                set_path(&mut v, path, serde_json::json!("x")).is_err(),
                "{path}"
            );
        }
        assert_eq!(v["daemons"][0]["name"], "a");
    }

    #[test]
    fn set_path_skips_variants_and_indexes() {
        let mut v =
            serde_json::json!({"daemons": [{"algorithm": {"Naive": {"poll_period_s": 16.0}}}]});
        set_path(
            &mut v,
            "daemons[0].algorithm.poll_period_s",
            serde_json::json!(64.0),
        )
        .unwrap();
        assert_eq!(v["daemons"][0]["algorithm"]["Naive"]["poll_period_s"], 64.0);
        assert!(
            set_path(&mut v, "daemons[3].x", serde_json::json!(1))
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            set_path(&mut v, "nothing", serde_json::json!(1)).is_err()
                || v.get("nothing").is_some()
        );
    }

    #[test]
    fn defaults_validate_and_round_trip() {
        let s = default_scenario();
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        let back = Scenario::parse(&s.to_ron(), "dump").unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn none_variants_are_written_bare_and_read_back() {
        let mut s = default_scenario();
        s.description = "a backslash \\, \"r#None\" and r#None stay in strings".into();
        s.paths[0].forward.queueing = models::network::QueueingConfig::None;
        let text = s.to_ron();
        assert!(!text.contains(": r#None"), "{text}");
        assert!(text.contains("loss: None,"), "{text}");
        assert!(text.contains("queueing: None,"), "{text}");
        assert!(text.contains(r#"\"r#None\" and r#None stay"#), "{text}");
        assert_eq!(Scenario::parse(&text, "dump").unwrap(), s);
    }

    #[test]
    fn typo_names_line_and_column() {
        let text = "Scenario(\n  name: \"x\",\n  duration_s: 10,\n  seeed: 3,\n)";
        let e = Scenario::parse(text, "t.ron").unwrap_err().to_string();
        assert!(e.starts_with("t.ron:4:"), "{e}");
        assert!(e.contains("seeed"), "{e}");
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let at = |text: &str| {
            let Err(ScenarioError::Parse { line, column, .. }) = Scenario::parse(text, "t.ron")
            else {
                panic!("{text:?} parses");
            };
            (line, column)
        };
        assert_eq!(at("Scenario(\n    seed: x,\n)"), (2, 11));
        assert_eq!(at("Scenario(\n    seed:\n   x\n)"), (3, 4));
        assert_eq!(
            at("Scenario(seed: // a seed\n /* it /* nests */ */ \"é\")"),
            (2, 23)
        );
        assert_eq!(skip_blank("a  ", 1), 3, "nothing follows");
        assert_eq!(skip_blank("é  x", 2), 4);
        assert_eq!(offset_of("é  x", 1, 2), Some(2));
        assert_eq!(line_column("é  x", 4), (1, 4));
        assert_eq!(offset_of("x", 9, 9), None);
    }

    /// The error `text` gives, as printed.
    fn parse_message(text: &str) -> String {
        Scenario::parse(text, "t.ron").unwrap_err().to_string()
    }

    /// A scenario whose first path's forward direction is `forward`.
    fn with_forward(forward: &str) -> String {
        format!(
            "Scenario(\n    name: \"x\",\n    duration_s: 10,\n    \
             paths: [(min_rtt_us: 300, forward: ({forward}))],\n)"
        )
    }

    #[test]
    fn an_optional_struct_in_two_pairs_of_parentheses_names_the_field_and_the_syntax() {
        let tail = "an optional struct is written `(field: value, …)`, \
                    `Some(field: value, …)` or `None`";
        assert_eq!(
            parse_message(&with_forward("congestion: Some((mean_on_s: 5))")),
            format!(
                "t.ron:4:58: paths[0].forward.congestion: expected a field name after \
                 `Some(`, found a second `(`: {tail}"
            )
        );
        assert_eq!(
            parse_message(&with_forward(
                "congestion: Some(\n CongestionConfig(mean_on_s: 5))"
            )),
            format!(
                "t.ron:5:2: paths[0].forward.congestion: expected a field name after \
                 `Some(`, found the struct name `CongestionConfig`: {tail}"
            )
        );
        // What the message offers is what RON reads.
        for written in [
            "(mean_on_s: 5)",
            "Some(mean_on_s: 5)",
            "CongestionConfig(mean_on_s: 5)",
            "None",
        ] {
            let s = Scenario::parse(&with_forward(&format!("congestion: {written}")), "t.ron");
            assert!(s.is_ok(), "{written}: {s:?}");
        }
    }

    #[test]
    fn a_wrong_field_inside_some_names_the_option_not_the_struct_around_it() {
        // RON names `DirectionConfig`, whose fields these are not.
        assert_eq!(
            parse_message(&with_forward(
                "congestion: Some(mean_on_s: 5, mean_of_s: 1)"
            )),
            "t.ron:4:72: paths[0].forward.congestion: Unexpected field named `mean_of_s`, \
             expected one of `mean_on_s`, `mean_off_s`, or `extra_mean_us` instead"
        );
        assert_eq!(
            parse_message(&with_forward(
                "congestion: Some(mean_on_s: 5, mean_on_s: 1)"
            )),
            "t.ron:4:72: paths[0].forward.congestion: Unexpected duplicate field named \
             `mean_on_s`"
        );
    }

    #[test]
    fn a_number_of_the_wrong_kind_names_the_field_and_what_it_takes() {
        let u64s = "expected an integer in 0..=18446744073709551615";
        // RON stops at the point and asks for a comma.
        assert_eq!(
            parse_message("Scenario(\n    name: \"x\",\n    seed: 7.0,\n)"),
            format!("t.ron:3:11: seed: {u64s}, found `7.0`")
        );
        for (seed, found) in [
            ("-7", "-7"),
            ("1e3", "1e3"),
            ("99999999999999999999", "99999999999999999999"),
            ("\"7\"", "\"7\""),
            ("NaN", "NaN"),
        ] {
            assert_eq!(
                parse_message(&format!("Scenario(seed: {seed})")),
                format!("t.ron:1:16: seed: {u64s}, found `{found}`")
            );
        }
        // In a list, and a byte: the range is the field's type's.
        assert_eq!(
            parse_message(
                "Scenario(hosts: [(name: \"h\", xen: (host: (dom0: (affinity: [0, 1.5]))))])"
            ),
            format!("t.ron:1:64: hosts[0].xen.host.dom0.affinity[1]: {u64s}, found `1.5`")
        );
        // Beyond its type, a field's own range, learnt by checking the file
        // with the type's bound in its place; the type's when the rest of
        // the file cannot be read (here `name` and `duration_s` are missing).
        assert_eq!(
            parse_message("Scenario(servers: [(name: \"s\", stratum: 256)])"),
            "t.ron:1:41: servers[0].stratum: expected an integer in 0..=255, found `256`"
        );
        assert_eq!(
            parse_message(
                "Scenario(name: \"x\", duration_s: 1, servers: [(name: \"s\", stratum: 256)])"
            ),
            "t.ron:1:67: servers[0].stratum: expected an integer in 1..=15 (stratum), found `256`"
        );
        // Text in a number field; a number in a flag.
        assert_eq!(
            parse_message("Scenario(duration_s: \"long\")"),
            "t.ron:1:22: duration_s: expected a number, found `\"long\"`"
        );
        assert_eq!(
            parse_message("Scenario(output: (plots: 1))"),
            "t.ron:1:26: output.plots: expected `true` or `false`, found `1`"
        );
        // A float field stops within a number that is not one.
        assert_eq!(
            parse_message("Scenario(duration_s: 1.5x)"),
            "t.ron:1:22: duration_s: expected a number, found `1.5x`"
        );
    }

    #[test]
    fn a_sweep_field_is_named_with_its_range() {
        let text = "Sweep(name: \"s\", base: \"b.ron\", seeds: 2.5, vary: [])";
        let e = ron_options()
            .from_str::<crate::sweep::Sweep>(text)
            .map_err(|e| parse_error("s.ron", text, "Sweep", e))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.ron:1:40: seeds: expected an integer in 0..=4294967295, found `2.5`"
        );
    }

    #[test]
    fn integer_ranges_are_learnt_from_the_reader() {
        let read: ReadAs = |text| ron_options().from_str::<Vec<i16>>(text).map(drop);
        assert_eq!(integer_range("[1, x]", 4, read), Some((-32768, 32767)));
        let read: ReadAs = |text| ron_options().from_str::<Scenario>(text).map(drop);
        assert_eq!(integer_range("Scenario(duration_s: x)", 21, read), None);
        assert_eq!(integer_range("Scenario(name: x)", 15, read), None);
    }

    #[test]
    fn every_cut_of_a_scenario_gets_a_placed_message() {
        // Comments, raw strings, characters and nesting the reader of
        // field paths must step over, cut anywhere.
        let text = "#![enable(implicit_some)]\n/* a /* nested */ comment */ Scenario(\n  \
                    name: r#\"a \"(\" name\"#, // [not a list\n  description: \"\\\"(\",\n  \
                    seed: 7, duration_s: 1.5e3,\n  hosts: [(name: \"h\", counters: \
                    [(kind: Tsc, nominal_hz: Some(1000))])],\n)\n";
        assert!(Scenario::parse(text, "t.ron").is_ok());
        for (cut, _) in text.trim_end().char_indices().skip(1) {
            let Err(ScenarioError::Parse { line, column, .. }) =
                Scenario::parse(&text[..cut], "t.ron")
            else {
                panic!("{cut}: {:?} parses", &text[..cut]);
            };
            assert!(offset_of(&text[..cut], line, column).is_some(), "{cut}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_placed_by_line_and_column() {
        let dir = std::env::temp_dir().join(format!("vtsim-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let message = |bytes: &[u8]| {
            let path = dir.join("bad.ron");
            std::fs::write(&path, bytes).unwrap();
            let file = path.display().to_string();
            let e = Scenario::load(&path).unwrap_err().to_string();
            e.replace(&file, "bad.ron")
        };
        assert_eq!(
            message(b"Scenario(\n  name: \"\xc3\xa9\xff\",\n)"),
            "bad.ron:2:11: cannot read: invalid UTF-8 (byte 0xFF); save the file as UTF-8 text"
        );
        // A byte-order mark is not a column.
        assert_eq!(
            message(b"\xef\xbb\xbfScenario(\xc3("),
            "bad.ron:1:10: cannot read: invalid UTF-8 (byte 0xC3); save the file as UTF-8 text"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = Scenario::load(&dir.join("bad.ron"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("bad.ron: cannot read: "), "{missing}");
    }

    #[test]
    fn impossible_values_are_all_reported() {
        let mut s = default_scenario();
        s.duration_s = -1.0;
        s.daemons[0].host = "nowhere".into();
        s.daemons[0].servers[0].path = 7;
        let errors = s.validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"duration_s"), "{fields:?}");
        assert!(fields.contains(&"daemons[0].host"), "{fields:?}");
        assert!(fields.contains(&"daemons[0].servers[0].path"), "{fields:?}");
        assert!(errors[0].message.contains("s"), "units in the message");
    }

    fn bundled(name: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name);
        Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fields(s: &Scenario) -> Vec<String> {
        s.validate().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_dependent_radclock_needs_a_dom0_radclock_to_follow() {
        let mut s = bundled("vet-migration.ron");
        assert!(fields(&s).is_empty(), "{:?}", s.validate());
        let (i, host) = s
            .clocks
            .iter()
            .enumerate()
            .find(|(_, c)| matches!(c.follows, Follows::Radclock { .. }))
            .map(|(i, c)| (i, c.host.clone()))
            .expect("the bundled scenario has a dependent RADclock");
        s.daemons.retain(|d| !(d.host == host && d.domain == 0));
        assert!(
            fields(&s).contains(&format!("clocks[{i}].follows")),
            "{:?}",
            s.validate()
        );
    }

    #[test]
    fn dependent_clocks_in_a_dilated_domain_are_refused() {
        let mut s = bundled("vet-migration.ron");
        let c = s.clocks[0].clone();
        s.dilation.push(DilationConfig {
            host: c.host,
            domain: c.domain,
            tdf: TdfConfig {
                factor: 10.0,
                // The guest's ntpd reads the TSC: dilated, as ntpd needs.
                dilate_rdtsc: true,
                ..TdfConfig::default()
            },
            dilated_reference: true,
        });
        assert_eq!(fields(&s), vec!["clocks[0].domain".to_string()]);
    }

    #[test]
    fn nothing_starts_in_a_migration_destination() {
        let mut s = bundled("vet-migration.ron");
        assert!(fields(&s).is_empty());
        s.clocks[0].host = "kultarr".into();
        assert_eq!(fields(&s), vec!["clocks[0].domain".to_string()]);
    }

    #[test]
    fn migrations_move_guests_one_at_a_time() {
        let base = bundled("migration-downtime.ron");
        assert!(crate::run::build_world(&base).is_ok());
        let ScenarioEvent::Migrate { from, .. } = &base.events[0] else {
            panic!("the bundled scenario starts with a migration");
        };
        let (from, first_at_s) = (from.clone(), 60.0);

        let mut into_dom0 = base.clone();
        if let ScenarioEvent::Migrate { to, .. } = &mut into_dom0.events[0] {
            to.domain = 0;
        }
        assert!(
            fields(&into_dom0).contains(&"events[0].to.domain".to_string()),
            "{:?}",
            into_dom0.validate()
        );

        // The same guest again while its first migration is under way.
        let mut twice = base.clone();
        let mut again = base.events[0].clone();
        if let ScenarioEvent::Migrate { at_s, from: f, .. } = &mut again {
            *at_s = first_at_s + 1.0;
            *f = from;
        }
        twice.events.push(again);
        let e = crate::run::build_world(&twice)
            .err()
            .expect("overlapping migrations of one guest are refused")
            .to_string();
        assert!(e.contains("overlaps events[0]"), "{e}");
    }

    #[test]
    fn daemon_names_fit_their_folders() {
        let mut s = default_scenario();
        s.daemons[0].name = "errors_data.csv".into();
        assert_eq!(fields(&s), vec!["daemons[0].name".to_string()]);
        // Case-insensitive file systems take these for the run's own files.
        for name in ["Errors_data.CSV", "stability.Csv", "x.JSON", "e.Png"] {
            s.daemons[0].name = name.into();
            assert_eq!(fields(&s), vec!["daemons[0].name".to_string()], "{name}");
        }
        s.daemons[0].name = "x".repeat(201);
        assert_eq!(fields(&s), vec!["daemons[0].name".to_string()]);
        // Names are limited in bytes: 70 characters of 4 bytes each do not
        // fit a 255-byte file name once staged.
        s.daemons[0].name = "😀".repeat(70);
        let e = s.validate();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "daemons[0].name");
        assert!(e[0].message.contains("280 bytes; at most 200"), "{e:?}");
        s.daemons[0].name = "x".repeat(200);
        assert!(fields(&s).is_empty());
        s.name = "😀".repeat(70);
        assert_eq!(fields(&s), vec!["name".to_string()]);
        s.name = "😀".repeat(50);
        s.daemons[0].name = "dom0.radclock".into();
        assert!(fields(&s).is_empty());
    }

    #[test]
    fn one_guest_per_slot_through_every_move() {
        // A second guest migrated into the slot the first one reached.
        let mut s = bundled("migration-downtime.ron");
        if let ScenarioEvent::Migrate { to, .. } = &mut s.events[1] {
            to.domain = 1;
        }
        assert_eq!(fields(&s), vec!["events[1].to".to_string()]);

        // The same leader failed over twice.
        let mut s = bundled("replication-failover.ron");
        let mut again = s.events[0].clone();
        if let ScenarioEvent::Failover { at_s, .. } = &mut again {
            *at_s += 100.0;
        }
        s.events.push(again);
        let f = fields(&s);
        assert!(f.contains(&"events[1].leader".to_string()), "{f:?}");
        assert!(f.contains(&"events[1].follower".to_string()), "{f:?}");

        // A daemon in a failover's follower slot before the failover.
        let mut s = bundled("replication-failover.ron");
        let ScenarioEvent::Failover { follower, .. } = &s.events[0] else {
            panic!("the bundled scenario fails over");
        };
        s.daemons[2].host = follower.host.clone();
        s.daemons[2].domain = follower.domain;
        assert_eq!(fields(&s), vec!["daemons[2].domain".to_string()]);

        // A guest that migrates into a failover's leader slot first.
        let mut s = bundled("replication-failover.ron");
        let ScenarioEvent::Failover { leader, at_s, .. } = s.events[0].clone() else {
            panic!("the bundled scenario fails over");
        };
        let host = &mut s.hosts[0].xen.as_mut().unwrap().host;
        host.guests.push(host.guests[0].clone());
        let from = GuestLoc {
            host: leader.host.clone(),
            domain: 2,
        };
        s.daemons[2].domain = 2;
        s.clocks[0].domain = 2;
        s.events.push(ScenarioEvent::Migrate {
            at_s: at_s / 2.0,
            from,
            to: leader.clone(),
            migration: MigrationConfig::default(),
            tsc_mode: TscMode::default(),
            path: None,
        });
        assert_eq!(fields(&s), vec!["events[0].leader".to_string()]);

        // One domain dilated twice.
        let mut s = bundled("time-dilation.ron");
        s.dilation[1].domain = s.dilation[0].domain;
        assert_eq!(fields(&s), vec!["dilation[1].domain".to_string()]);
    }

    #[test]
    fn dilation_refuses_what_it_cannot_model() {
        // ntpd on a TSC whose reads escape dilation.
        let mut s = bundled("time-dilation.ron");
        s.daemons[1].counter = CounterSource::Tsc;
        s.daemons[1].algorithm = AlgorithmConfig::Ntpd(Default::default());
        assert_eq!(fields(&s), vec!["daemons[1].counter".to_string()]);
        s.dilation[0].tdf.dilate_rdtsc = true;
        assert!(fields(&s).is_empty());
        // RADclock reads a leaking TSC as a user-level reader would.
        s.dilation[0].tdf.dilate_rdtsc = false;
        s.daemons[1].algorithm = AlgorithmConfig::Radclock(Default::default());
        assert!(fields(&s).is_empty());

        // A 1/TDF share below the credit scheduler's 1 % cap.
        let mut s = bundled("time-dilation.ron");
        s.dilation[1].tdf.factor = 200.0;
        assert_eq!(
            fields(&s),
            vec!["dilation[1].tdf.dilate_cpu_share".to_string()]
        );
        s.dilation[1].tdf.factor = 100.0;
        assert!(fields(&s).is_empty());
    }

    #[test]
    fn huge_and_tiny_values_are_reported_compactly_once() {
        let mut s = default_scenario();
        s.duration_s = 1e300;
        s.probes.interval_s = 1e-300;
        let errors = s.validate();
        assert_eq!(errors.len(), 2, "{errors:?}");
        for e in &errors {
            assert!(e.message.len() < 120, "{e:?}");
        }
        assert!(
            errors[0].message.starts_with("1e300 is outside"),
            "{errors:?}"
        );
    }

    /// Whether `s` validates, or the message of its error at `field` (and
    /// no error elsewhere).
    fn verdict(s: &Scenario, field: &str) -> Option<String> {
        let errors = s.validate();
        if errors.is_empty() {
            return None;
        }
        assert!(
            errors.iter().all(|e| e.field == field),
            "only {field} is wrong: {errors:?}"
        );
        Some(errors[0].message.clone())
    }

    #[test]
    fn ranges_bounded_by_the_run_include_its_end() {
        // The documented ranges are inclusive: a value at the run's end is
        // valid, one just past it is refused with the range in the message.
        let mut s = default_scenario();
        s.probes.metrics_from_s = s.duration_s;
        assert_eq!(verdict(&s, "probes.metrics_from_s"), None);
        s.probes.metrics_from_s = s.duration_s + 0.5;
        let m = verdict(&s, "probes.metrics_from_s").expect("past the end");
        assert!(m.contains("valid range 0..=3600 s (within the run)"), "{m}");

        let mut s = bundled("migration-downtime.ron");
        let ScenarioEvent::Migrate { at_s, .. } = &mut s.events[1] else {
            panic!("the bundled scenario migrates");
        };
        *at_s = 900.0;
        assert_eq!(verdict(&s, "events[1].at_s"), None, "at the run's end");
        let ScenarioEvent::Migrate { at_s, .. } = &mut s.events[1] else {
            unreachable!()
        };
        *at_s = 900.5;
        let m = verdict(&s, "events[1].at_s").expect("after the run");
        assert!(m.contains("valid range 0..=900 s"), "{m}");
    }

    #[test]
    fn store_latency_is_refused_beyond_a_second() {
        let mut s = bundled("vet-migration.ron");
        let set = |s: &mut Scenario, ms: f64| {
            s.clocks[0].follows = Follows::Radclock {
                store_latency_ms: ms,
            }
        };
        for ok in [0.0, 1000.0] {
            set(&mut s, ok);
            assert_eq!(verdict(&s, "clocks[0].follows.store_latency_ms"), None);
        }
        for bad in [-0.5, 1000.5] {
            set(&mut s, bad);
            let m = verdict(&s, "clocks[0].follows.store_latency_ms").expect("refused");
            assert!(m.contains("valid range 0..=1000 ms"), "{bad}: {m}");
        }
    }

    #[test]
    fn indexes_one_past_the_end_are_refused() {
        // An index equal to the length would panic when the world is
        // built; validation must stop it and name the field.
        let mut s = default_scenario();
        s.daemons[0].servers[0].path = s.paths.len();
        let m = verdict(&s, "daemons[0].servers[0].path").expect("no path 1");
        assert!(m.contains("1 is not a path index (0..1)"), "{m}");

        let mut s = default_scenario();
        s.daemons[0].domain = 1;
        let m = verdict(&s, "daemons[0].domain").expect("bare metal has domain 0 only");
        assert!(m.contains("(valid: 0..=0)"), "{m}");

        let mut s = bundled("migration-downtime.ron");
        let n = s.paths.len();
        let ScenarioEvent::Migrate { path, .. } = &mut s.events[0] else {
            panic!("the bundled scenario migrates");
        };
        *path = Some(n - 1);
        assert_eq!(verdict(&s, "events[0].path"), None);
        let ScenarioEvent::Migrate { path, .. } = &mut s.events[0] else {
            unreachable!()
        };
        *path = Some(n);
        let m = verdict(&s, "events[0].path").expect("no such path");
        assert!(
            m.contains(&format!("{n} is not a path index (0..{n})")),
            "{m}"
        );
    }
}
