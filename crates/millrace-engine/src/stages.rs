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

use crate::cut::{Mode, barrier, cut, tap};
use crate::metrics::StageMetrics;
use crate::udf::{make_udf, map_text, strings, struct_of, struct_type};
use crate::{EngineError, REJECT_COLUMN, Result};
use millrace_connectors::BoxError;
use datafusion::arrow::array::{Array, ArrayRef, Float32Builder, ListBuilder, StringBuilder, UInt32Builder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{ident, lit, when};
use datafusion::prelude::{SessionContext, coalesce};
use millrace_spec::{LoadedSpec, Stage};
use millrace_text::PiiKind;
use std::collections::HashMap;
use std::sync::Arc;

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
                let tok = millrace_tokenise::Tokeniser::new(&t.params()).map_err(|e| stage_err(i, "tokenise", e.into()))?;
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

fn stage_err(index: usize, kind: &str, source: BoxError) -> EngineError {
    EngineError::Stage { index: index + 1, kind: kind.into(), source }
}

fn has_column(df: &DataFrame, name: &str) -> bool {
    df.schema().fields().iter().any(|f| f.name() == name)
}

/// Funnel step of spec stage `index` in [`crate::metrics::EpochCounters::steps`].
fn step(index: usize) -> usize {
    index + 1
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
        let err = |e: BoxError| stage_err(index, kind, e);
        // Rows rejected so far leave before the next stage spends work on them.
        df = cut(ctx, df, mode).await?;
        match &stage.value {
            Stage::Sql(query) => {
                df = cut(ctx, df, mode).await?;
                ctx.deregister_table("input").map_err(|e| err(e.into()))?;
                ctx.register_table("input", df.into_view()).map_err(|e| err(e.into()))?;
                df = crate::sql::query(ctx, query).await.map_err(|e| {
                    EngineError::Sql { index: index + 1, line: stage.referenced.line(), column: stage.referenced.column(), source: e }
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
            Stage::Filter(f) => df = filter(ctx, df, &text, f, mode).await.map_err(|e| err(e.into()))?,
            Stage::Tokenise(t) => {
                let tok = env.tokenisers.get(&index).cloned().ok_or_else(|| err("tokenizer not loaded".into()))?;
                df = tokenise(ctx, df, &text, tok, t.token_ids || env.want_token_ids, &env.metrics, mode).await?;
            }
            Stage::Dedupe(_) => {
                df = cut(ctx, df, mode).await?;
                if let (Mode::Run { rejects, counters, epoch }, Some(state)) = (mode, env.dedupe.get(&index)) {
                    let at = crate::dedupe::At { rejects, counters, epoch: *epoch, step: step(index) };
                    df = crate::dedupe::dedupe(ctx, df, &text, state.clone(), at, &env.metrics).await.map_err(|e| err(e.into()))?;
                }
            }
        }
        df = tap(ctx, df, mode, step(index)).await?;
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
    fields.extend(PiiKind::REPORTED.iter().map(|k| (k.name(), DataType::UInt32)));
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
                        for (i, k) in PiiKind::REPORTED.iter().enumerate() {
                            counts[i].append_value(r.counts.get(*k));
                        }
                        m.add_pii(&r.counts);
                    }
                    None => {
                        tb.append_null();
                        counts.iter_mut().for_each(|c| c.append_null());
                    }
                }
            }
            let mut cols: Vec<(&str, ArrayRef)> = vec![("text", Arc::new(tb.finish()))];
            for (k, mut c) in PiiKind::REPORTED.iter().zip(counts) {
                cols.push((k.name(), Arc::new(c.finish())));
            }
            struct_of(cols)
        }),
    );
    let mut df = barrier(ctx, df.with_column("_pii", udf.call(vec![ident(text)]))?, mode).await?;
    df = extract(df, text, "_pii", "text")?;
    for k in PiiKind::REPORTED {
        df = extract(df, &format!("pii_{}", k.name()), "_pii", k.name())?;
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

async fn filter(ctx: &SessionContext, df: DataFrame, text: &str, f: &millrace_spec::FilterStage, mode: &Mode<'_>) -> Result<DataFrame> {
    {
        let mut df = with_reject_column(df)?;
        let specs = f.quality_specs();
        if !specs.is_empty() || f.languages.is_some() {
            let pipeline = millrace_quality::QualityPipeline::new(&specs).map_err(|e| EngineError::Plan(DataFusionError::External(e.into())))?;
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
    }
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

