//! Data-quality checks over a sink's committed output.
//!
//! The table `output` is built from exactly the files the sink's `_manifest/epoch-*.json` list, so
//! files of an epoch that never committed are never checked. Hive partition directories
//! (`lang=en/`) become columns again, with the type the manifest recorded. Row-predicate checks
//! (`not_null`, `accepted_values`, `range`, `regex`, `empty_rate`) are evaluated together in one
//! aggregate pass; `unique`/`duplicate_rate` and `sql` checks run one query each. A check that cannot
//! be evaluated (missing column, wrong type, SQL that does not plan) gets status `error`, which gates
//! like a failure: a broken check never reads as "all good".

use crate::governance::GovernanceError;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::prelude::{DataFrame, Expr, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext, ident, lit, when};
use millrace_connectors::commit::{self, EpochManifest};
use millrace_connectors::store::{Location, StoreRegistry};
use millrace_report::{CheckResult, CheckStatus};
use millrace_spec::{CheckKind, CheckSeverity, CheckSpec, LoadedSpec, SinkKind};
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::BTreeMap;
use std::ops::Not;
use std::str::FromStr;
use std::sync::Arc;

/// Failing rows kept per check by `--store-failures` unless told otherwise.
pub const DEFAULT_FAILURE_ROWS: usize = 1000;

/// How `pipeline check` (and the checks at the end of `pipeline run`) are run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Sink to check, by name (`sinks[].name`, default the kind) or URL; default the first sink.
    pub target: Option<String>,
    /// Check only the first N committed rows (row_count still uses the committed total).
    pub sample: Option<usize>,
    /// Directory (path or URL) for one Parquet file of failing rows per failed check.
    pub store_failures: Option<String>,
    /// Rows kept per check in `store_failures`.
    pub failure_rows: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { target: None, sample: None, store_failures: None, failure_rows: DEFAULT_FAILURE_ROWS }
    }
}

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

/// What one `pipeline check` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckRun {
    pub sink: String,
    pub url: String,
    pub committed_rows: u64,
    /// Rows checked, when fewer than `committed_rows` (`--sample`).
    pub sampled_rows: Option<u64>,
    pub results: Vec<CheckResult>,
    /// Parquet files written by `--store-failures`.
    pub failure_files: Vec<String>,
}

/// The gate's verdict over a set of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Only warnings.
    Warn,
    /// At least one `fail` or `error`.
    Fail,
}

pub fn verdict(results: &[CheckResult]) -> Verdict {
    if results.iter().any(|r| matches!(r.status, CheckStatus::Fail | CheckStatus::Error)) {
        Verdict::Fail
    } else if results.iter().any(|r| r.status == CheckStatus::Warn) {
        Verdict::Warn
    } else {
        Verdict::Pass
    }
}

/// Opens the target sink and evaluates every check of the spec on it.
pub async fn run_checks(spec: &LoadedSpec, opts: &CheckOptions) -> Result<CheckRun, GovernanceError> {
    let registry = StoreRegistry::new(spec.spec.storage.clone());
    let out = open_output(spec, &registry, opts.target.as_deref(), opts.sample).await?;
    check_output(spec, &registry, &out, opts).await
}

