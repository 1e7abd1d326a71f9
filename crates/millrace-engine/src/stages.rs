//! Spec stages as DataFrame transformations.
//!
//! Row-wise stages (clean, normalise, redact_pii, detect_language, tokenise) replace or add columns
//! through the UDFs of [`crate::udf`]. Stages that reject rows (filter) never drop them: they set the
//! `_reject` column to a reason, and the rows are split off to the rejects sink at the next *cut*:
//! before a `sql:` stage (so user SQL sees only live rows), before dedupe, and when writing. A cut
//! executes the plan so far and feeds its output, minus rejected rows, to a new streaming table;
//! it is lazy, so the whole epoch still streams. Dedupe is a blocking cut: it spills the epoch's live
//! rows to Arrow IPC files while sketching them, clusters, and then replays the spill with the
//! duplicates sent to the rejects sink.

pub use crate::udf::strings;
use crate::udf::{make_udf, map_text, struct_of, struct_type};
use crate::{EngineError, REJECT_COLUMN, Result};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Builder, ListBuilder, RecordBatch, StringArray, StringBuilder, UInt32Builder,
};
use datafusion::arrow::compute::{filter_record_batch, not};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{ident, lit, when};
use datafusion::physical_plan::execute_stream_partitioned;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionContext, coalesce};
use futures::StreamExt;
pub use millrace_connectors::reject::row_json;
use millrace_connectors::reject::{Reject, RejectSender};
use millrace_spec::{LoadedSpec, Stage};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters and state of stages, shared by every epoch of a run.
#[derive(Default)]
pub struct StageMetrics {
    pub pii: [AtomicU64; 5],
    pub tokens: Mutex<millrace_tokenise::TokenStats>,
    pub dedupe_exact: AtomicU64,
    pub dedupe_minhash: AtomicU64,
    pub dedupe_cross_run: AtomicU64,
}

pub const PII_KINDS: [&str; 5] = ["email", "ip", "phone", "credit_card", "iban"];

/// What a run resolves once for its stages.
pub struct StageEnv {
    pub text_field: String,
    /// One loaded tokenizer per tokenise stage, by stage index.
    pub tokenisers: HashMap<usize, Arc<millrace_tokenise::Tokeniser>>,
    /// Whether tokenise stages must also emit `token_ids` (a megatron sink needs them).
    pub want_token_ids: bool,
    pub metrics: Arc<StageMetrics>,
    pub dedupe: HashMap<usize, Arc<crate::dedupe::DedupeState>>,
}

impl StageEnv {
    pub fn new(spec: &LoadedSpec) -> Result<Self> {
        let mut tokenisers = HashMap::new();
        for (i, s) in spec.spec.stages.iter().enumerate() {
            if let Stage::Tokenise(t) = &s.value {
                let tok = millrace_tokenise::Tokeniser::new(&t.params()).map_err(|e| EngineError::Stage {
                    index: i + 1,
                    kind: "tokenise".into(),
                    message: e.to_string(),
                })?;
                tokenisers.insert(i, Arc::new(tok));
            }
        }
        let want_token_ids = spec.spec.sinks.iter().any(|s| s.value.megatron.is_some());
        Ok(Self {
            text_field: spec.spec.source.text_field.clone(),
            tokenisers,
            want_token_ids,
            metrics: Arc::default(),
            dedupe: HashMap::new(),
        })
    }

    /// The Megatron token width: from the first tokenizer's vocabulary.
    pub fn megatron_dtype(&self) -> Option<millrace_tokenise::MegatronDtype> {
        self.tokenisers.values().next().map(|t| t.megatron_dtype())
    }
}

/// How stages run: for `explain`, cuts are expressed as plain filters and nothing executes.
pub enum Mode<'a> {
    Explain,
    Run { rejects: &'a RejectSender, counters: &'a Arc<crate::run::EpochCounters>, epoch: u64 },
}

fn stage_err(index: usize, kind: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Stage { index: index + 1, kind: kind.into(), message: e.to_string() }
}

fn has_column(df: &DataFrame, name: &str) -> bool {
    df.schema().fields().iter().any(|f| f.name() == name)
}

