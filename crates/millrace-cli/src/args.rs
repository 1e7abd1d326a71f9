//! Command-line arguments of `pipeline`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pipeline", version, about = "Millrace: streaming text pipelines for LLM corpora")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output: -v shows Millrace's info logs (per-epoch progress), -vv its debug logs and
    /// the dependencies' warnings. RUST_LOG, when set, decides instead.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log lines as text (default) or as one JSON object per line (for workers and CI).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options shared by `run` and `check` for the data-quality gate.
#[derive(clap::Args, Clone, Default)]
pub struct GateArgs {
    /// Sink whose committed output is checked (its `name`, or its URL); default the first sink.
    #[arg(long, value_name = "SINK")]
    pub target: Option<String>,
    /// Write the check results as JUnit XML to this file.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write failing rows (at most --failure-rows per check) as Parquet, one file per check, here.
    #[arg(long, value_name = "URL")]
    pub store_failures: Option<String>,
    /// Failing rows kept per check by --store-failures.
    #[arg(long, value_name = "N", default_value_t = millrace::DEFAULT_FAILURE_ROWS)]
    pub failure_rows: usize,
    /// Treat warnings as failures for the exit code.
    #[arg(long)]
    pub fail_on_warn: bool,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// Print only errors and one final status line (no progress bar, summary or check table).
        #[arg(long, short)]
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
    /// Write a commented starter spec that validates (one of the bundled example pipelines).
    Init {
        /// Where to write it.
        #[arg(default_value = "pipeline.yaml")]
        path: PathBuf,
        #[arg(long, value_enum, default_value_t = Template::Quickstart)]
        template: Template,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the JSON Schema of a spec, for editors (completion and checks while typing) and other tools.
    Schema,
    /// Maintain a `delta:` sink's table: compact small files, delete files no longer listed.
    Delta {
        #[command(subcommand)]
        action: DeltaAction,
    },
    /// Render a run.json (local path or URL) as a self-contained HTML report.
    Report {
        run_json: String,
        /// Output file; default `report.html` beside a local run.json.
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: Option<PathBuf>,
    },
}


#[derive(Subcommand)]
pub enum DeltaAction {
    /// Rewrite the table's small files (streaming appends leave many) into files of the sink's
    /// `target_file_size`, in one commit that changes no rows.
    Optimize {
        spec: std::path::PathBuf,
        /// The `delta:` sink (its `name`, or its URL); default the first sink.
        #[arg(long, value_name = "SINK")]
        target: Option<String>,
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Print the outcome as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Delete data files the log no longer lists, once older than the retention.
    Vacuum {
        spec: std::path::PathBuf,
        /// The `delta:` sink (its `name`, or its URL); default the first sink.
        #[arg(long, value_name = "SINK")]
        target: Option<String>,
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Keep files removed less than this many hours ago (default: the table's
        /// `delta.deletedFileRetentionDuration`, 7 days).
        #[arg(long, value_name = "HOURS")]
        retention_hours: Option<u64>,
        /// Allow a retention shorter than the table's (readers of older versions lose their files).
        #[arg(long)]
        force: bool,
        /// Also delete data files that were never logged (left by crashed writers).
        #[arg(long)]
        full: bool,
        /// List what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the outcome as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// The starter specs of `pipeline init`: the bundled example pipelines, each validated by the tests.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Template {
    /// JSONL -> SQL projection -> Parquet partitioned by language.
    Quickstart,
    /// Cleaning, language ID, quality filters, PII, dedupe, tokenisation, three sinks.
    Fineweb,
    /// A Kafka stream worker writing Parquet, exactly once per epoch.
    Stream,
    /// A Delta Lake table with checks over its snapshot.
    Delta,
}

/// The bundled examples' first line points editors at the schema by a path inside the repository.
const REPO_SCHEMA_HEADER: &str = "# yaml-language-server: $schema=../docs/spec.schema.json\n";

impl Template {
    /// The starter spec as `init` writes it: without the repository's schema header, whose
    /// relative path would not hold beside the written file.
    pub fn text(self) -> &'static str {
        let text = self.example();
        text.strip_prefix(REPO_SCHEMA_HEADER).unwrap_or(text)
    }

    fn example(self) -> &'static str {
        match self {
            Template::Quickstart => include_str!("../../../pipelines/quickstart.yaml"),
            Template::Fineweb => include_str!("../../../pipelines/fineweb.yaml"),
            Template::Stream => include_str!("../../../pipelines/stream-kafka.yaml"),
            Template::Delta => include_str!("../../../pipelines/delta.yaml"),
        }
    }
}