/// Evaluates the spec's checks on an output already opened, storing failing rows when asked.
pub async fn check_output(
    spec: &LoadedSpec,
    registry: &StoreRegistry,
    out: &CommittedOutput,
    opts: &CheckOptions,
) -> Result<CheckRun, GovernanceError> {
    let store = match &opts.store_failures {
        Some(u) => Some(registry.resolve(u)?),
        None => None,
    };
    let checks: Vec<CheckSpec> = spec.spec.checks.iter().map(|c| c.value.clone()).collect();
    let (results, failure_files) = evaluate(out, &checks, store.as_ref(), opts.failure_rows).await?;
    Ok(CheckRun {
        sink: out.sink.clone(),
        url: out.url.clone(),
        committed_rows: out.committed_rows,
        sampled_rows: out.sampled_rows,
        results,
        failure_files,
    })
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
    let base = registry.resolve(&raw_url)?;
    let manifests = commit::read_manifests(&base).await?;
    if manifests.is_empty() {
        return Err(GovernanceError::NothingCommitted { sink, url: base.url() });
    }
    let ctx = session(spec, &manifests);
    if !base.base.starts_with("file://") {
        let url = url::Url::parse(&base.base).map_err(|e| GovernanceError::Config(format!("sink URL {}: {e}", base.base)))?;
        ctx.register_object_store(&url, base.store.clone());
    }
    // The latest manifest's schema is the table's: a later run may have added columns.
    let written_schema = manifests.iter().rev().find_map(|m| m.schema.as_ref()).and_then(schema_from_manifest);
    let committed_rows = manifests.iter().map(|m| m.rows).sum();
    let df = committed_frame(&ctx, &base, kind, &manifests, written_schema.as_ref()).await?;
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

/// Parses the manifest's `[{"name", "type", "nullable"}]`; `None` when any type is not an Arrow type
/// name (then the files' own schema is used).
fn schema_from_manifest(v: &serde_json::Value) -> Option<SchemaRef> {
    let fields = v.as_array()?;
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let name = f.get("name")?.as_str()?;
        let ty = DataType::from_str(f.get("type")?.as_str()?).ok()?;
        let nullable = f.get("nullable").and_then(|n| n.as_bool()).unwrap_or(true);
        out.push(Field::new(name, ty, nullable));
    }
    Some(Arc::new(Schema::new(out)))
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
        if let Err(e) = file.store.head(&file.path).await {
            return Err(GovernanceError::Read { url: file.url(), message: format!("listed in a committed manifest but unreadable: {e}") });
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

// ---------------------------------------------------------------------------------------------
// Evaluation

/// One result to produce: a check, and for per-column kinds, one of its columns.
struct Unit<'a> {
    spec: &'a CheckSpec,
    name: String,
    column: Option<String>,
}

/// What evaluating a unit measured, before thresholds are applied.
struct Measured {
    /// The number thresholds compare (failing rows, row count, mismatches or the query's value).
    measure: f64,
    /// Does the check's own rule (without warn_if/error_if) call this a failure?
    default_fail: bool,
    observed: serde_json::Value,
    failing_rows: Option<u64>,
    /// The check's own pass condition, as the report shows it (`{"max": 0}`, `{"min": 1000}`).
    threshold: serde_json::Value,
    message: String,
}

fn expand(checks: &[CheckSpec]) -> Vec<Unit<'_>> {
    let mut units = Vec::new();
    for c in checks {
        let names = c.result_names();
        match &c.kind {
            CheckKind::NotNull(cols) | CheckKind::Unique(cols) => {
                for (col, name) in cols.0.iter().zip(names) {
                    units.push(Unit { spec: c, name, column: Some(col.clone()) });
                }
            }
            k => {
                let column = match k {
                    CheckKind::AcceptedValues(a) => Some(a.column.clone()),
                    CheckKind::Range(r) => Some(r.column.clone()),
                    CheckKind::Regex(r) => Some(r.column.clone()),
                    CheckKind::DuplicateRate(r) | CheckKind::EmptyRate(r) => Some(r.column.clone()),
                    _ => None,
                };
                units.push(Unit { spec: c, name: names.into_iter().next().unwrap_or_default(), column });
            }
        }
    }
    units
}

pub(crate) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The row predicate of a row check: true for a failing row.
fn predicate(unit: &Unit<'_>, field: &Field) -> Result<Expr, String> {
    let c = ident(field.name().as_str());
    let ty = field.data_type();
    match &unit.spec.kind {
        CheckKind::NotNull(_) => Ok(c.is_null()),
        CheckKind::AcceptedValues(a) => {
            let mut values = Vec::with_capacity(a.values.len());
            for v in &a.values {
                if is_string(ty) {
                    values.push(lit(v.0.clone()));
                    continue;
                }
                // Convert here so a value that cannot be the column's type is a clear check error,
                // not a query failure.
                let arr: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![v.0.clone()]));
                let casted = cast(&arr, ty).map_err(|e| format!("value `{}` cannot be compared with column `{}` of type {ty}: {e}", v.0, field.name()))?;
                if casted.is_null(0) {
                    return Err(format!("value `{}` is not a valid {ty} for column `{}`", v.0, field.name()));
                }
                let scalar = datafusion::scalar::ScalarValue::try_from_array(&casted, 0).map_err(|e| e.to_string())?;
                values.push(lit(scalar));
            }
            Ok(c.clone().is_not_null().and(c.in_list(values, true)))
        }
        CheckKind::Range(r) => {
            if !ty.is_numeric() {
                return Err(format!("`range` needs a numeric column; `{}` is {ty}", field.name()));
            }
            let lo = r.min.map(|m| c.clone().lt(lit(m)));
            let hi = r.max.map(|m| c.clone().gt(lit(m)));
            match (lo, hi) {
                (Some(a), Some(b)) => Ok(a.or(b)),
                (Some(a), None) | (None, Some(a)) => Ok(a),
                (None, None) => Err("`range` needs `min` or `max`".into()),
            }
        }
        CheckKind::Regex(r) => {
            if !is_string(ty) {
                return Err(format!("`regex` needs a string column; `{}` is {ty}", field.name()));
            }
            Ok(c.clone().is_not_null().and(datafusion::prelude::regexp_like(c, lit(r.pattern.clone()), None).not()))
        }
        CheckKind::EmptyRate(_) => {
            if !is_string(ty) {
                return Err(format!("`empty_rate` needs a string column; `{}` is {ty}", field.name()));
            }
            Ok(c.clone().is_null().or(datafusion::prelude::character_length(datafusion::prelude::btrim(vec![c])).eq(lit(0i64))))
        }
        _ => Err("not a row check".into()),
    }
}