fn with_reject_column(df: DataFrame) -> Result<DataFrame> {
    if has_column(&df, REJECT_COLUMN) {
        return Ok(df);
    }
    Ok(df.with_column(REJECT_COLUMN, lit(ScalarValue::Utf8(None)))?)
}

pub async fn apply_stages(ctx: &SessionContext, mut df: DataFrame, spec: &LoadedSpec, env: &StageEnv, mode: &Mode<'_>) -> Result<DataFrame> {
    let text = env.text_field.clone();
    for (index, stage) in spec.spec.stages.iter().enumerate() {
        let kind = stage.value.kind();
        let err = |e: &dyn std::fmt::Display| stage_err(index, kind, e);
        // Rows rejected so far leave before the next stage spends work on them.
        df = cut(ctx, df, mode).await?;
        match &stage.value {
            Stage::Sql(query) => {
                df = cut(ctx, df, mode).await?;
                ctx.deregister_table("input").map_err(|e| err(&e))?;
                ctx.register_table("input", df.into_view()).map_err(|e| err(&e))?;
                df = crate::plan::query(ctx, query).await.map_err(|e| {
                    err(&format!("{e} (spec line {}, column {})", stage.referenced.line(), stage.referenced.column()))
                })?;
            }
            Stage::Clean(p) => {
                let p = p.clone();
                let udf = map_text("clean", crate::udf::key(&p), move |t| millrace_text::clean(t, &p));
                df = df.with_column(&text, udf.call(vec![ident(&text)]))?;
            }
            Stage::Normalise(p) => {
                let p = p.clone();
                let udf = map_text("normalise", crate::udf::key(&p), move |t| millrace_text::normalise(t, &p));
                df = df.with_column(&text, udf.call(vec![ident(&text)]))?;
            }
            Stage::RedactPii(p) => df = redact_pii(ctx, df, &text, p, &env.metrics, mode).await?,
            Stage::DetectLanguage(p) => df = detect_language(ctx, df, &text, p, mode).await?,
            Stage::Filter(f) => df = filter(ctx, df, &text, f, mode).await.map_err(|e| err(&e))?,
            Stage::Tokenise(t) => {
                let tok = env.tokenisers.get(&index).cloned().ok_or_else(|| err(&"tokenizer not loaded"))?;
                df = tokenise(ctx, df, &text, tok, t.token_ids || env.want_token_ids, &env.metrics, mode).await?;
            }
            Stage::Dedupe(_) => {
                df = cut(ctx, df, mode).await?;
                if let (Mode::Run { rejects, counters, epoch }, Some(state)) = (mode, env.dedupe.get(&index)) {
                    df = crate::dedupe::dedupe(ctx, df, &text, state.clone(), rejects, counters, *epoch, &env.metrics).await.map_err(|e| err(&e))?;
                }
            }
        }
    }
    Ok(df)
}

/// Moves a struct field into its own column, replacing a column of that name. The old column is
/// dropped first: DataFusion's leaf-projection pushdown otherwise sees the qualified source column
/// and the new unqualified one side by side and rejects the plan as ambiguous.
fn extract(df: DataFrame, name: &str, struct_col: &str, field: &str) -> Result<DataFrame> {
    let df = if has_column(&df, name) { df.drop_columns(&[name])? } else { df };
    Ok(df.with_column(name, get_field(ident(struct_col), field))?)
}

