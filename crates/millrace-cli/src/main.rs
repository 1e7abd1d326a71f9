//! The `pipeline` command: validate, explain, run and check Millrace pipeline specs, and render run
//! reports.
//!
//! Exit codes, the same in every subcommand ([`Exit`]): 0 success; 1 runtime error (storage, I/O,
//! a report or JUnit file that could not be written, checks that could not run); 2 invalid spec or
//! arguments; 4 the data-quality gate failed (an error-severity check failed or errored, or any check
//! warned with `--fail-on-warn`; for `run` the output is committed); 5 conflict (another run holds
//! the state's lease or took it over mid-run, or an output location belongs to another pipeline
//! state); 130 interrupted.

use clap::{Parser, Subcommand};
use millrace_engine::checks::{self, CheckOptions, CheckRun, Verdict};
use millrace_engine::governance::{self, Finished, RunGovernance, RunOutcome};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB); after that the
/// 8 MiB Arrow buffers of a run come from per-thread arenas that rarely shrink, and peak RSS grew
/// with the input (362 MB for 1 GB against 162 MB for 100 MB) although the live heap stayed under
/// 100 MB. A fixed threshold keeps large buffers in their own mappings, unmapped when freed, at
/// the cost of page faults (about 20% more CPU on a pure read-project-write run). Measured
/// alternatives were worse: mimalloc and jemalloc both kept more resident.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_allocator() {
    // SAFETY: called first thing in `main`, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_allocator() {}

/// The one exit-code model of every subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Success = 0,
    Runtime = 1,
    Invalid = 2,
    GateFailed = 4,
    Conflict = 5,
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

#[derive(Parser)]
#[command(name = "pipeline", version, about = "Millrace: streaming text pipelines for LLM corpora")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by `run` and `check` for the data-quality gate.
#[derive(clap::Args, Clone, Default)]
struct GateArgs {
    /// Sink whose committed output is checked (its `name`, or its URL); default the first sink.
    #[arg(long, value_name = "SINK")]
    target: Option<String>,
    /// Write the check results as JUnit XML to this file.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write failing rows (at most --failure-rows per check) as Parquet, one file per check, here.
    #[arg(long, value_name = "URL")]
    store_failures: Option<String>,
    /// Failing rows kept per check by --store-failures.
    #[arg(long, value_name = "N", default_value_t = checks::DEFAULT_FAILURE_ROWS)]
    failure_rows: usize,
    /// Treat warnings as failures for the exit code.
    #[arg(long)]
    fail_on_warn: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check a spec without touching any data (exit 2 when invalid).
    Validate {
        spec: PathBuf,
        /// Override a spec value: --set source.files=data/x.jsonl (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Print the logical and physical DataFusion plans of a spec.
    Explain {
        spec: PathBuf,
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Run a pipeline: all epochs still to do, committing each; then the spec's checks on what was
    /// committed, run.json / report.html, and lineage events.
    Run {
        spec: PathBuf,
        /// Stop after N output rows (a preview; writes no checkpoint).
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Print the run summary (with check results and report location) as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// No progress bar even on a terminal.
        #[arg(long)]
        quiet: bool,
        /// Do not run the spec's checks after the run.
        #[arg(long)]
        no_checks: bool,
        #[command(flatten)]
        gate: GateArgs,
    },
    /// Evaluate the spec's checks on a sink's committed output, without running the pipeline.
    Check {
        spec: PathBuf,
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Check only the first N committed rows (row_count still counts every committed row).
        #[arg(long, value_name = "N")]
        sample: Option<usize>,
        /// Print the results as JSON on stdout instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gate: GateArgs,
    },
    /// Render a run.json (local path or URL) as a self-contained HTML report.
    Report {
        run_json: String,
        /// Output file; default `report.html` beside a local run.json.
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: Option<PathBuf>,
    },
}

fn parse_sets(set: &[String]) -> Result<Vec<(String, String)>, String> {
    set.iter()
        .map(|s| s.split_once('=').map(|(a, b)| (a.trim().to_string(), b.to_string())).ok_or_else(|| format!("--set `{s}`: expected PATH=VALUE")))
        .collect()
}

fn main() -> ExitCode {
    bound_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::from(Exit::Runtime);
        }
    };
    rt.block_on(async_main(cli))
}

fn load(spec: &Path, set: &[String]) -> Result<millrace_spec::LoadedSpec, ExitCode> {
    let sets = parse_sets(set).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(Exit::Invalid)
    })?;
    millrace_spec::load(spec, &sets).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(Exit::Invalid)
    })
}