fn is_row_check(k: &CheckKind) -> bool {
    matches!(k, CheckKind::NotNull(_) | CheckKind::AcceptedValues(_) | CheckKind::Range(_) | CheckKind::Regex(_) | CheckKind::EmptyRate(_))
}

/// Reads column `i` of a one-row batch as f64 (null -> None).
fn scalar_f64(batch: &RecordBatch, i: usize) -> Option<f64> {
    let col = batch.column(i);
    if col.is_empty() || col.is_null(0) {
        return None;
    }
    let as_f = cast(col, &DataType::Float64).ok()?;
    let a = as_f.as_primitive_opt::<Float64Type>()?;
    (!a.is_null(0)).then(|| a.value(0))
}

fn scalar_i64(batch: &RecordBatch, i: usize) -> Option<i64> {
    let col = batch.column(i);
    if col.is_empty() || col.is_null(0) {
        return None;
    }
    let c = cast(col, &DataType::Int64).ok()?;
    let a = c.as_primitive_opt::<Int64Type>()?;
    (!a.is_null(0)).then(|| a.value(0))
}

async fn one_row(df: DataFrame) -> Result<RecordBatch, String> {
    let batches = df.collect().await.map_err(|e| e.to_string())?;
    let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    match batches.as_slice() {
        [b] if b.num_rows() == 1 => Ok(b.clone()),
        _ => Err(format!("expected one row, got {}", batches.iter().map(|b| b.num_rows()).sum::<usize>())),
    }
}

/// Evaluates `checks` on `out`; writes failing rows under `store` when given. Returns one result per
/// unit, in spec order, and the failure files written.
pub async fn evaluate(
    out: &CommittedOutput,
    checks: &[CheckSpec],
    store: Option<&Location>,
    failure_rows: usize,
) -> Result<(Vec<CheckResult>, Vec<String>), GovernanceError> {
    let units = expand(checks);
    let table = out.ctx.table("output").await?;
    let schema = Arc::new(table.schema().as_arrow().clone());
    let columns_list = schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");

    let mut measured: Vec<Option<Result<Measured, String>>> = (0..units.len()).map(|_| None).collect();
    let mut preds: Vec<(usize, Expr)> = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let field = match &u.column {
            Some(c) => match schema.field_with_name(c) {
                Ok(f) => Some(f.clone()),
                Err(_) => {
                    measured[i] = Some(Err(format!("column `{c}` is not in the output of sink `{}` (columns: {columns_list})", out.sink)));
                    continue;
                }
            },
            None => None,
        };
        if is_row_check(&u.spec.kind) {
            if let Some(f) = &field {
                match predicate(u, f) {
                    Ok(p) => preds.push((i, p)),
                    Err(e) => measured[i] = Some(Err(e)),
                }
            }
        }
    }

    // Rows of the checked table: the sample's size, else the committed count.
    let rows = out.sampled_rows.unwrap_or(out.committed_rows);

    // One pass for all row predicates; when it fails, each predicate alone, so the error lands on
    // the check that caused it.
    let mut counts: BTreeMap<usize, (u64, Option<(f64, f64)>)> = BTreeMap::new();
    if !preds.is_empty() {
        match row_counts(&table, &units, &preds).await {
            Ok(c) => counts = c,
            Err(_) => {
                for p in &preds {
                    match row_counts(&table, &units, std::slice::from_ref(p)).await {
                        Ok(c) => counts.extend(c),
                        Err(e) => measured[p.0] = Some(Err(e)),
                    }
                }
            }
        }
    }

    for (i, u) in units.iter().enumerate() {
        if measured[i].is_some() {
            continue;
        }
        let m = match &u.spec.kind {
            CheckKind::RowCount(r) => Ok(row_count_measure(r, out.committed_rows)),
            CheckKind::NotNull(_) | CheckKind::AcceptedValues(_) | CheckKind::Range(_) | CheckKind::Regex(_) | CheckKind::EmptyRate(_) => {
                match counts.get(&i) {
                    Some((n, extremes)) => Ok(row_measure(u, *n, *extremes, rows)),
                    None => Err("the check was not evaluated".to_string()),
                }
            }
            CheckKind::Unique(_) | CheckKind::DuplicateRate(_) => duplicates(&out.ctx, u, &schema).await,
            CheckKind::Schema(contract) => Ok(schema_measure(contract, out.written_schema.as_ref().unwrap_or(&schema))),
            CheckKind::Sql(s) => sql_measure(&out.ctx, s).await,
        };
        measured[i] = Some(m);
    }

    let mut results = Vec::with_capacity(units.len());
    let mut files = Vec::new();
    for (i, (u, m)) in units.iter().zip(measured).enumerate() {
        let m = m.unwrap_or_else(|| Err("the check was not evaluated".into()));
        let result = decide(u, m, rows);
        if let (Some(store), Some(n)) = (store, result.failing_rows) {
            if n > 0 && result.status != CheckStatus::Error {
                let pred = preds.iter().find(|(j, _)| *j == i).map(|(_, p)| p.clone());
                if let Some(url) = store_failures(&out.ctx, &table, u, pred, store, i, failure_rows).await? {
                    files.push(url);
                }
            }
        }
        results.push(result);
    }
    Ok((results, files))
}

