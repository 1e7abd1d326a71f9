//! The `pipeline` command: validate, explain, run and check Millrace pipeline specs, and render run
//! reports.
//!
//! This binary parses arguments, prints, and maps outcomes to the exit codes of [`millrace::Exit`];
//! the work is done by the `millrace` library.

use clap::Parser;
use millrace::{CheckOptions, Exit, Pipeline};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod args;
mod output;

use args::{Cli, Command, DeltaAction, GateArgs, LogFormat};
use output::{CheckJson, RunJson, print_error, print_json, report_finish, status_line, write_file, write_junit};

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

fn exit(e: Exit) -> ExitCode {
    ExitCode::from(e.code() as u8)
}

fn parse_sets(set: &[String]) -> Result<Vec<(String, String)>, String> {
    set.iter()
        .map(|s| s.split_once('=').map(|(a, b)| (a.trim().to_string(), b.to_string())).ok_or_else(|| format!("--set `{s}`: expected PATH=VALUE")))
        .collect()
}

fn main() -> ExitCode {
    bound_allocator();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return exit(Exit::Runtime);
        }
    };
    rt.block_on(async_main(cli))
}

/// The crates whose logs are Millrace's own; every other target is a dependency.
const OWN_CRATES: &[&str] = &[
    "millrace", "millrace_cli", "millrace_engine", "millrace_connectors", "millrace_governance", "millrace_spec",
    "millrace_text", "millrace_quality", "millrace_dedupe", "millrace_tokenise", "millrace_report",
];

/// A dependency's internal log (html5ever's "foster parenting not implemented", delta-rs' commit
/// chatter) says nothing to a user: dependencies log errors only, Millrace warnings (info with -v).
fn init_logging(verbose: u8, format: LogFormat) {
    let filter = match tracing_subscriber::EnvFilter::try_from_default_env() {
        Ok(f) => f,
        Err(_) => {
            let (deps, own) = match verbose {
                0 => ("error", "warn"),
                1 => ("error", "info"),
                _ => ("warn", "debug"),
            };
            let directives: Vec<String> = std::iter::once(deps.to_string()).chain(OWN_CRATES.iter().map(|c| format!("{c}={own}"))).collect();
            tracing_subscriber::EnvFilter::new(directives.join(","))
        }
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn load(spec: &Path, set: &[String]) -> Result<Pipeline, ExitCode> {
    let sets = parse_sets(set).map_err(|e| {
        eprintln!("error: {e}");
        exit(Exit::Invalid)
    })?;
    Pipeline::load(spec, &sets).map_err(|e| {
        eprintln!("error: {e}");
        exit(e.exit())
    })
}

async fn async_main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate { spec, set } => match load(&spec, &set) {
            Ok(p) => {
                let s = &p.spec().spec;
                println!("{}: ok ({} stages, {} sinks, {} checks)", spec.display(), s.stages.len(), s.sinks.len(), s.checks.len());
                ExitCode::SUCCESS
            }
            Err(c) => c,
        },
        Command::Explain { spec, set } => {
            let p = match load(&spec, &set) {
                Ok(p) => p,
                Err(c) => return c,
            };
            match p.explain().await {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    print_error(&e);
                    exit(e.exit())
                }
            }
        }
        Command::Run { spec, limit, set, json, quiet, no_checks, gate } => run(&spec, limit, &set, json, quiet, no_checks, gate).await,
        Command::Check { spec, set, sample, json, gate } => check(&spec, &set, sample, json, gate).await,
        Command::Report { run_json, output } => report(&run_json, output).await,
        Command::Delta { action } => delta(action).await,
        Command::Init { path, template, force } => init(&path, template, force),
        Command::Schema => match serde_json::to_string_pretty(&millrace::spec_schema()) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot print the schema: {e}");
                exit(Exit::Runtime)
            }
        },
    }
}

/// The header that points editors (yaml-language-server) at a schema written by `pipeline schema`.
const SCHEMA_HEADER: &str = "# yaml-language-server: $schema=spec.schema.json";

/// `pipeline init`: never overwrites a file unless asked.
fn init(path: &Path, template: args::Template, force: bool) -> ExitCode {
    if path.exists() && !force {
        eprintln!("error: {} exists; pass --force to replace it", path.display());
        return exit(Exit::Invalid);
    }
    if !write_file(path, template.text().as_bytes()) {
        return exit(Exit::Runtime);
    }
    eprintln!("wrote {} ({template:?} template); next: pipeline validate {0}, then pipeline run {0}", path.display());
    eprintln!("editor completion: pipeline schema > spec.schema.json, and make the spec's first line: {}", SCHEMA_HEADER.trim_end());
    ExitCode::SUCCESS
}

