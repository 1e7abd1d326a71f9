//! Evaluating compiled checks: row-predicate checks (`not_null`, `accepted_values`, `range`,
//! `regex`, `empty_rate`) together in one aggregate pass; `unique`/`duplicate_rate` and `sql` checks
//! one query each. A check that cannot be evaluated (missing column, wrong type, SQL that does not
//! plan) gets status `error`, which gates like a failure: a broken check never reads as "all good".

use crate::GovernanceError;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::prelude::{DataFrame, Expr, SessionContext, ident, lit, when};
use millrace_connectors::store::Location;
use millrace_report::{CheckResult, CheckStatus};
use millrace_spec::{CheckKind, CheckSeverity, CheckSpec};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use crate::compile::*;
use crate::failures::store_failures;
use crate::output::CommittedOutput;

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
    let df = millrace_engine::sql::query(ctx, &sql).await.map_err(|e| e.to_string())?;
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
    let df = millrace_engine::sql::query(ctx, &s.query).await.map_err(|e| e.to_string())?;
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


#[cfg(test)]
mod tests {
    use super::*;

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
}
