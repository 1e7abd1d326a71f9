//! Compiling checks: one unit per check and column, and the row predicate of each row check.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::Field;
use datafusion::prelude::{Expr, ident, lit};
use millrace_spec::{CheckKind, CheckSpec};
use std::ops::Not;
use std::sync::Arc;
/// One result to produce: a check, and for per-column kinds, one of its columns.
pub(crate) struct Unit<'a> {
    pub(crate) spec: &'a CheckSpec,
    pub(crate) name: String,
    pub(crate) column: Option<String>,
}

/// What evaluating a unit measured, before thresholds are applied.
pub(crate) struct Measured {
    /// The number thresholds compare (failing rows, row count, mismatches or the query's value).
    pub(crate) measure: f64,
    /// Does the check's own rule (without warn_if/error_if) call this a failure?
    pub(crate) default_fail: bool,
    pub(crate) observed: serde_json::Value,
    pub(crate) failing_rows: Option<u64>,
    /// The check's own pass condition, as the report shows it (`{"max": 0}`, `{"min": 1000}`).
    pub(crate) threshold: serde_json::Value,
    pub(crate) message: String,
}

pub(crate) fn expand(checks: &[CheckSpec]) -> Vec<Unit<'_>> {
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

pub(crate) use millrace_engine::udf::is_string;

pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The row predicate of a row check: true for a failing row.
pub(crate) fn predicate(unit: &Unit<'_>, field: &Field) -> Result<Expr, String> {
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

pub(crate) fn is_row_check(k: &CheckKind) -> bool {
    matches!(k, CheckKind::NotNull(_) | CheckKind::AcceptedValues(_) | CheckKind::Range(_) | CheckKind::Regex(_) | CheckKind::EmptyRate(_))
}

