//! Finding a sink's committed output: exactly the files its `_manifest/epoch-*.json` list (a Delta
//! table's: its current snapshot), so files of an epoch that never committed are never checked. Hive partition directories (`lang=en/`)
//! become columns again, with the type the manifest recorded. Registered as the table `output`.

use crate::GovernanceError;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::prelude::{DataFrame, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext, ident, lit};
use millrace_connectors::commit::{self, ColumnSchema, EpochManifest};
use millrace_connectors::store::{Location, StoreRegistry};
use millrace_spec::{LoadedSpec, SinkKind};
use std::collections::BTreeMap;
use std::sync::Arc;
/// A sink's committed output, registered as the table `output` in `ctx`.
pub struct CommittedOutput {
    pub sink: String,
    pub kind: SinkKind,
    pub url: String,
    pub manifests: Vec<EpochManifest>,
    /// Rows the manifests list (the whole committed output, even when sampling).
    pub committed_rows: u64,
    /// Rows in `output` when it is a sample.
    pub sampled_rows: Option<u64>,
    /// Columns as the writer recorded them (including partition columns), when the manifest has them.
    pub written_schema: Option<SchemaRef>,
    pub ctx: SessionContext,
}

impl CommittedOutput {
    pub fn files(&self) -> usize {
        self.manifests.iter().map(|m| m.files.len()).sum()
    }
    /// The schema of the table `output`.
    pub async fn schema(&self) -> Result<SchemaRef, GovernanceError> {
        Ok(Arc::new(self.ctx.table("output").await?.schema().as_arrow().clone()))
    }
}

/// The sink `target` names (by name or URL), or the first sink.
pub fn select_sink(spec: &LoadedSpec, target: Option<&str>) -> Result<(usize, String, SinkKind, String), GovernanceError> {
    let sinks: Vec<(usize, String, SinkKind, String)> = spec
        .spec
        .sinks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (kind, url) = s.value.target();
            (i, s.value.display_name(i), kind, url.to_string())
        })
        .collect();
    let found = match target {
        None => sinks.first().cloned(),
        Some(t) => sinks.iter().find(|(_, name, _, url)| name == t || url.trim_end_matches('/') == t.trim_end_matches('/')).cloned(),
    };
    found.ok_or_else(|| GovernanceError::NoSuchSink {
        target: target.unwrap_or("").to_string(),
        available: sinks.iter().map(|s| s.1.clone()).collect(),
    })
}

/// A session for reading committed output: plain `Utf8` strings (not views), so schema contracts
/// and failure files see the types the writer wrote.
///
/// Batches are sized from the committed bytes per row, as in a run, so that a check's memory does
/// not grow with document length.
fn session(spec: &LoadedSpec, manifests: &[EpochManifest]) -> SessionContext {
    let rows: u64 = manifests.iter().map(|m| m.rows).sum();
    let bytes: u64 = manifests.iter().map(|m| m.bytes).sum();
    let row_bytes = (rows > 0).then(|| bytes.saturating_mul(DECODED_PER_STORED) / rows);
    let batch_rows = millrace_connectors::source::rows_per_batch(spec.spec.engine.batch_rows, row_bytes);
    let mut config = SessionConfig::new().with_batch_size(batch_rows);
    if let Some(t) = spec.spec.engine.threads {
        config = config.with_target_partitions(t.max(1));
    }
    config.options_mut().execution.parquet.schema_force_view_types = false;
    SessionContext::new_with_config(config)
}

/// Committed files are compressed: a row in memory is taken to be this many times its share of them.
const DECODED_PER_STORED: u64 = 4;

/// Registers the committed files of the chosen sink as the table `output`.
pub async fn open_output(
    spec: &LoadedSpec,
    registry: &StoreRegistry,
    target: Option<&str>,
    sample: Option<usize>,
) -> Result<CommittedOutput, GovernanceError> {
    let (_, sink, kind, raw_url) = select_sink(spec, target)?;
    if kind == SinkKind::Megatron {
        return Err(GovernanceError::UnsupportedSink { sink, kind: "megatron".into() });
    }
    if kind == SinkKind::Kafka {
        return Err(GovernanceError::UnsupportedSink { sink, kind: "kafka".into() });
    }
    let base = registry.resolve(&raw_url)?;
    // A Delta file another writer logged without statistics has no row count in the log.
    let mut rows_unknown = false;
    let manifests = match kind {
        // The table's current snapshot: the files its log lists, whoever wrote them.
        SinkKind::Delta => match millrace_connectors::delta::Table::open(&base)?.snapshot().await? {
            Some(s) => {
                rows_unknown = s.files.iter().any(|f| f.rows.is_none());
                let columns = Some(ColumnSchema::from_arrow(&s.schema, &[]));
                let files = s
                    .files
                    .into_iter()
                    .map(|f| millrace_connectors::sink::StagedFile {
                        path: f.path,
                        staging: None,
                        rows: f.rows.unwrap_or(0),
                        bytes: f.bytes,
                        sha256: String::new(),
                        delta_stats: None,
                    })
                    .collect();
                let mut m = EpochManifest::new(s.version.max(0) as u64, "", &sink, files, columns);
                m.delta_version = Some(s.version);
                vec![m]
            }
            None => Vec::new(),
        },
        _ => commit::read_manifests(&base).await?,
    };
    if manifests.is_empty() {
        return Err(GovernanceError::NothingCommitted { sink, url: base.url() });
    }
    let ctx = session(spec, &manifests);
    if !base.base.starts_with("file://") {
        let url = url::Url::parse(&base.base).map_err(|e| GovernanceError::Config(format!("sink URL {}: {e}", base.base)))?;
        ctx.register_object_store(&url, base.store.clone());
    }
    // The latest manifest's schema is the table's: a later run may have added columns.
    let written_schema = manifests.iter().rev().find_map(|m| m.schema.as_deref()).and_then(ColumnSchema::to_arrow).map(Arc::new);
    let df = committed_frame(&ctx, &base, kind, &manifests, written_schema.as_ref()).await?;
    let committed_rows = match rows_unknown {
        true => df.clone().count().await? as u64,
        false => manifests.iter().map(|m| m.rows).sum(),
    };
    let (table, sampled_rows) = match sample {
        Some(n) => {
            // Materialised once so that every check sees the same rows.
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.limit(0, Some(n))?.collect().await?;
            let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            (Arc::new(MemTable::try_new(schema, vec![batches])?) as Arc<dyn datafusion::catalog::TableProvider>, Some(rows))
        }
        None => (df.into_view(), None),
    };
    ctx.register_table("output", table)?;
    Ok(CommittedOutput { sink, kind, url: base.url(), manifests, committed_rows, sampled_rows, written_schema, ctx })
}