async fn redact_pii(ctx: &SessionContext, df: DataFrame, text: &str, p: &millrace_text::PiiParams, metrics: &Arc<StageMetrics>, mode: &Mode<'_>) -> Result<DataFrame> {
    let p = p.clone();
    let m = metrics.clone();
    let mut fields = vec![("text", DataType::Utf8)];
    fields.extend(PII_KINDS.iter().map(|k| (*k, DataType::UInt32)));
    let udf = make_udf(
        "redact_pii",
        crate::udf::key(&p),
        1,
        struct_type(&fields),
        Arc::new(move |args| {
            let s = strings(&args[0])?;
            let mut tb = StringBuilder::with_capacity(s.len(), s.value_data().len());
            let mut counts: Vec<UInt32Builder> = (0..5).map(|_| UInt32Builder::with_capacity(s.len())).collect();
            for t in s.iter() {
                match t {
                    Some(t) => {
                        let r = millrace_text::redact_pii(t, &p);
                        tb.append_value(&r.text);
                        let c = [r.counts.email, r.counts.ip, r.counts.phone, r.counts.credit_card, r.counts.iban];
                        for (i, n) in c.iter().enumerate() {
                            counts[i].append_value(*n);
                            m.pii[i].fetch_add(*n as u64, Ordering::Relaxed);
                        }
                    }
                    None => {
                        tb.append_null();
                        counts.iter_mut().for_each(|c| c.append_null());
                    }
                }
            }
            let mut cols: Vec<(&str, ArrayRef)> = vec![("text", Arc::new(tb.finish()))];
            for (k, mut c) in PII_KINDS.iter().zip(counts) {
                cols.push((k, Arc::new(c.finish())));
            }
            struct_of(cols)
        }),
    );
    let mut df = barrier(ctx, df.with_column("_pii", udf.call(vec![ident(text)]))?, mode).await?;
    df = extract(df, text, "_pii", "text")?;
    for k in PII_KINDS {
        df = extract(df, &format!("pii_{k}"), "_pii", k)?;
    }
    Ok(df.drop_columns(&["_pii"])?)
}

async fn detect_language(ctx: &SessionContext, df: DataFrame, text: &str, p: &millrace_text::LangIdParams, mode: &Mode<'_>) -> Result<DataFrame> {
    let p = p.clone();
    let udf = make_udf(
        "detect_language",
        crate::udf::key(&p),
        1,
        struct_type(&[("lang", DataType::Utf8), ("lang_score", DataType::Float32)]),
        Arc::new(move |args| {
            let s = strings(&args[0])?;
            let mut lb = StringBuilder::with_capacity(s.len(), s.len() * 2);
            let mut sb = Float32Builder::with_capacity(s.len());
            for t in s.iter() {
                match t.and_then(|t| millrace_text::detect_language(t, &p)) {
                    Some((l, sc)) => {
                        lb.append_value(l);
                        sb.append_value(sc);
                    }
                    None => {
                        lb.append_null();
                        sb.append_value(0.0);
                    }
                }
            }
            struct_of(vec![("lang", Arc::new(lb.finish())), ("lang_score", Arc::new(sb.finish()))])
        }),
    );
    let df = barrier(ctx, df.with_column("_lang", udf.call(vec![ident(text)]))?, mode).await?;
    let df = extract(df, "lang", "_lang", "lang")?;
    let df = extract(df, "lang_score", "_lang", "lang_score")?;
    Ok(df.drop_columns(&["_lang"])?)
}

async fn filter(ctx: &SessionContext, df: DataFrame, text: &str, f: &millrace_spec::FilterStage, mode: &Mode<'_>) -> std::result::Result<DataFrame, String> {
    let go = async || -> Result<DataFrame> {
        let mut df = with_reject_column(df)?;
        let specs = f.quality_specs();
        if !specs.is_empty() || f.languages.is_some() {
            let pipeline = millrace_quality::QualityPipeline::new(&specs).map_err(|e| EngineError::Stage { index: 0, kind: "filter".into(), message: e.to_string() })?;
            let langs = f.languages.clone();
            let udf = make_udf(
                "quality_filter",
                crate::udf::key(&f),
                2,
                struct_type(&[("reason", DataType::Utf8), ("text", DataType::Utf8)]),
                Arc::new(move |args| {
                    let s = strings(&args[0])?;
                    let prior = strings(&args[1])?;
                    let mut rb = StringBuilder::new();
                    let mut tb = StringBuilder::new();
                    for (t, rejected) in s.iter().zip(prior.iter()) {
                        // Rows already rejected by an earlier stage are not evaluated again.
                        let (reason, new_text) = match (t, rejected) {
                            (Some(t), None) => {
                                let lang = langs.as_ref().map(|l| millrace_text::filter_language(t, l));
                                match lang {
                                    Some(d) if !d.keep => (Some(format!("language:{}", d.lang.unwrap_or("undetected"))), None),
                                    _ => {
                                        let o = pipeline.run(t);
                                        (o.decision.reason().map(|r| r.to_string()), o.text)
                                    }
                                }
                            }
                            _ => (None, None),
                        };
                        rb.append_option(reason);
                        tb.append_option(new_text);
                    }
                    struct_of(vec![("reason", Arc::new(rb.finish())), ("text", Arc::new(tb.finish()))])
                }),
            );
            df = barrier(ctx, df.with_column("_filter", udf.call(vec![ident(text), ident(REJECT_COLUMN)]))?, mode).await?;
            df = df.with_column(text, coalesce(vec![get_field(ident("_filter"), "text"), ident(text)]))?;
            df = df.with_column(REJECT_COLUMN, coalesce(vec![ident(REJECT_COLUMN), get_field(ident("_filter"), "reason")]))?;
            df = df.drop_columns(&["_filter"])?;
        }
        if let Some(pred) = &f.predicate {
            let p = df.parse_sql_expr(pred)?;
            let reason = when(p.is_true(), lit(ScalarValue::Utf8(None))).otherwise(lit("filter:where"))?;
            df = df.with_column(REJECT_COLUMN, coalesce(vec![ident(REJECT_COLUMN), reason]))?;
        }
        Ok(df)
    };
    go().await.map_err(|e| e.to_string())
}

