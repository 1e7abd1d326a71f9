//! The run's columns for JSON records (JSONL files, Kafka JSON payloads): sampled over several
//! inputs, conflicts widened instead of failing the run, grown per epoch in `evolve` mode, and the
//! fields a record has outside them rejected or captured in `_extra` (`source.schema.mode`).

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use millrace_spec::SchemaMode;
use std::collections::HashSet;
use std::sync::Arc;

/// The column that holds, in `capture_extra` mode, the fields of a record outside the schema.
pub const EXTRA_COLUMN: &str = "_extra";

/// The schema of sampled JSON objects. A type conflict between records (an object in one, a number
/// in another) makes that column a string instead of failing: the records that do not fit it are
/// then rejected one by one when read.
pub fn infer_values(values: &[serde_json::Value]) -> Schema {
    if let Ok(s) = arrow::json::reader::infer_json_schema_from_iterator(values.iter().map(Ok)) {
        return s;
    }
    // arrow refuses object-vs-scalar conflicts for the whole sample: infer record by record and
    // widen field by field.
    let mut fields: Vec<Field> = Vec::new();
    for v in values {
        let Ok(one) = arrow::json::reader::infer_json_schema_from_iterator(std::iter::once(Ok(v))) else { continue };
        merge_into(&mut fields, one.fields());
    }
    Schema::new(fields)
}

/// Adds `more` to `fields`: new names at the end, shared names widened.
fn merge_into(fields: &mut Vec<Field>, more: &Fields) {
    for f in more {
        match fields.iter_mut().find(|g| g.name() == f.name()) {
            Some(g) => *g = Field::new(g.name(), widen(g.data_type(), f.data_type()), true),
            None => fields.push(Field::new(f.name(), f.data_type().clone(), true)),
        }
    }
}