/// One DataFrame over the listed files: files are grouped by partition directory and extension,
/// each group read with its partition values added as literal columns, and the groups unioned.
async fn committed_frame(
    ctx: &SessionContext,
    base: &Location,
    kind: SinkKind,
    manifests: &[EpochManifest],
    written: Option<&SchemaRef>,
) -> Result<DataFrame, GovernanceError> {
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in manifests.iter().flat_map(|m| &m.files) {
        let (dir, name) = f.path.rsplit_once('/').unwrap_or(("", f.path.as_str()));
        let ext = match name.find('.') {
            Some(i) => name[i..].to_string(),
            None => String::new(),
        };
        let file = base.child(&f.path);
        // A listed file that is gone must fail the checks: read as a prefix it would be empty.
        if !millrace_connectors::store::exists(&file).await? {
            return Err(GovernanceError::MissingFile { url: file.url() });
        }
        groups.entry((dir.to_string(), ext)).or_default().push(file.url());
    }
    let partition_cols: Vec<String> = groups
        .keys()
        .next()
        .map(|(dir, _)| parse_partition_dir(dir).into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    if groups.is_empty() {
        // Every committed epoch was empty: an empty table with the recorded columns.
        let schema = written.cloned().unwrap_or_else(|| Arc::new(Schema::empty()));
        return Ok(ctx.read_table(Arc::new(MemTable::try_new(schema, vec![vec![]])?))?);
    }
    let file_schema: Option<Schema> = written.map(|s| {
        Schema::new(s.fields().iter().filter(|f| !partition_cols.contains(f.name())).map(|f| f.as_ref().clone()).collect::<Vec<_>>())
    });
    let mut frames = Vec::new();
    for ((dir, ext), urls) in groups {
        let mut df = match kind {
            SinkKind::Jsonl => {
                let compression = if ext.ends_with(".zst") {
                    FileCompressionType::ZSTD
                } else if ext.ends_with(".gz") {
                    FileCompressionType::GZIP
                } else {
                    FileCompressionType::UNCOMPRESSED
                };
                let mut o = JsonReadOptions::default().file_extension(&ext).file_compression_type(compression);
                if let Some(s) = &file_schema {
                    o = o.schema(s);
                }
                ctx.read_json(urls, o).await?
            }
            _ => {
                let mut o = ParquetReadOptions::default().file_extension(&ext);
                if let Some(s) = &file_schema {
                    o = o.schema(s);
                }
                ctx.read_parquet(urls, o).await?
            }
        };
        for (k, v) in parse_partition_dir(&dir) {
            let ty = written.and_then(|s| s.field_with_name(&k).ok().map(|f| f.data_type().clone())).unwrap_or(DataType::Utf8);
            let value = match v {
                Some(v) => datafusion::prelude::cast(lit(v), ty),
                None => lit(datafusion::scalar::ScalarValue::try_from(&ty)?),
            };
            df = df.with_column(&k, value)?;
        }
        frames.push(df);
    }
    // Same column order in every group (the writer's order when known) so the union lines up.
    let order: Vec<String> = match written {
        Some(s) => s.fields().iter().map(|f| f.name().clone()).collect(),
        None => frames[0].schema().fields().iter().map(|f| f.name().clone()).collect(),
    };
    let mut out: Option<DataFrame> = None;
    for df in frames {
        let df = df.select(order.iter().map(|c| ident(c.as_str())).collect::<Vec<_>>())?;
        out = Some(match out {
            None => df,
            Some(acc) => acc.union(df)?,
        });
    }
    out.ok_or_else(|| GovernanceError::Config("no files to read".into()))
}

/// `lang=en/year=2024` -> [(lang, Some(en)), (year, Some(2024))]; the hive null marker is `None`.
fn parse_partition_dir(dir: &str) -> Vec<(String, Option<String>)> {
    millrace_connectors::hive::decode_dir(dir)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dirs() {
        assert_eq!(parse_partition_dir("lang=en/y=2024"), vec![("lang".into(), Some("en".into())), ("y".into(), Some("2024".into()))]);
        assert_eq!(parse_partition_dir("lang=__HIVE_DEFAULT_PARTITION__"), vec![("lang".into(), None)]);
        assert_eq!(parse_partition_dir("k=a%2Fb%3D"), vec![("k".into(), Some("a/b=".into()))]);
        assert!(parse_partition_dir("").is_empty());
        assert_eq!(parse_partition_dir("k=100%"), vec![("k".into(), Some("100%".into()))]);
        assert_eq!(parse_partition_dir("k=%4"), vec![("k".into(), Some("%4".into()))]);
    }
}