async fn tokenise(
    ctx: &SessionContext,
    df: DataFrame,
    text: &str,
    tok: Arc<millrace_tokenise::Tokeniser>,
    ids: bool,
    metrics: &Arc<StageMetrics>,
    mode: &Mode<'_>,
) -> Result<DataFrame> {
    let list_type = DataType::List(Arc::new(Field::new("item", DataType::UInt32, true)));
    let mut fields = vec![("n_tokens", DataType::UInt32)];
    if ids {
        fields.push(("token_ids", list_type));
    }
    let m = metrics.clone();
    let udf = make_udf(
        "tokenise",
        crate::udf::key(&(ids, tok.vocab_size())),
        1,
        struct_type(&fields),
        Arc::new(move |args| {
            let s = strings(&args[0])?;
            let texts: Vec<Option<&str>> = s.iter().collect();
            let encoded = tok.encode_batch_opt(&texts).map_err(|e| DataFusionError::Execution(format!("tokenise: {e}")))?;
            let mut nb = UInt32Builder::with_capacity(s.len());
            let mut lb = ListBuilder::new(UInt32Builder::new());
            let mut stats = millrace_tokenise::TokenStats::default();
            for e in &encoded {
                match e {
                    Some(v) => {
                        nb.append_value(v.len() as u32);
                        stats.add(v.len() as u64);
                        if ids {
                            lb.values().append_slice(v);
                            lb.append(true);
                        }
                    }
                    None => {
                        nb.append_null();
                        if ids {
                            lb.append(false);
                        }
                    }
                }
            }
            if let Ok(mut g) = m.tokens.lock() {
                g.merge(&stats);
            }
            let mut cols: Vec<(&str, ArrayRef)> = vec![("n_tokens", Arc::new(nb.finish()))];
            if ids {
                cols.push(("token_ids", Arc::new(lb.finish())));
            }
            struct_of(cols)
        }),
    );
    let mut df = barrier(ctx, df.with_column("_tok", udf.call(vec![ident(text)]))?, mode).await?;
    df = extract(df, "n_tokens", "_tok", "n_tokens")?;
    if ids {
        df = extract(df, "token_ids", "_tok", "token_ids")?;
    }
    Ok(df.drop_columns(&["_tok"])?)
}