async fn async_main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate { spec, set } => match load(&spec, &set) {
            Ok(s) => {
                println!(
                    "{}: ok ({} stages, {} sinks, {} checks)",
                    spec.display(),
                    s.spec.stages.len(),
                    s.spec.sinks.len(),
                    s.spec.checks.len()
                );
                ExitCode::SUCCESS
            }
            Err(c) => c,
        },
        Command::Explain { spec, set } => {
            let s = match load(&spec, &set) {
                Ok(s) => s,
                Err(c) => return c,
            };
            match millrace_engine::explain(&s).await {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Run { spec, limit, set, json, quiet, no_checks, gate } => run(&spec, limit, &set, json, quiet, no_checks, gate).await,
        Command::Check { spec, set, sample, json, gate } => check(&spec, &set, sample, json, gate).await,
        Command::Report { run_json, output } => report(&run_json, output).await,
    }
}

fn check_options(gate: &GateArgs, sample: Option<usize>) -> CheckOptions {
    CheckOptions { target: gate.target.clone(), sample, store_failures: gate.store_failures.clone(), failure_rows: gate.failure_rows }
}

async fn run(spec_path: &Path, limit: Option<usize>, set: &[String], json: bool, quiet: bool, no_checks: bool, gate: GateArgs) -> ExitCode {
    let s = match load(spec_path, set) {
        Ok(s) => s,
        Err(c) => return c,
    };
    // Report location and lineage transport are checked before any data is read, so a spec that
    // cannot be audited does not run.
    let gov = match RunGovernance::new(&s, uuid::Uuid::new_v4()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Invalid);
        }
    };
    if let Err(e) = gov.start().await {
        eprintln!("warning: lineage START not delivered: {e}");
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let c2 = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupt: stopping; the current epoch will not be committed (Ctrl-C again to abort now)");
            c2.store(true, Ordering::SeqCst);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(Exit::Interrupted as i32);
            }
        }
    });
    let opts = millrace_engine::RunOptions {
        limit,
        progress: !quiet && !json && std::io::stderr().is_terminal(),
        cancel: Some(cancel.clone()),
        run_id: Some(gov.run_id().to_string()),
        ..Default::default()
    };
    let check_opts = check_options(&gate, None);
    let check_arg = (!no_checks).then_some(&check_opts);
    match millrace_engine::run(&s, opts).await {
        Ok(summary) => {
            let interrupted = cancel.load(Ordering::SeqCst);
            let outcome = if interrupted { RunOutcome::Interrupted(&summary) } else { RunOutcome::Completed(&summary) };
            let fin = gov.finish(outcome, check_arg).await;
            if json {
                let mut v = serde_json::to_value(&summary).unwrap_or_default();
                if let serde_json::Value::Object(m) = &mut v {
                    m.insert("status".into(), serde_json::to_value(fin.report.status).unwrap_or_default());
                    m.insert("report".into(), fin.run_json.clone().into());
                    m.insert("report_html".into(), fin.html.clone().into());
                    m.insert("checks".into(), serde_json::to_value(fin.checks.as_ref().map(|c| &c.results)).unwrap_or_default());
                    if let Some(c) = &fin.checks {
                        m.insert("failure_files".into(), c.failure_files.clone().into());
                    }
                }
                match serde_json::to_string_pretty(&v) {
                    Ok(j) => println!("{j}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            } else {
                eprint!("{}", summary.table());
                if let Some(c) = &fin.checks {
                    eprint!("\nChecks on sink `{}` ({} committed rows):\n{}", c.sink, c.committed_rows, checks::results_table(&c.results));
                }
            }
            if interrupted {
                report_finish(&fin, &gate, &s);
                return ExitCode::from(Exit::Interrupted);
            }
            let ok = report_finish(&fin, &gate, &s);
            if fin.check_error.is_some() || fin.report_error.is_some() || !ok {
                return ExitCode::from(Exit::Runtime);
            }
            if fin.checks_failed(gate.fail_on_warn) {
                eprintln!("error: data-quality checks failed; the output is committed but did not pass the gate");
                return ExitCode::from(Exit::GateFailed);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let fin = gov.finish(RunOutcome::Failed(millrace_connectors::redact::text(&e.to_string())), None).await;
            report_finish(&fin, &gate, &s);
            fail(e)
        }
    }
}

/// Prints where the report went and any governance problem; writes JUnit. False when something that
/// was asked for could not be written.
fn report_finish(fin: &Finished, gate: &GateArgs, spec: &millrace_spec::LoadedSpec) -> bool {
    let mut ok = true;
    for w in &fin.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(e) = &fin.check_error {
        eprintln!("error: checks could not run: {e}");
    }
    match (&fin.run_json, &fin.report_error) {
        (Some(j), _) => {
            eprintln!("report: {j}");
            if let Some(h) = &fin.html {
                eprintln!("report: {h}");
            }
        }
        (None, Some(e)) => eprintln!("error: run report not written: {e}"),
        (None, None) => {}
    }
    if let (Some(path), Some(c)) = (&gate.junit, &fin.checks) {
        ok &= write_junit(path, c, &spec.spec.name.value);
    }
    if let Some(c) = &fin.checks {
        for f in &c.failure_files {
            eprintln!("failing rows: {f}");
        }
    }
    ok
}

fn write_junit(path: &Path, c: &CheckRun, pipeline: &str) -> bool {
    let xml = millrace_report::render_junit(&c.results, &format!("{pipeline}.{}", c.sink));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(parent) {
            eprintln!("error: cannot create {}: {e}", parent.display());
            return false;
        }
    }
    match std::fs::write(path, xml) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            false
        }
    }
}