async fn delta(action: DeltaAction) -> ExitCode {
    let (spec, set) = match &action {
        DeltaAction::Optimize { spec, set, .. } | DeltaAction::Vacuum { spec, set, .. } => (spec, set),
    };
    let p = match load(spec, set) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let shown = match action {
        DeltaAction::Optimize { target, json, .. } => p.delta_optimize(target.as_deref()).await.map(|o| {
            let text = match o.version {
                Some(v) => format!("optimized: {} files ({} bytes) rewritten as {} ({} bytes) in version {v}", o.files_removed, o.bytes_removed, o.files_added, o.bytes_added),
                None => "optimized: no partition has two files below target_file_size; nothing committed".to_string(),
            };
            (json.then(|| serde_json::to_string(&o).unwrap_or_default()), text)
        }),
        DeltaAction::Vacuum { target, retention_hours, force, full, dry_run, json, .. } => {
            let retention = retention_hours.map(|h| std::time::Duration::from_secs(h * 3600));
            p.delta_vacuum(target.as_deref(), retention, dry_run, full, force).await.map(|v| {
                let verb = if v.dry_run { "would delete" } else { "deleted" };
                let mut text = format!("vacuum: {verb} {} files", v.files.len());
                for f in &v.files {
                    text.push_str(&format!("\n  {f}"));
                }
                (json.then(|| serde_json::to_string(&v).unwrap_or_default()), text)
            })
        }
    };
    match shown {
        Ok((Some(json), _)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok((None, text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_error(&e);
            exit(e.exit())
        }
    }
}

fn check_options(gate: &GateArgs, sample: Option<usize>) -> CheckOptions {
    CheckOptions { target: gate.target.clone(), sample, store_failures: gate.store_failures.clone(), failure_rows: gate.failure_rows }
}

/// Ctrl-C once stops planning and leaves the open epoch uncommitted; twice exits at once.
fn cancel_on_interrupt() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let c2 = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupt: stopping; the current epoch will not be committed (Ctrl-C again to abort now)");
            c2.store(true, Ordering::SeqCst);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(Exit::Interrupted.code());
            }
        }
    });
    cancel
}

/// SIGTERM (a stream worker being stopped): commit the epoch in progress, plan no other, exit 0.
fn stop_on_terminate() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    #[cfg(unix)]
    tokio::spawn(async move {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            if term.recv().await.is_some() {
                eprintln!("terminate: finishing the epoch in progress, then stopping");
                s2.store(true, Ordering::SeqCst);
            }
        }
    });
    stop
}

async fn run(spec_path: &Path, limit: Option<usize>, set: &[String], json: bool, quiet: bool, no_checks: bool, gate: GateArgs) -> ExitCode {
    let p = match load(spec_path, set) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let opts = millrace::RunOptions {
        run: millrace::engine::RunOptions {
            limit,
            progress: !quiet && !json && std::io::stderr().is_terminal(),
            cancel: Some(cancel_on_interrupt()),
            stop: Some(stop_on_terminate()),
            ..Default::default()
        },
        checks: (!no_checks).then(|| check_options(&gate, None)),
    };
    let outcome = match p.run(opts).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(e.exit());
        }
    };
    let pipeline = &p.spec().spec.name.value;
    let fin = &outcome.governance;
    let Some(summary) = &outcome.summary else {
        report_finish(fin, gate.junit.as_deref(), pipeline, quiet);
        if let Some(e) = &outcome.error {
            print_error(e);
        }
        return exit(outcome.exit(gate.fail_on_warn));
    };
    if json {
        print_json(&RunJson::new(summary, fin));
    } else if !quiet {
        eprint!("{}", summary.table());
        if let Some(c) = &fin.checks {
            eprint!("\nChecks on sink `{}` ({} committed rows):\n{}", c.sink, c.committed_rows, millrace::results_table(&c.results));
        }
    }
    let written = report_finish(fin, gate.junit.as_deref(), pipeline, quiet);
    let code = outcome.exit(gate.fail_on_warn);
    let code = if !written && matches!(code, Exit::Success | Exit::GateFailed) { Exit::Runtime } else { code };
    if code == Exit::GateFailed {
        eprintln!("error: data-quality checks failed; the output is committed but did not pass the gate");
    }
    if quiet && !json {
        eprintln!("{}", status_line(summary, fin, code));
    }
    exit(code)
}

async fn check(spec_path: &Path, set: &[String], sample: Option<usize>, json: bool, gate: GateArgs) -> ExitCode {
    let p = match load(spec_path, set) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if p.spec().spec.checks.is_empty() {
        eprintln!("{}: no checks defined (add a `checks:` list)", spec_path.display());
    }
    let run = match p.check(&check_options(&gate, sample)).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(Exit::Runtime);
        }
    };
    let verdict = millrace::verdict(&run.results);
    let pipeline = &p.spec().spec.name.value;
    if json {
        if !print_json(&CheckJson::new(pipeline, &run, verdict)) {
            return exit(Exit::Runtime);
        }
    } else {
        let rows = match run.sampled_rows {
            Some(n) => format!("a sample of {n} of {} committed rows", run.committed_rows),
            None => format!("{} committed rows", run.committed_rows),
        };
        println!("Checks on sink `{}` ({rows}, {}):", run.sink, run.url);
        print!("{}", millrace::results_table(&run.results));
    }
    for f in &run.failure_files {
        eprintln!("failing rows: {f}");
    }
    if let Some(path) = &gate.junit {
        if !write_junit(path, &run, pipeline) {
            return exit(Exit::Runtime);
        }
    }
    match verdict {
        millrace::Verdict::Fail => exit(Exit::GateFailed),
        millrace::Verdict::Warn if gate.fail_on_warn => exit(Exit::GateFailed),
        _ => exit(Exit::Success),
    }
}

async fn report(run_json: &str, output: Option<PathBuf>) -> ExitCode {
    let report = match millrace::governance::read_report(run_json).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(Exit::Runtime);
        }
    };
    let out = output.unwrap_or_else(|| {
        let local = Path::new(run_json);
        if run_json.contains("://") { PathBuf::from("report.html") } else { local.with_file_name("report.html") }
    });
    if write_file(&out, millrace::render_html(&report).as_bytes()) {
        eprintln!("report: {}", out.display());
        ExitCode::SUCCESS
    } else {
        exit(Exit::Runtime)
    }
}
