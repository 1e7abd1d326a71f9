//! `pipeline explain`: the logical and physical plans of a spec, built as a run would build them.

use crate::Result;
use crate::cut::{Mode, cut};
use crate::plan::{num_threads, plan_source, session};
use crate::stages::{StageEnv, apply_stages};
use crate::table::{UnitsPartition, streaming_table};
use millrace_connectors::reject::RejectSender;
use millrace_connectors::source;
use millrace_connectors::store::StoreRegistry;
use millrace_spec::LoadedSpec;
use std::sync::Arc;

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
            counters: None,
        })
        .collect();
    let table = streaming_table(sp.schema.clone(), parts)?;
    ctx.register_table("input", Arc::new(table))?;
    let df = ctx.table("input").await?;
    let env = StageEnv::new(spec)?;
    let df = apply_stages(&ctx, df, spec, &env, &Mode::Explain).await?;
    let df = cut(&ctx, df, &Mode::Explain).await?;
    let logical = df.logical_plan().display_indent().to_string();
    let optimized = df.clone().into_optimized_plan()?;
    let physical = df.create_physical_plan().await?;
    let physical = datafusion::physical_plan::displayable(physical.as_ref()).indent(true).to_string();
    Ok(format!(
        "Source: {} ({} files, {} units, format {:?})\nSchema: {}\n\nLogical plan:\n{}\n\nOptimized logical plan:\n{}\n\nPhysical plan:\n{}",
        spec.spec.source.describe(),
        sp.files.len(),
        units.len(),
        sp.opts.format,
        sp.schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", "),
        logical,
        optimized.display_indent(),
        physical
    ))
}