async fn check(spec_path: &Path, set: &[String], sample: Option<usize>, json: bool, gate: GateArgs) -> ExitCode {
    let s = match load(spec_path, set) {
        Ok(s) => s,
        Err(c) => return c,
    };
    if s.spec.checks.is_empty() {
        eprintln!("{}: no checks defined (add a `checks:` list)", spec_path.display());
    }
    let run = match checks::run_checks(&s, &check_options(&gate, sample)).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Runtime);
        }
    };
    let verdict = checks::verdict(&run.results);
    if json {
        let v = serde_json::json!({
            "pipeline": s.spec.name.value,
            "sink": run.sink,
            "url": run.url,
            "committed_rows": run.committed_rows,
            "sampled_rows": run.sampled_rows,
            "verdict": verdict,
            "checks": run.results,
            "failure_files": run.failure_files,
        });
        match serde_json::to_string_pretty(&v) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(Exit::Runtime);
            }
        }
    } else {
        let rows = match run.sampled_rows {
            Some(n) => format!("a sample of {n} of {} committed rows", run.committed_rows),
            None => format!("{} committed rows", run.committed_rows),
        };
        println!("Checks on sink `{}` ({rows}, {}):", run.sink, run.url);
        print!("{}", checks::results_table(&run.results));
    }
    for f in &run.failure_files {
        eprintln!("failing rows: {f}");
    }
    if let Some(path) = &gate.junit {
        if !write_junit(path, &run, &s.spec.name.value) {
            return ExitCode::from(Exit::Runtime);
        }
    }
    match verdict {
        Verdict::Fail => ExitCode::from(Exit::GateFailed),
        Verdict::Warn if gate.fail_on_warn => ExitCode::from(Exit::GateFailed),
        _ => ExitCode::from(Exit::Success),
    }
}

async fn report(run_json: &str, output: Option<PathBuf>) -> ExitCode {
    let report = match governance::read_report(run_json).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Runtime);
        }
    };
    let out = output.unwrap_or_else(|| {
        let local = Path::new(run_json);
        if run_json.contains("://") { PathBuf::from("report.html") } else { local.with_file_name("report.html") }
    });
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(parent) {
            eprintln!("error: cannot create {}: {e}", parent.display());
            return ExitCode::from(Exit::Runtime);
        }
    }
    match std::fs::write(&out, millrace_report::render_html(&report)) {
        Ok(()) => {
            eprintln!("report: {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            ExitCode::from(Exit::Runtime)
        }
    }
}

fn fail(e: millrace_engine::EngineError) -> ExitCode {
    use millrace_connectors::ConnectorError;
    use millrace_engine::EngineError;
    eprintln!("error: {}", millrace_connectors::redact::text(&e.to_string()));
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        eprintln!("  caused by: {}", millrace_connectors::redact::text(&s.to_string()));
        src = s.source();
    }
    match e {
        EngineError::Spec(_) => ExitCode::from(Exit::Invalid),
        EngineError::Interrupted { .. } => ExitCode::from(Exit::Interrupted),
        EngineError::Connector(ConnectorError::Conflict { .. } | ConnectorError::Fenced { .. }) => ExitCode::from(Exit::Conflict),
        _ => ExitCode::from(Exit::Runtime),
    }
}
