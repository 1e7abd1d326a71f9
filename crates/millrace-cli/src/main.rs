//! The `pipeline` command: validate, explain and run Millrace pipeline specs.
//!
//! Exit codes: 0 success; 1 runtime failure; 2 invalid spec or arguments; 130 interrupted.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(name = "pipeline", version, about = "Millrace: streaming text pipelines for LLM corpora")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Run a pipeline: all epochs still to do, committing each.
    Run {
        spec: PathBuf,
        /// Stop after N output rows (a preview; writes no checkpoint).
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Print the run summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// No progress bar even on a terminal.
        #[arg(long)]
        quiet: bool,
    },
}

fn parse_sets(set: &[String]) -> Result<Vec<(String, String)>, String> {
    set.iter()
        .map(|s| s.split_once('=').map(|(a, b)| (a.trim().to_string(), b.to_string())).ok_or_else(|| format!("--set `{s}`: expected PATH=VALUE")))
        .collect()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async_main(cli))
}

fn load(spec: &PathBuf, set: &[String]) -> Result<millrace_spec::LoadedSpec, ExitCode> {
    let sets = parse_sets(set).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    millrace_spec::load(spec, &sets).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

async fn async_main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate { spec, set } => match load(&spec, &set) {
            Ok(s) => {
                println!("{}: ok ({} stages, {} sinks)", spec.display(), s.spec.stages.len(), s.spec.sinks.len());
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
        Command::Run { spec, limit, set, json, quiet } => {
            let s = match load(&spec, &set) {
                Ok(s) => s,
                Err(c) => return c,
            };
            let cancel = Arc::new(AtomicBool::new(false));
            let c2 = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("\ninterrupt: stopping; the current epoch will not be committed (Ctrl-C again to abort now)");
                    c2.store(true, Ordering::SeqCst);
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                }
            });
            let opts = millrace_engine::RunOptions {
                limit,
                progress: !quiet && !json && std::io::stderr().is_terminal(),
                cancel: Some(cancel.clone()),
            };
            match millrace_engine::run(&s, opts).await {
                Ok(summary) => {
                    if json {
                        match serde_json::to_string_pretty(&summary) {
                            Ok(j) => println!("{j}"),
                            Err(e) => eprintln!("error: {e}"),
                        }
                    } else {
                        eprint!("{}", summary.table());
                    }
                    if cancel.load(Ordering::SeqCst) { ExitCode::from(130) } else { ExitCode::SUCCESS }
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn fail(e: millrace_engine::EngineError) -> ExitCode {
    eprintln!("error: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        eprintln!("  caused by: {s}");
        src = s.source();
    }
    match e {
        millrace_engine::EngineError::Spec(_) => ExitCode::from(2),
        millrace_engine::EngineError::Interrupted { .. } => ExitCode::from(130),
        _ => ExitCode::from(1),
    }
}
