//! From spec to DataFusion: the session, the functions registered in it, and one DataFrame per stage.

use crate::table::{UnitsPartition, streaming_table};
use crate::Result;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{SessionConfig, SessionContext};
use millrace_connectors::source::{self, ReadOptions};
use millrace_connectors::store::StoreRegistry;
use millrace_connectors::{listing, reject::RejectSender};
use millrace_spec::LoadedSpec;
use std::sync::Arc;

pub(crate) fn session(threads: usize, batch_rows: usize) -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(threads)
        .with_batch_size(batch_rows)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    crate::udf::register_sql_functions(&ctx);
    ctx
}

/// Runs user SQL (a `sql:` stage, a `sql` check) as a query only: DDL (`CREATE`), DML (`INSERT`,
/// `COPY … TO`) and statements (`SET`) are refused, so a spec cannot write or change anything
/// through SQL.
pub(crate) async fn query(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<datafusion::dataframe::DataFrame> {
    let options = datafusion::execution::context::SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    ctx.sql_with_options(sql, options).await
}

/// Everything needed to build an epoch's plan, resolved once per run.
pub(crate) struct SourcePlan {
    pub files: Vec<millrace_connectors::listing::InputFile>,
    pub opts: ReadOptions,
    pub schema: SchemaRef,
}

pub(crate) async fn plan_source(spec: &LoadedSpec, registry: &StoreRegistry, batch_rows: usize) -> Result<SourcePlan> {
    let (_, files) = listing::expand(registry, &spec.spec.source.files.value).await?;
    if files.is_empty() && !spec.spec.source.allow_empty {
        return Err(millrace_connectors::ConnectorError::NoInput { pattern: millrace_connectors::redact::url(&spec.spec.source.files.value) }.into());
    }
    let mut opts = ReadOptions::from_spec(&spec.spec.source, &files, batch_rows)?;
    // An empty file has no schema to give: sample the first file that has bytes.
    let schema = match files.iter().find(|f| f.size > 0).or(files.first()) {
        Some(f) => source::infer_schema(registry, f, &mut opts).await?,
        None => Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            datafusion::arrow::datatypes::Field::new(&opts.id_field, datafusion::arrow::datatypes::DataType::Utf8, true),
            datafusion::arrow::datatypes::Field::new(&opts.text_field, datafusion::arrow::datatypes::DataType::Utf8, true),
        ])),
    };
    Ok(SourcePlan { files, opts, schema })
}

/// The logical and physical plans of the pipeline, as `pipeline explain` prints them.
pub async fn explain(spec: &LoadedSpec) -> Result<String> {
    let registry = Arc::new(StoreRegistry::new(spec.spec.storage.clone()));
    let threads = spec.spec.engine.threads.unwrap_or_else(num_threads);
    let sp = plan_source(spec, &registry, spec.spec.engine.batch_rows).await?;
    let ctx = session(threads, source::rows_per_batch(spec.spec.engine.batch_rows, sp.opts.row_bytes_hint));
    let (rejects, _rx) = RejectSender::new(1);
    let units = source::plan_units(&sp.files, &sp.opts, spec.spec.source.split_bytes.0);
    let parts = source::assign_partitions(&units, threads)
        .into_iter()
        .map(|units| UnitsPartition {
            units,
            registry: registry.clone(),
            opts: Arc::new(sp.opts.clone()),
            schema: sp.schema.clone(),
            rejects: Arc::new(std::sync::Mutex::new(Some(rejects.clone()))),
            metrics: Default::default(),
        })
        .collect();
    let table = streaming_table(sp.schema.clone(), parts)?;
    ctx.register_table("input", Arc::new(table))?;
    let df = ctx.table("input").await?;
    let env = crate::stages::StageEnv::new(spec)?;
    let df = crate::stages::apply_stages(&ctx, df, spec, &env, &crate::stages::Mode::Explain).await?;
    let df = crate::stages::cut(&ctx, df, &crate::stages::Mode::Explain).await?;
    let logical = df.logical_plan().display_indent().to_string();
    let optimized = df.clone().into_optimized_plan()?;
    let physical = df.create_physical_plan().await?;
    let physical = datafusion::physical_plan::displayable(physical.as_ref()).indent(true).to_string();
    Ok(format!(
        "Source: {} ({} files, {} units, format {:?})\nSchema: {}\n\nLogical plan:\n{}\n\nOptimized logical plan:\n{}\n\nPhysical plan:\n{}",
        spec.spec.source.files.value,
        sp.files.len(),
        units.len(),
        sp.opts.format,
        sp.schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", "),
        logical,
        optimized.display_indent(),
        physical
    ))
}

pub(crate) fn num_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