/// Failing-row counts (and min/max for range checks) of several predicates in one aggregate pass.
async fn row_counts(
    table: &DataFrame,
    units: &[Unit<'_>],
    preds: &[(usize, Expr)],
) -> Result<BTreeMap<usize, (u64, Option<(f64, f64)>)>, String> {
    let mut aggs = Vec::new();
    for (i, p) in preds {
        aggs.push(sum(when(p.clone(), lit(1i64)).otherwise(lit(0i64)).map_err(|e| e.to_string())?).alias(format!("m{i}")));
        if let (CheckKind::Range(_), Some(c)) = (&units[*i].spec.kind, &units[*i].column) {
            aggs.push(min(ident(c.as_str())).alias(format!("lo{i}")));
            aggs.push(max(ident(c.as_str())).alias(format!("hi{i}")));
        }
    }
    let df = table.clone().aggregate(vec![], aggs).map_err(|e| e.to_string())?;
    let b = one_row(df).await?;
    let mut out = BTreeMap::new();
    for (i, _) in preds {
        let idx = b.schema().index_of(&format!("m{i}")).map_err(|e| e.to_string())?;
        let n = scalar_i64(&b, idx).unwrap_or(0).max(0) as u64;
        let extremes = match (b.schema().index_of(&format!("lo{i}")), b.schema().index_of(&format!("hi{i}"))) {
            (Ok(lo), Ok(hi)) => scalar_f64(&b, lo).zip(scalar_f64(&b, hi)),
            _ => None,
        };
        out.insert(*i, (n, extremes));
    }
    Ok(out)
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") }
}

/// `{"min": a, "max": b}` with the bounds that are set; the report renders it as `≥ a, ≤ b`.
fn bounds_json(min: Option<f64>, max: Option<f64>) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let Some(a) = min {
        m.insert("min".into(), num_json(a));
    }
    if let Some(b) = max {
        m.insert("max".into(), num_json(b));
    }
    serde_json::Value::Object(m)
}

/// Whole numbers as JSON integers, so reports print `1000`, not `1000.0`.
fn num_json(x: f64) -> serde_json::Value {
    if x.fract() == 0.0 && x.abs() < 9e15 { serde_json::json!(x as i64) } else { serde_json::json!(x) }
}

/// Row checks pass with no failing rows.
fn no_failing_rows() -> serde_json::Value {
    serde_json::json!({"max": 0})
}

fn rows_word(n: u64) -> &'static str {
    if n == 1 { "row" } else { "rows" }
}