/// The narrowest type both inferred types fit, as arrow's inference coerces (integers and floats
/// to floats, scalars into lists), with structs merged and any other conflict a string.
fn widen(a: &DataType, b: &DataType) -> DataType {
    use DataType::*;
    match (a, b) {
        _ if a == b => a.clone(),
        (Null, o) | (o, Null) => o.clone(),
        (Int64, Float64) | (Float64, Int64) => Float64,
        (List(l), List(r)) => list_of(widen(l.data_type(), r.data_type())),
        (List(e), s) | (s, List(e)) if !matches!(s, Struct(_)) => list_of(widen(e.data_type(), s)),
        (Struct(l), Struct(r)) => {
            let mut fields: Vec<Field> = l.iter().map(|f| f.as_ref().clone()).collect();
            merge_into(&mut fields, r);
            Struct(fields.into())
        }
        _ => Utf8,
    }
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

/// `current` with the columns of `sampled` it lacks appended (existing columns keep their type, so
/// what earlier epochs wrote stays readable with what later ones write); `None` when nothing is new.
pub fn evolve(current: &Schema, sampled: &Schema) -> Option<Schema> {
    let new: Vec<Field> = sampled
        .fields()
        .iter()
        .filter(|f| current.field_with_name(f.name()).is_err())
        .map(|f| {
            let dt = match f.data_type() {
                DataType::Null | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
                other => other.clone(),
            };
            Field::new(f.name(), dt, true)
        })
        .collect();
    if new.is_empty() {
        return None;
    }
    let mut fields: Vec<Field> = current.fields().iter().map(|f| f.as_ref().clone()).collect();
    // `_extra` and Kafka's columns stay last.
    let tail = fields.iter().position(|f| f.name() == EXTRA_COLUMN || f.name().starts_with("_kafka_")).unwrap_or(fields.len());
    fields.splice(tail..tail, new);
    Some(Schema::new(fields))
}

/// The top-level fields a JSON record may have, and what a record with others does.
#[derive(Debug, Clone)]
pub struct Known {
    pub mode: SchemaMode,
    names: HashSet<String>,
}

impl Known {
    /// From the run's schema (the columns a payload can fill: not `_extra`, not Kafka's own).
    pub fn of(schema: &Schema, mode: SchemaMode) -> Self {
        // In `capture_extra` mode an input field named `_extra` is itself captured.
        let reserved = |n: &str| (mode == SchemaMode::CaptureExtra && n == EXTRA_COLUMN) || n.starts_with("_kafka_");
        let names = schema.fields().iter().map(|f| f.name()).filter(|n| !reserved(n)).cloned().collect();
        Known { mode, names }
    }
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// What to decode for a record that has fields outside the schema (`unknown`, as the probe found
/// them): in `capture_extra` mode the record without them plus `_extra`, their JSON object;
/// otherwise the reject reason.
pub fn outside(rec: &[u8], unknown: &[String], known: &Known) -> Result<Vec<u8>, String> {
    if known.mode != SchemaMode::CaptureExtra {
        let mode = if known.mode == SchemaMode::Strict { "strict" } else { "evolve" };
        return Err(format!(
            "unexpected_field: `{}` is not a column of the run's schema (schema.mode: {mode}; `capture_extra` keeps such fields in `{EXTRA_COLUMN}`)",
            unknown.join("`, `")
        ));
    }
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(rec).map_err(|e| format!("invalid_json: {e}"))?;
    let mut extra = serde_json::Map::new();
    for k in unknown {
        if let Some(v) = obj.remove(k) {
            extra.insert(k.clone(), v);
        }
    }
    let extra = serde_json::to_string(&extra).map_err(|e| e.to_string())?;
    obj.insert(EXTRA_COLUMN.into(), serde_json::Value::String(extra));
    serde_json::to_vec(&obj).map_err(|e| e.to_string())
}

/// A decoded batch (a Parquet file's, a CSV file's by its own header) with its columns outside the
/// run's schema dealt with as the mode says: moved into `_extra` as one JSON object per row
/// (`capture_extra`), or an error naming them, which quarantines the unit (`strict`, and `evolve`
/// for a file the epoch's sample did not reach).
pub fn outside_columns(batch: &RecordBatch, schema: &Schema, mode: SchemaMode) -> Result<Option<RecordBatch>, String> {
    let capture = mode == SchemaMode::CaptureExtra;
    let outside: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| {
            let name = batch.schema_ref().field(i).name().as_str();
            (capture && name == EXTRA_COLUMN) || schema.field_with_name(name).is_err()
        })
        .collect();
    if outside.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = outside.iter().map(|&i| batch.schema_ref().field(i).name().as_str()).collect();
    if !capture {
        let mode = if mode == SchemaMode::Strict { "strict" } else { "evolve" };
        return Err(format!(
            "unexpected_field: columns `{}` are not in the run's schema (schema.mode: {mode}; `capture_extra` keeps them in `{EXTRA_COLUMN}`)",
            names.join("`, `")
        ));
    }
    let extra = batch.project(&outside).map_err(|e| e.to_string())?;
    let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
    w.write(&extra).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    let text = w.into_inner();
    // One line per row; a row whose outside columns are all null has nothing to keep.
    let rows: StringArray = text.split(|b| *b == b'\n').take(batch.num_rows()).map(|l| (l != b"{}").then(|| String::from_utf8_lossy(l).into_owned())).collect();
    if rows.len() != batch.num_rows() {
        return Err(format!("{EXTRA_COLUMN}: {} rows written for {}", rows.len(), batch.num_rows()));
    }
    let keep: Vec<usize> = (0..batch.num_columns()).filter(|i| !outside.contains(i)).collect();
    let mut fields: Vec<Field> = keep.iter().map(|&i| batch.schema_ref().field(i).clone()).collect();
    let mut cols: Vec<ArrayRef> = keep.iter().map(|&i| batch.column(i).clone()).collect();
    fields.push(Field::new(EXTRA_COLUMN, DataType::Utf8, true));
    cols.push(Arc::new(rows));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map(Some).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conflicts_widen_instead_of_failing() {
        let values = vec![json!({"text": "a", "meta": {"k": 1}, "n": 1}), json!({"text": "b", "meta": 5, "n": 2.5, "tags": ["x"]})];
        let s = infer_values(&values);
        assert_eq!(s.field_with_name("meta").unwrap().data_type(), &DataType::Utf8);
        assert_eq!(s.field_with_name("n").unwrap().data_type(), &DataType::Float64);
        assert!(matches!(s.field_with_name("tags").unwrap().data_type(), DataType::List(_)));
        let nested = vec![json!({"m": {"a": 1}}), json!({"m": {"b": "x"}}), json!({"m": 3})];
        assert_eq!(infer_values(&nested).field_with_name("m").unwrap().data_type(), &DataType::Utf8);
        let structs = vec![json!({"m": {"a": 1}, "x": {}}), json!({"m": {"b": "x"}, "x": 1})];
        let s = infer_values(&structs);
        let DataType::Struct(f) = s.field_with_name("m").unwrap().data_type() else { panic!("m is a struct") };
        assert_eq!(f.iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn columns_outside_are_captured_or_refused() {
        use arrow::array::{Array, Int64Array};
        let run = Schema::new(vec![Field::new("id", DataType::Utf8, true), Field::new("text", DataType::Utf8, true), Field::new(EXTRA_COLUMN, DataType::Utf8, true)]);
        let file = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, true), Field::new("n", DataType::Int64, true), Field::new("u", DataType::Utf8, true)]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Int64Array::from(vec![Some(1), None])),
            Arc::new(StringArray::from(vec![Some("x"), None])),
        ];
        let batch = RecordBatch::try_new(file, cols).unwrap();
        let err = outside_columns(&batch, &run, SchemaMode::Strict).unwrap_err();
        assert!(err.starts_with("unexpected_field: columns `n`, `u`"), "{err}");
        let out = outside_columns(&batch, &run, SchemaMode::CaptureExtra).unwrap().unwrap();
        let extra = out.column_by_name(EXTRA_COLUMN).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(extra.value(0), r#"{"n":1,"u":"x"}"#);
        assert!(extra.is_null(1));
        assert!(out.column_by_name("n").is_none());
        let fits = batch.project(&[0]).unwrap();
        assert!(outside_columns(&fits, &run, SchemaMode::Strict).unwrap().is_none());
    }

    #[test]
    fn evolve_only_adds() {
        let cur = Schema::new(vec![Field::new("id", DataType::Utf8, true), Field::new("n", DataType::Int64, true), Field::new(EXTRA_COLUMN, DataType::Utf8, true)]);
        let seen = Schema::new(vec![Field::new("n", DataType::Utf8, true), Field::new("lang", DataType::Null, true)]);
        let out = evolve(&cur, &seen).unwrap();
        let names: Vec<_> = out.fields().iter().map(|f| (f.name().as_str(), f.data_type().clone())).collect();
        assert_eq!(names, [("id", DataType::Utf8), ("n", DataType::Int64), ("lang", DataType::Utf8), (EXTRA_COLUMN, DataType::Utf8)]);
        assert!(evolve(&out, &seen).is_none());
    }

    #[test]
    fn fields_outside_are_rejected_or_captured() {
        let schema = Schema::new(vec![Field::new("id", DataType::Utf8, true), Field::new("text", DataType::Utf8, true), Field::new(EXTRA_COLUMN, DataType::Utf8, true)]);
        let rec = br#"{"text":"hi","url":"u","meta":{"a":[1]}}"#;
        let unknown = vec!["url".to_string(), "meta".to_string()];
        let strict = Known::of(&schema, SchemaMode::Strict);
        // An input field named `_extra` is an ordinary column in strict mode, captured in capture mode.
        assert!(strict.contains(EXTRA_COLUMN));
        assert!(outside(rec, &unknown, &strict).unwrap_err().starts_with("unexpected_field: `url`, `meta`"));
        let capture = Known::of(&schema, SchemaMode::CaptureExtra);
        assert!(!capture.contains(EXTRA_COLUMN));
        let out: serde_json::Value = serde_json::from_slice(&outside(rec, &unknown, &capture).unwrap()).unwrap();
        assert_eq!(out["text"], "hi");
        assert!(out.get("url").is_none());
        let extra: serde_json::Value = serde_json::from_str(out[EXTRA_COLUMN].as_str().unwrap()).unwrap();
        assert_eq!(extra, json!({"url": "u", "meta": {"a": [1]}}));
    }
}