/// Executes the plan so far and continues from its live rows; rejected rows leave for the rejects
/// sink. In explain mode it is the equivalent filter, so the printed plan stays whole.
pub async fn cut(ctx: &SessionContext, df: DataFrame, mode: &Mode<'_>) -> Result<DataFrame> {
    if !has_column(&df, REJECT_COLUMN) {
        return Ok(df);
    }
    match mode {
        Mode::Explain => Ok(df.filter(ident(REJECT_COLUMN).is_null())?.drop_columns(&[REJECT_COLUMN])?),
        Mode::Run { rejects, counters, .. } => {
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let keep: Vec<usize> = (0..schema.fields().len()).filter(|i| schema.field(*i).name() != REJECT_COLUMN).collect();
            let out_schema = Arc::new(schema.project(&keep)?);
            let plan = df.create_physical_plan().await?;
            let streams = execute_stream_partitioned(plan, ctx.task_ctx())?;
            let mut parts: Vec<Arc<dyn PartitionStream>> = Vec::new();
            for s in streams {
                let rejects = (*rejects).clone();
                let counters = (*counters).clone();
                let tapped = s.then(move |b| {
                    let rejects = rejects.clone();
                    let counters = counters.clone();
                    async move {
                        let b = b?;
                        split_rejects(b, &rejects, &counters).await.map_err(|e| DataFusionError::External(Box::new(e)))
                    }
                });
                let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(out_schema.clone(), tapped));
                parts.push(Arc::new(OnceStream::new(out_schema.clone(), stream)));
            }
            let table = StreamingTable::try_new(out_schema, parts)?;
            Ok(ctx.read_table(Arc::new(table))?)
        }
    }
}

/// Executes the plan so far and continues from its output unchanged. Placed after a UDF that returns
/// a struct, so that the optimizer cannot inline the UDF into each field extraction above it (which
/// would run it once per extracted field).
pub async fn barrier(ctx: &SessionContext, df: DataFrame, mode: &Mode<'_>) -> Result<DataFrame> {
    if matches!(mode, Mode::Explain) {
        return Ok(df);
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let plan = df.create_physical_plan().await?;
    let streams = execute_stream_partitioned(plan, ctx.task_ctx())?;
    let parts: Vec<Arc<dyn PartitionStream>> =
        streams.into_iter().map(|s| Arc::new(OnceStream::new(schema.clone(), s)) as Arc<dyn PartitionStream>).collect();
    Ok(ctx.read_table(Arc::new(StreamingTable::try_new(schema, parts)?))?)
}

/// A partition backed by a stream that already exists; it can be executed once.
pub struct OnceStream {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OnceStream {
    pub fn new(schema: SchemaRef, stream: SendableRecordBatchStream) -> Self {
        Self { schema, stream: Mutex::new(Some(stream)) }
    }
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnceStream")
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().ok().and_then(|mut g| g.take()) {
            Some(s) => s,
            None => {
                let err = futures::stream::once(async { Err(DataFusionError::Internal("a cut partition was executed twice".into())) });
                Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), err))
            }
        }
    }
}

/// Rows whose `_reject` is set go to the rejects sink with their reason; the rest continue without
/// the column.
pub async fn split_rejects(batch: RecordBatch, rejects: &RejectSender, counters: &crate::run::EpochCounters) -> Result<RecordBatch> {
    let Ok(idx) = batch.schema().index_of(REJECT_COLUMN) else {
        return Ok(batch);
    };
    let reasons = strings(batch.column(idx))?;
    let keep_cols: Vec<usize> = (0..batch.num_columns()).filter(|i| *i != idx).collect();
    let data = batch.project(&keep_cols)?;
    if reasons.null_count() == reasons.len() {
        return Ok(data);
    }
    let rejected_mask: BooleanArray = (0..reasons.len()).map(|i| Some(reasons.is_valid(i))).collect();
    let rejected = filter_record_batch(&data, &rejected_mask)?;
    let rejected_reasons = datafusion::arrow::compute::filter(&reasons, &rejected_mask)?;
    let rejected_reasons = strings(&rejected_reasons)?;
    let ids = rejected.column(0).as_any().downcast_ref::<StringArray>().cloned();
    for i in 0..rejected.num_rows() {
        let reason = rejected_reasons.value(i).to_string();
        send_reject(rejects, ids.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i).to_string()), reason, row_json(&rejected, i)).await;
    }
    counters.stage_rejected.fetch_add(rejected.num_rows() as u64, Ordering::Relaxed);
    Ok(filter_record_batch(&data, &not(&rejected_mask)?)?)
}

pub async fn send_reject(rejects: &RejectSender, id: Option<String>, reason: String, record: String) {
    let stage = reason.split(':').next().unwrap_or("stage").to_string();
    let capped = record.len() > millrace_connectors::reject::MAX_PAYLOAD;
    let r = Reject { id, stage, reason, ..Default::default() };
    let r = if capped { r.with_raw(record.as_bytes(), None) } else { Reject { record, ..r } };
    rejects.send(r).await;
}