fn row_count_measure(r: &millrace_spec::RowCountCheck, n: u64) -> Measured {
    let (lo, hi) = r.bounds();
    let fail = lo.is_some_and(|a| n < a) || hi.is_some_and(|b| n > b);
    let expected = match (lo, hi) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "at least 1".into(),
    };
    Measured {
        measure: n as f64,
        default_fail: fail,
        observed: n.into(),
        failing_rows: None,
        threshold: bounds_json(lo.map(|a| a as f64), hi.map(|b| b as f64)),
        message: if fail { format!("{n} committed {}; expected {expected}", rows_word(n)) } else { format!("{n} committed {}", rows_word(n)) },
    }
}

fn rate(n: u64, rows: u64) -> f64 {
    if rows == 0 { 0.0 } else { n as f64 / rows as f64 }
}

fn row_measure(u: &Unit<'_>, n: u64, extremes: Option<(f64, f64)>, rows: u64) -> Measured {
    let col = u.column.as_deref().unwrap_or("");
    let of = format!("{n} of {rows} {}", rows_word(rows));
    let verb = if n == 1 { "has" } else { "have" };
    let (threshold, default_fail, observed, message) = match &u.spec.kind {
        CheckKind::NotNull(_) => {
            (no_failing_rows(), n > 0, serde_json::json!(n), if n > 0 { format!("{of} {verb} a null `{col}`") } else { format!("no nulls in `{col}`") })
        }
        CheckKind::AcceptedValues(a) => {
            let vals = a.values.iter().map(|v| v.0.as_str()).collect::<Vec<_>>().join(", ");
            (
                no_failing_rows(),
                n > 0,
                serde_json::json!(n),
                if n > 0 { format!("{of} {verb} a `{col}` outside [{vals}]") } else { format!("every `{col}` is in [{vals}]") },
            )
        }
        CheckKind::Range(r) => {
            let bounds = format!("[{}, {}]", r.min.map(fmt_num).unwrap_or_else(|| "-inf".into()), r.max.map(fmt_num).unwrap_or_else(|| "inf".into()));
            let seen = extremes.map(|(a, b)| format!(" (values range from {} to {})", fmt_num(a), fmt_num(b))).unwrap_or_default();
            (
                no_failing_rows(),
                n > 0,
                serde_json::json!(n),
                if n > 0 { format!("{of} {verb} `{col}` outside {bounds}{seen}") } else { format!("every `{col}` is within {bounds}{seen}") },
            )
        }
        CheckKind::Regex(r) => (
            no_failing_rows(),
            n > 0,
            serde_json::json!(n),
            if n > 0 { format!("{of} {verb} a `{col}` not matching `{}`", r.pattern) } else { format!("every `{col}` matches `{}`", r.pattern) },
        ),
        CheckKind::EmptyRate(r) => {
            let x = rate(n, rows);
            (
                bounds_json(None, Some(r.max)),
                x > r.max,
                serde_json::json!(round6(x)),
                format!("{of} ({:.3}%) {verb} an empty `{col}`; at most {}% allowed", x * 100.0, fmt_num(r.max * 100.0)),
            )
        }
        _ => (serde_json::Value::Null, false, serde_json::Value::Null, String::new()),
    };
    Measured { measure: n as f64, default_fail, observed, failing_rows: Some(n), threshold, message }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `unique` and `duplicate_rate`: rows whose value repeats an earlier row's.
async fn duplicates(ctx: &SessionContext, u: &Unit<'_>, schema: &Schema) -> Result<Measured, String> {
    let col = u.column.as_deref().unwrap_or("");
    let field = schema.field_with_name(col).map_err(|e| e.to_string())?;
    let q = quote_ident(col);
    // Long strings (document text) are compared by digest, which bounds the memory of the distinct
    // set; an md5 collision between different documents is not a practical concern here.
    let key = if is_string(field.data_type()) { format!("md5({q})") } else { q.clone() };
    let sql = format!("SELECT count(*) AS n, count({q}) AS present, count(DISTINCT {key}) AS distinct_values FROM output");
    let df = crate::plan::query(ctx, &sql).await.map_err(|e| e.to_string())?;
    let b = one_row(df).await?;
    let rows = scalar_i64(&b, 0).unwrap_or(0).max(0) as u64;
    let present = scalar_i64(&b, 1).unwrap_or(0).max(0) as u64;
    let distinct = scalar_i64(&b, 2).unwrap_or(0).max(0) as u64;
    let n = present.saturating_sub(distinct);
    let verb = if n == 1 { "repeats" } else { "repeat" };
    Ok(match &u.spec.kind {
        CheckKind::DuplicateRate(r) => {
            let x = rate(n, rows);
            Measured {
                measure: n as f64,
                default_fail: x > r.max,
                observed: serde_json::json!(round6(x)),
                failing_rows: Some(n),
                threshold: bounds_json(None, Some(r.max)),
                message: format!("{n} of {rows} {} ({:.3}%) {verb} an earlier `{col}`; at most {}% allowed", rows_word(rows), x * 100.0, fmt_num(r.max * 100.0)),
            }
        }
        _ => Measured {
            measure: n as f64,
            default_fail: n > 0,
            observed: serde_json::json!(n),
            failing_rows: Some(n),
            threshold: no_failing_rows(),
            message: if n > 0 { format!("{n} of {rows} {} {verb} an earlier `{col}`", rows_word(rows)) } else { format!("every `{col}` is unique") },
        },
    })
}

/// Contract type names: Arrow's own (`Utf8`, `UInt32`, `Timestamp(Microsecond, None)`), any case,
/// plus the common SQL spellings.
fn contract_type(name: &str) -> Option<DataType> {
    if let Ok(t) = DataType::from_str(name.trim()) {
        return Some(t);
    }
    let t = match name.trim().to_ascii_lowercase().as_str() {
        "utf8" | "string" | "str" | "text" | "varchar" => DataType::Utf8,
        "largeutf8" | "large_utf8" | "large_string" => DataType::LargeUtf8,
        "utf8view" | "utf8_view" | "string_view" => DataType::Utf8View,
        "bool" | "boolean" => DataType::Boolean,
        "int8" | "tinyint" => DataType::Int8,
        "int16" | "smallint" => DataType::Int16,
        "int32" | "int" | "integer" => DataType::Int32,
        "int64" | "bigint" | "long" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "float16" | "half" => DataType::Float16,
        "float32" | "float" | "real" => DataType::Float32,
        "float64" | "double" => DataType::Float64,
        "binary" | "bytes" => DataType::Binary,
        "date32" | "date" => DataType::Date32,
        _ => return None,
    };
    Some(t)
}

/// The measure is the number of listed columns that are missing or of another type.
fn schema_measure(contract: &millrace_spec::SchemaContract, schema: &Schema) -> Measured {
    let mut problems = Vec::new();
    for (col, want) in &contract.0 {
        let actual = schema.field_with_name(col).ok().map(|f| f.data_type().clone());
        match (contract_type(want), actual) {
            (None, _) => problems.push(format!("`{col}`: `{want}` is not an Arrow type")),
            (_, None) => problems.push(format!("`{col}` is missing")),
            (Some(w), Some(a)) if w != a => problems.push(format!("`{col}` is {a}, expected {w}")),
            _ => {}
        }
    }
    let listed = contract.0.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
    let n = problems.len();
    Measured {
        measure: n as f64,
        default_fail: n > 0,
        observed: serde_json::json!(n),
        failing_rows: None,
        threshold: serde_json::json!({"max": 0}),
        message: if n == 0 { format!("all {} columns match the contract ({listed})", contract.0.len()) } else { format!("{} ({listed})", problems.join("; ")) },
    }
}

async fn sql_measure(ctx: &SessionContext, s: &millrace_spec::SqlCheck) -> Result<Measured, String> {
    let df = crate::plan::query(ctx, &s.query).await.map_err(|e| e.to_string())?;
    if s.is_scalar() {
        let b = one_row(df).await.map_err(|e| format!("a `sql` check with min/max must return one number: {e}"))?;
        if b.num_columns() != 1 {
            return Err(format!("a `sql` check with min/max must return one column, got {}", b.num_columns()));
        }
        let v = scalar_f64(&b, 0).ok_or_else(|| format!("the query returned NULL or a non-number ({})", b.schema().field(0).data_type()))?;
        let expected = match (s.min, s.max) {
            (Some(a), Some(b)) => format!("between {} and {}", fmt_num(a), fmt_num(b)),
            (Some(a), None) => format!("at least {}", fmt_num(a)),
            (None, Some(b)) => format!("at most {}", fmt_num(b)),
            (None, None) => String::new(),
        };
        let fail = s.min.is_some_and(|a| v < a) || s.max.is_some_and(|b| v > b);
        Ok(Measured {
            measure: v,
            default_fail: fail,
            observed: num_json(v),
            failing_rows: None,
            threshold: bounds_json(s.min, s.max),
            message: if fail { format!("the query returned {}; expected {expected}", fmt_num(v)) } else { format!("the query returned {}", fmt_num(v)) },
        })
    } else {
        let n = df.count().await.map_err(|e| e.to_string())? as u64;
        Ok(Measured {
            measure: n as f64,
            default_fail: n > 0,
            observed: serde_json::json!(n),
            failing_rows: Some(n),
            threshold: no_failing_rows(),
            message: if n > 0 { format!("the query returned {n} failing {}", rows_word(n)) } else { "the query returned no rows".into() },
        })
    }
}

/// Applies severity and warn_if/error_if (dbt's rules) to a measurement.
fn decide(u: &Unit<'_>, m: Result<Measured, String>, rows: u64) -> CheckResult {
    let spec = u.spec;
    let mut r = CheckResult {
        name: u.name.clone(),
        kind: spec.kind.key().to_string(),
        severity: spec.severity.into(),
        column: u.column.clone(),
        ..Default::default()
    };
    let m = match m {
        Ok(m) => m,
        Err(e) => {
            r.status = CheckStatus::Error;
            r.message = format!("check could not be evaluated: {e}");
            r.threshold = threshold_json(spec, serde_json::Value::Null);
            return r;
        }
    };
    let error_hit = spec.error_if.map(|t| t.holds(m.measure, rows)).unwrap_or(m.default_fail);
    let warn_hit = spec.warn_if.map(|t| t.holds(m.measure, rows)).unwrap_or(m.default_fail);
    r.status = match spec.severity {
        CheckSeverity::Error if error_hit => CheckStatus::Fail,
        _ if warn_hit || error_hit => CheckStatus::Warn,
        _ => CheckStatus::Pass,
    };
    r.observed = m.observed;
    r.threshold = threshold_json(spec, m.threshold);
    r.failing_rows = m.failing_rows;
    r.message = m.message;
    r
}

/// The check's own condition, or the warn_if/error_if conditions that replace it.
fn threshold_json(spec: &CheckSpec, own: serde_json::Value) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let Some(t) = &spec.error_if {
        m.insert("error_if".into(), t.to_string().into());
    }
    if let Some(t) = &spec.warn_if {
        m.insert("warn_if".into(), t.to_string().into());
    }
    if m.is_empty() { own } else { serde_json::Value::Object(m) }
}

