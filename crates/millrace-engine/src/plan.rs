//! From spec to DataFusion: the session with Millrace's functions registered, and the source as
//! the run resolves it once (files, read options, schema).

use crate::Result;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{SessionConfig, SessionContext};
use millrace_connectors::source::{self, ReadOptions};
use millrace_connectors::store::StoreRegistry;
use millrace_connectors::listing;
use millrace_spec::LoadedSpec;

pub(crate) fn session(threads: usize, batch_rows: usize) -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(threads)
        .with_batch_size(batch_rows)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    crate::udf::register_sql_functions(&ctx);
    ctx
}

/// Everything needed to build an epoch's plan, resolved once per run.
pub(crate) struct SourcePlan {
    pub files: Vec<millrace_connectors::listing::InputFile>,
    pub opts: ReadOptions,
    pub schema: SchemaRef,
}

pub(crate) async fn plan_source(spec: &LoadedSpec, registry: &StoreRegistry, batch_rows: usize) -> Result<SourcePlan> {
    if spec.spec.source.kafka.is_some() {
        // A stream has no listing; its columns are sampled from the first epoch the run plans.
        let opts = ReadOptions::from_spec(&spec.spec.source, &[], batch_rows)?;
        if let Some(k) = &opts.kafka {
            let schema = k.schema(&[], &opts).await?;
            return Ok(SourcePlan { files: Vec::new(), opts, schema });
        }
    }
    if let Some(table) = &spec.spec.source.delta {
        return plan_delta_source(spec, registry, &table.value, batch_rows).await;
    }
    let (_, files) = listing::expand(registry, &spec.spec.source.files.value).await?;
    // A watching run may start before the first file lands.
    if files.is_empty() && !spec.spec.source.allow_empty && spec.spec.source.watch.is_none() {
        return Err(millrace_connectors::ConnectorError::NoInput { pattern: millrace_connectors::redact::url(&spec.spec.source.files.value) }.into());
    }
    let mut opts = ReadOptions::from_spec(&spec.spec.source, &files, batch_rows)?;
    let schema = source::infer_schema(registry, &files, &mut opts).await?;
    Ok(SourcePlan { files, opts, schema })
}

/// A Delta table as a source: the data files of the version asked for (time travel), with their
/// partition values, and the table's own columns.
async fn plan_delta_source(spec: &LoadedSpec, registry: &StoreRegistry, url: &str, batch_rows: usize) -> Result<SourcePlan> {
    let src = &spec.spec.source;
    let loc = registry.resolve(url)?;
    let timestamp = src
        .timestamp
        .as_ref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t.value).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let snapshot = millrace_connectors::delta::Table::open(&loc)?.snapshot_at(src.version, timestamp).await?;
    let Some(snapshot) = snapshot else {
        return Err(millrace_connectors::ConnectorError::NoInput { pattern: format!("{} (no Delta table there)", millrace_connectors::redact::url(url)) }.into());
    };
    let files: Vec<listing::InputFile> = snapshot
        .files
        .iter()
        .map(|f| listing::InputFile { url: loc.child(&f.path).url(), size: f.bytes, etag: None, partition: Some(f.partition.clone()) })
        .collect();
    if files.is_empty() && !src.allow_empty {
        return Err(millrace_connectors::ConnectorError::NoInput { pattern: format!("{} (version {} has no files)", millrace_connectors::redact::url(url), snapshot.version) }.into());
    }
    let mut opts = ReadOptions::from_spec(src, &files, batch_rows)?;
    opts.format = millrace_spec::Format::Parquet;
    let schema = source::run_schema(&snapshot.schema, url, &opts)?;
    tracing::info!(table = %millrace_connectors::redact::url(url), version = snapshot.version, files = files.len(), "reading a Delta table");
    Ok(SourcePlan { files, opts, schema })
}

pub(crate) fn num_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