/// Compact text of a result value for the terminal table: `{"min": 5, "max": 9}` -> `>= 5, <= 9`.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = cell(v);
                match k.as_str() {
                    "min" => format!(">= {v}"),
                    "max" => format!("<= {v}"),
                    _ => format!("{k} {v}"),
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// File-name-safe form of a check name.
fn slug(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "check".into() } else { s }
}

/// Writes up to `cap` failing rows of one check as `<store>/<NN>-<name>.parquet`.
async fn store_failures(
    ctx: &SessionContext,
    table: &DataFrame,
    u: &Unit<'_>,
    pred: Option<Expr>,
    store: &Location,
    index: usize,
    cap: usize,
) -> Result<Option<String>, GovernanceError> {
    let df = match (&u.spec.kind, pred) {
        (_, Some(p)) => table.clone().filter(p)?,
        (CheckKind::Unique(_) | CheckKind::DuplicateRate(_), _) => {
            let q = quote_ident(u.column.as_deref().unwrap_or(""));
            crate::plan::query(&ctx, &format!(
                "SELECT * FROM output WHERE {q} IN (SELECT {q} FROM output WHERE {q} IS NOT NULL GROUP BY {q} HAVING count(*) > 1) ORDER BY {q}"
            ))
            .await?
        }
        (CheckKind::Sql(s), _) if !s.is_scalar() => crate::plan::query(ctx, &s.query).await?,
        _ => return Ok(None),
    };
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.limit(0, Some(cap))?.collect().await?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None).map_err(|e| GovernanceError::Write { url: store.url(), message: e.to_string() })?;
    for b in &batches {
        w.write(b).map_err(|e| GovernanceError::Write { url: store.url(), message: e.to_string() })?;
    }
    w.close().map_err(|e| GovernanceError::Write { url: store.url(), message: e.to_string() })?;
    let loc = store.child(&format!("{index:02}-{}.parquet", slug(&u.name)));
    loc.store.put(&loc.path, PutPayload::from(buf)).await.map_err(|e| GovernanceError::Write { url: loc.url(), message: e.to_string() })?;
    Ok(Some(loc.url()))
}

/// Renders results as an aligned plain-text table.
pub fn results_table(results: &[CheckResult]) -> String {
    let rows: Vec<[String; 6]> = results
        .iter()
        .map(|r| {
            [
                r.status.as_str().to_uppercase(),
                r.severity.as_str().to_string(),
                r.name.clone(),
                cell(&r.observed),
                cell(&r.threshold),
                r.message.clone(),
            ]
        })
        .collect();
    let header = ["STATUS", "SEVERITY", "CHECK", "OBSERVED", "THRESHOLD", "MESSAGE"];
    // Long observed values (a schema's types) and rules are clipped; the message column is last and
    // never clipped.
    let caps = [6, 8, 40, 12, 30];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for ((w, c), cap) in widths.iter_mut().zip(row.iter()).zip(caps) {
            *w = (*w).max(c.chars().count().min(cap));
        }
    }
    let clip = |s: &str, w: usize| -> String {
        if s.chars().count() <= w { format!("{s:<w$}") } else { format!("{}…", s.chars().take(w.saturating_sub(1)).collect::<String>()) }
    };
    let mut s = String::new();
    let line = |cells: [&str; 6], s: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i < 5 {
                l.push_str(&clip(c, widths[i]));
                l.push_str("  ");
            } else {
                l.push_str(c);
            }
        }
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(header, &mut s);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]], &mut s);
    }
    let count = |st: CheckStatus| results.iter().filter(|r| r.status == st).count();
    s.push_str(&format!(
        "{} checks: {} passed, {} warned, {} failed, {} errored\n",
        results.len(),
        count(CheckStatus::Pass),
        count(CheckStatus::Warn),
        count(CheckStatus::Fail),
        count(CheckStatus::Error)
    ));
    s
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

    #[test]
    fn contract_types() {
        assert_eq!(contract_type("UInt32"), Some(DataType::UInt32));
        assert_eq!(contract_type("string"), Some(DataType::Utf8));
        assert_eq!(contract_type("Utf8"), Some(DataType::Utf8));
        assert_eq!(contract_type("Strng"), None);
    }

    fn spec(json: &str) -> CheckSpec {
        serde_json::from_str(json).expect("check")
    }

    fn measured(measure: f64, default_fail: bool) -> Measured {
        Measured { measure, default_fail, observed: measure.into(), failing_rows: Some(measure as u64), threshold: serde_json::Value::Null, message: "m".into() }
    }

    #[test]
    fn severity_and_thresholds_follow_dbt() {
        let c = spec(r#"{"unique": ["id"], "warn_if": "> 0", "error_if": "> 10"}"#);
        let u = Unit { spec: &c, name: "u".into(), column: Some("id".into()) };
        assert_eq!(decide(&u, Ok(measured(0.0, false)), 100).status, CheckStatus::Pass);
        assert_eq!(decide(&u, Ok(measured(3.0, true)), 100).status, CheckStatus::Warn);
        assert_eq!(decide(&u, Ok(measured(11.0, true)), 100).status, CheckStatus::Fail);
        let w = spec(r#"{"not_null": ["id"], "severity": "warn"}"#);
        let u = Unit { spec: &w, name: "w".into(), column: Some("id".into()) };
        assert_eq!(decide(&u, Ok(measured(5.0, true)), 100).status, CheckStatus::Warn);
        assert_eq!(decide(&u, Err("boom".into()), 100).status, CheckStatus::Error);
        // Only error_if given: like dbt, the warning condition stays the check's own rule, so 5 nulls
        // in 100 rows warn and 6 fail.
        let p = spec(r#"{"not_null": "id", "error_if": "> 5%"}"#);
        let u = Unit { spec: &p, name: "p".into(), column: Some("id".into()) };
        assert_eq!(decide(&u, Ok(measured(0.0, false)), 100).status, CheckStatus::Pass);
        assert_eq!(decide(&u, Ok(measured(5.0, true)), 100).status, CheckStatus::Warn);
        assert_eq!(decide(&u, Ok(measured(6.0, true)), 100).status, CheckStatus::Fail);
    }

    #[test]
    fn verdicts() {
        let r = |s| CheckResult { status: s, ..Default::default() };
        assert_eq!(verdict(&[r(CheckStatus::Pass)]), Verdict::Pass);
        assert_eq!(verdict(&[r(CheckStatus::Pass), r(CheckStatus::Warn)]), Verdict::Warn);
        assert_eq!(verdict(&[r(CheckStatus::Warn), r(CheckStatus::Error)]), Verdict::Fail);
        assert_eq!(verdict(&[]), Verdict::Pass);
    }
}
