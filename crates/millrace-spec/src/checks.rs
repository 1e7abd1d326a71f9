//! Data-quality check definitions (`checks:` in a spec).
//!
//! A check is a one-key map naming its kind, plus optional common keys beside it:
//!
//! ```yaml
//! checks:
//!   - not_null: [id, text]
//!     severity: warn
//!   - unique: [id]
//!     warn_if: "> 0"
//!     error_if: "> 10"
//! ```
//!
//! Each check yields a *measure* (the failing-row count for row checks, the row count for
//! `row_count`, the mismatched-column count for `schema`, the query's value for a scalar `sql`
//! check). Without `warn_if`/`error_if` the check's own parameters decide (e.g. `max:` of a rate);
//! with them the measure is compared the way dbt does: `error_if` fails an `error` check, otherwise
//! `warn_if` makes it a warning. Everything is validated while the spec is parsed, so a malformed
//! check is an invalid spec with a `line:column`, never a silently passing check.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One check; evaluated by the engine on a sink's committed output (the table `output`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// Name in reports and JUnit; default from the kind and column (`not_null(id)`).
    pub name: Option<String>,
    /// `error` (default): a failure fails the gate; `warn`: reported only.
    pub severity: CheckSeverity,
    /// Warn when the measure meets this condition (default: the check's own rule).
    pub warn_if: Option<Threshold>,
    /// Fail (for `severity: error`) when the measure meets this condition (default: the check's own rule).
    pub error_if: Option<Threshold>,
    /// Free text shown in reports.
    pub description: Option<String>,
    pub kind: CheckKind,
}

/// What a check tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Rows in the output, within `min`/`max`.
    RowCount(RowCountCheck),
    /// Each listed column has no nulls (one result per column).
    NotNull(ColumnList),
    /// Each listed column has no repeated non-null value (one result per column).
    Unique(ColumnList),
    /// Non-null values of `column` are among `values`.
    AcceptedValues(AcceptedValuesCheck),
    /// Non-null values of `column` lie within `[min, max]`.
    Range(RangeCheck),
    /// Non-null values of `column` match `pattern` (Rust regex syntax, unanchored).
    Regex(RegexCheck),
    /// Share of rows whose `column` value repeats an earlier row's is at most `max`.
    DuplicateRate(RateCheck),
    /// Share of rows whose `column` is null or only whitespace is at most `max`.
    EmptyRate(RateCheck),
    /// A contract: each listed column exists with exactly this Arrow type.
    Schema(SchemaContract),
    /// A SQL query over `output`: with `min`/`max` it returns one number; without, it returns the
    /// failing rows.
    Sql(SqlCheck),
}

/// Every kind key with its aliases, for parsing and "did you mean" hints.
const KINDS: &[(&str, &[&str])] = &[
    ("row_count", &["rows", "count"]),
    ("not_null", &["not_nulls", "required"]),
    ("unique", &["distinct"]),
    ("accepted_values", &["allowed_values", "in_set"]),
    ("range", &["between"]),
    ("regex", &["matches", "pattern"]),
    ("duplicate_rate", &["dup_rate", "duplicates"]),
    ("empty_rate", &["blank_rate"]),
    ("schema", &["contract"]),
    ("sql", &["query"]),
];

/// The keys a check may hold beside its kind, with their aliases.
const COMMON_KEYS: &[(&str, &[&str])] = &[
    ("name", &[]),
    ("severity", &["level"]),
    ("warn_if", &["warn_when"]),
    ("error_if", &["fail_if", "error_when"]),
    ("description", &[]),
];

/// Every key a check map may hold (canonical spellings), in the order serde's messages list them.
const ALL_KEYS: &[&str] = &[
    "row_count", "not_null", "unique", "accepted_values", "range", "regex", "duplicate_rate", "empty_rate", "schema",
    "sql", "name", "severity", "warn_if", "error_if", "description",
];

impl CheckKind {
    /// The canonical kind key (`not_null`, `sql`, ...).
    pub fn key(&self) -> &'static str {
        match self {
            CheckKind::RowCount(_) => "row_count",
            CheckKind::NotNull(_) => "not_null",
            CheckKind::Unique(_) => "unique",
            CheckKind::AcceptedValues(_) => "accepted_values",
            CheckKind::Range(_) => "range",
            CheckKind::Regex(_) => "regex",
            CheckKind::DuplicateRate(_) => "duplicate_rate",
            CheckKind::EmptyRate(_) => "empty_rate",
            CheckKind::Schema(_) => "schema",
            CheckKind::Sql(_) => "sql",
        }
    }
}

impl CheckSpec {
    /// Names of the results this check produces: one per column for `not_null`/`unique`, else one.
    /// An explicit `name:` is used as is for a single result and suffixed with the column otherwise.
    pub fn result_names(&self) -> Vec<String> {
        let cols: Vec<String> = match &self.kind {
            CheckKind::NotNull(c) | CheckKind::Unique(c) => c.0.clone(),
            _ => return vec![self.single_name()],
        };
        match (&self.name, cols.len()) {
            (Some(n), 1) => vec![n.clone()],
            (Some(n), _) => cols.iter().map(|c| format!("{n}({c})")).collect(),
            (None, _) => cols.iter().map(|c| format!("{}({c})", self.kind.key())).collect(),
        }
    }

    fn single_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let key = self.kind.key();
        match &self.kind {
            CheckKind::AcceptedValues(c) => format!("{key}({})", c.column),
            CheckKind::Range(c) => format!("{key}({})", c.column),
            CheckKind::Regex(c) => format!("{key}({})", c.column),
            CheckKind::DuplicateRate(c) | CheckKind::EmptyRate(c) => format!("{key}({})", c.column),
            CheckKind::Sql(s) => s.name.clone().unwrap_or_else(|| key.to_string()),
            _ => key.to_string(),
        }
    }
}

/// `error` or `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckSeverity {
    #[default]
    #[serde(alias = "fail", alias = "failure")]
    Error,
    #[serde(alias = "warning")]
    Warn,
}

impl From<CheckSeverity> for millrace_report::Severity {
    fn from(s: CheckSeverity) -> Self {
        match s {
            CheckSeverity::Error => millrace_report::Severity::Error,
            CheckSeverity::Warn => millrace_report::Severity::Warn,
        }
    }
}

/// `row_count: { min: 1000, max: 5000000 }`; `row_count: {}` (no bound) means at least one row.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RowCountCheck {
    #[serde(alias = "at_least")]
    pub min: Option<u64>,
    #[serde(alias = "at_most")]
    pub max: Option<u64>,
}

impl RowCountCheck {
    /// The inclusive bounds that apply: with neither given, the output must not be empty.
    pub fn bounds(&self) -> (Option<u64>, Option<u64>) {
        match (self.min, self.max) {
            (None, None) => (Some(1), None),
            b => b,
        }
    }
}

/// `[id, text]`, or one column as a plain string.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ColumnList(pub Vec<String>);

impl<'de> Deserialize<'de> for ColumnList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ColumnList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ColumnList, E> {
                non_empty_column(v).map(|c| ColumnList(vec![c]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ColumnList, A::Error> {
                let mut cols = Vec::new();
                while let Some(c) = seq.next_element::<String>()? {
                    cols.push(non_empty_column(&c)?);
                }
                if cols.is_empty() {
                    return Err(de::Error::custom("the column list is empty; name at least one column"));
                }
                Ok(ColumnList(cols))
            }
        }
        d.deserialize_any(V)
    }
}

fn non_empty_column<E: de::Error>(c: &str) -> Result<String, E> {
    if c.trim().is_empty() { Err(E::custom("a column name must not be empty")) } else { Ok(c.to_string()) }
}

/// `accepted_values: { column: lang, values: [en, de, fr] }`. Nulls are not checked (use `not_null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValuesCheck {
    pub column: String,
    #[serde(alias = "accepted", alias = "allowed")]
    pub values: Vec<AcceptedValue>,
}

/// One accepted value, kept as written: YAML 1.1 would read the language code `no` as `false`, so
/// values are taken as text and the engine converts them to the column's type when it checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AcceptedValue(pub String);

impl<'de> Deserialize<'de> for AcceptedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AcceptedValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AcceptedValue, E> {
                Ok(AcceptedValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<AcceptedValue, E> {
                Ok(AcceptedValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AcceptedValue, E> {
                Ok(AcceptedValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AcceptedValue, E> {
                Ok(AcceptedValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AcceptedValue, E> {
                Ok(AcceptedValue(v.to_string()))
            }
        }
        // Asking for a string makes the YAML reader hand over the scalar's text before any
        // boolean/number resolution.
        d.deserialize_str(V)
    }
}

/// `range: { column: n_tokens, min: 16, max: 100000 }`; bounds are inclusive, either may be left out.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeCheck {
    pub column: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// The keys of a `range` check, before its bounds are checked.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RangeCheck")]
pub(crate) struct RangeKeys {
    column: String,
    /// Inclusive lower bound.
    #[serde(default, alias = "at_least")]
    min: Option<f64>,
    /// Inclusive upper bound.
    #[serde(default, alias = "at_most")]
    max: Option<f64>,
}

impl<'de> Deserialize<'de> for RangeCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RangeKeys::deserialize(d)?;
        if r.min.is_none() && r.max.is_none() {
            return Err(de::Error::custom("`range` needs `min`, `max` or both"));
        }
        if let (Some(lo), Some(hi)) = (r.min, r.max) {
            if lo > hi {
                return Err(de::Error::custom(format!("`range` has min {lo} above max {hi}")));
            }
        }
        Ok(RangeCheck { column: non_empty_column(&r.column)?, min: r.min, max: r.max })
    }
}

/// `regex: { column: url, pattern: "^https?://" }`; the pattern is compiled while the spec is parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegexCheck {
    pub column: String,
    pub pattern: String,
}

/// The keys of a `regex` check, before its pattern is compiled.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RegexCheck")]
pub(crate) struct RegexKeys {
    column: String,
    /// Rust regex syntax, unanchored.
    #[serde(alias = "regex", alias = "matches")]
    pattern: String,
}

impl<'de> Deserialize<'de> for RegexCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RegexKeys::deserialize(d)?;
        // The engine evaluates with DataFusion's regexp_like, which uses the same `regex` crate, so a
        // pattern accepted here is accepted there.
        regex::Regex::new(&r.pattern).map_err(|e| de::Error::custom(format!("invalid regex `{}`: {}", r.pattern, first_line(&e.to_string()))))?;
        Ok(RegexCheck { column: non_empty_column(&r.column)?, pattern: r.pattern })
    }
}

/// `duplicate_rate` / `empty_rate`: `{ column: text, max: 0.01 }`, `max` a fraction in 0..=1.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCheck {
    pub column: String,
    pub max: f64,
}

/// The keys of a `duplicate_rate` or `empty_rate` check, before `max` is checked.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RateCheck")]
pub(crate) struct RateKeys {
    column: String,
    /// The largest share of rows allowed, a fraction in 0..=1 (0.01 is 1%).
    #[serde(default, alias = "max_rate", alias = "at_most")]
    max: f64,
}

impl<'de> Deserialize<'de> for RateCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RateKeys::deserialize(d)?;
        if !(0.0..=1.0).contains(&r.max) {
            return Err(de::Error::custom(format!("rate `max` must be a fraction between 0 and 1 (0.01 is 1%), got {}", r.max)));
        }
        Ok(RateCheck { column: non_empty_column(&r.column)?, max: r.max })
    }
}

/// `schema: { id: Utf8, text: Utf8, n_tokens: UInt32 }`: column -> Arrow type name. Columns not
/// listed may exist; listed ones must exist with exactly that type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct SchemaContract(pub BTreeMap<String, String>);

/// `sql: { name: no_pii_left, query: "SELECT count(*) FROM output WHERE ...", max: 0 }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlCheck {
    pub name: Option<String>,
    pub query: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl SqlCheck {
    /// With `min`/`max` the query returns one number; without, each returned row is a failure.
    pub fn is_scalar(&self) -> bool {
        self.min.is_some() || self.max.is_some()
    }
}

/// The keys of a `sql` check, before the query and bounds are checked.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SqlCheck")]
pub(crate) struct SqlKeys {
    #[serde(default)]
    name: Option<String>,
    /// A query over the table `output`.
    #[serde(alias = "sql")]
    query: String,
    /// With `min`/`max` the query returns one number, which must lie within them.
    #[serde(default, alias = "at_least")]
    min: Option<f64>,
    #[serde(default, alias = "at_most")]
    max: Option<f64>,
}

impl<'de> Deserialize<'de> for SqlCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = SqlKeys::deserialize(d)?;
        if r.query.trim().is_empty() {
            return Err(de::Error::custom("`sql` check has an empty query"));
        }
        if let (Some(lo), Some(hi)) = (r.min, r.max) {
            if lo > hi {
                return Err(de::Error::custom(format!("`sql` check has min {lo} above max {hi}")));
            }
        }
        Ok(SqlCheck { name: r.name, query: r.query, min: r.min, max: r.max })
    }
}

/// A comparison on a check's measure, written as a string: `"> 10"`, `">= 5"`, `"!= 0"`, `"> 1%"`
/// (a percentage compares the measure as a share of the rows checked).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub op: CmpOp,
    pub value: f64,
    pub percent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

impl Threshold {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        // Longest operators first so `>=` is not read as `>`.
        let ops = [(">=", CmpOp::Ge), ("<=", CmpOp::Le), ("!=", CmpOp::Ne), ("<>", CmpOp::Ne), ("==", CmpOp::Eq), (">", CmpOp::Gt), ("<", CmpOp::Lt), ("=", CmpOp::Eq)];
        let Some((sym, op)) = ops.iter().find(|(sym, _)| t.starts_with(sym)) else {
            return Err(format!("threshold `{t}` must start with a comparison: >, >=, <, <=, ==, != (e.g. \"> 10\")"));
        };
        let rest = t[sym.len()..].trim();
        let (num, percent) = match rest.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (rest, false),
        };
        let value: f64 = num.parse().map_err(|_| format!("threshold `{t}`: `{num}` is not a number"))?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("threshold `{t}`: the number must be finite and not negative"));
        }
        if percent && value > 100.0 {
            return Err(format!("threshold `{t}`: a percentage is at most 100%"));
        }
        Ok(Threshold { op: *op, value, percent })
    }

    /// Does `measure` (out of `rows` rows checked) meet the condition?
    pub fn holds(&self, measure: f64, rows: u64) -> bool {
        let x = if self.percent {
            if rows == 0 { 0.0 } else { measure / rows as f64 * 100.0 }
        } else {
            measure
        };
        match self.op {
            CmpOp::Gt => x > self.value,
            CmpOp::Ge => x >= self.value,
            CmpOp::Lt => x < self.value,
            CmpOp::Le => x <= self.value,
            CmpOp::Eq => x == self.value,
            CmpOp::Ne => x != self.value,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.op.symbol(), self.value, if self.percent { "%" } else { "" })
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Threshold;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quoted comparison such as \"> 10\" or \"> 1%\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Threshold, E> {
                Threshold::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Threshold, E> {
                Err(E::custom(format!("a bare number is ambiguous here; write a comparison such as \"> {v}\"")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Threshold, E> {
                Err(E::custom(format!("a bare number is ambiguous here; write a comparison such as \"> {v}\"")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Threshold, E> {
                Err(E::custom(format!("a bare number is ambiguous here; write a comparison such as \"> {v}\"")))
            }
        }
        d.deserialize_any(V)
    }
}

fn first_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).last().unwrap_or("").to_string()
}

impl Serialize for CheckSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match &self.kind {
            CheckKind::RowCount(v) => m.serialize_entry("row_count", v)?,
            CheckKind::NotNull(v) => m.serialize_entry("not_null", v)?,
            CheckKind::Unique(v) => m.serialize_entry("unique", v)?,
            CheckKind::AcceptedValues(v) => m.serialize_entry("accepted_values", v)?,
            CheckKind::Range(v) => m.serialize_entry("range", v)?,
            CheckKind::Regex(v) => m.serialize_entry("regex", v)?,
            CheckKind::DuplicateRate(v) => m.serialize_entry("duplicate_rate", v)?,
            CheckKind::EmptyRate(v) => m.serialize_entry("empty_rate", v)?,
            CheckKind::Schema(v) => m.serialize_entry("schema", v)?,
            CheckKind::Sql(v) => m.serialize_entry("sql", v)?,
        }
        if let Some(n) = &self.name {
            m.serialize_entry("name", n)?;
        }
        m.serialize_entry("severity", &self.severity)?;
        if let Some(t) = &self.warn_if {
            m.serialize_entry("warn_if", t)?;
        }
        if let Some(t) = &self.error_if {
            m.serialize_entry("error_if", t)?;
        }
        if let Some(d) = &self.description {
            m.serialize_entry("description", d)?;
        }
        m.end()
    }
}

/// `RangeCheck`, `RegexCheck`, `RateCheck` and `SqlCheck` validate on the way in; they serialise
/// field by field (so `--set` round trips through the same parser).
macro_rules! plain_serialize {
    ($t:ty, $($f:ident),+) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                $( plain_serialize!(@field m, self.$f, stringify!($f)); )+
                m.end()
            }
        }
    };
    (@field $m:ident, $v:expr, $k:expr) => {
        $m.serialize_entry($k, &$v)?
    };
}
// Options serialise as null, which the parsers above read back as "not given".
plain_serialize!(RangeCheck, column, min, max);
plain_serialize!(RegexCheck, column, pattern);
plain_serialize!(RateCheck, column, max);
plain_serialize!(SqlCheck, name, query, min, max);

impl<'de> Deserialize<'de> for CheckSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CheckSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a check: a map with one kind key (row_count, not_null, unique, accepted_values, range, regex, duplicate_rate, empty_rate, schema, sql)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CheckSpec, A::Error> {
                let mut kind: Option<CheckKind> = None;
                let mut name = None;
                let mut severity = None;
                let mut warn_if = None;
                let mut error_if = None;
                let mut description = None;
                while let Some(key) = map.next_key::<String>()? {
                    let canonical = KINDS
                        .iter()
                        .find(|(k, aliases)| *k == key || aliases.contains(&key.as_str()))
                        .map(|(k, _)| *k);
                    if let Some(k) = canonical {
                        if let Some(prev) = &kind {
                            return Err(de::Error::custom(format!(
                                "a check has one kind, but this one has both `{}` and `{k}`; write two checks",
                                prev.key()
                            )));
                        }
                        // Values are read straight from the YAML so their errors keep their own location.
                        kind = Some(match k {
                            "row_count" => CheckKind::RowCount(map.next_value()?),
                            "not_null" => CheckKind::NotNull(map.next_value()?),
                            "unique" => CheckKind::Unique(map.next_value()?),
                            "accepted_values" => CheckKind::AcceptedValues(map.next_value()?),
                            "range" => CheckKind::Range(map.next_value()?),
                            "regex" => CheckKind::Regex(map.next_value()?),
                            "duplicate_rate" => CheckKind::DuplicateRate(map.next_value()?),
                            "empty_rate" => CheckKind::EmptyRate(map.next_value()?),
                            "schema" => CheckKind::Schema(map.next_value()?),
                            _ => CheckKind::Sql(map.next_value()?),
                        });
                        continue;
                    }
                    let common = COMMON_KEYS
                        .iter()
                        .find(|(k, aliases)| *k == key || aliases.contains(&key.as_str()))
                        .map(|(k, _)| *k);
                    match common {
                        Some("name") => name = Some(map.next_value::<String>()?),
                        Some("severity") => severity = Some(map.next_value::<CheckSeverity>()?),
                        Some("warn_if") => warn_if = Some(map.next_value::<Threshold>()?),
                        Some("error_if") => error_if = Some(map.next_value::<Threshold>()?),
                        Some("description") => description = Some(map.next_value::<String>()?),
                        _ => return Err(de::Error::unknown_field(&key, ALL_KEYS)),
                    }
                }
                let Some(kind) = kind else {
                    let kinds: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
                    return Err(de::Error::custom(format!("the check names no kind; add one of {}", kinds.join(", "))));
                };
                if let CheckKind::RowCount(r) = &kind {
                    if let (Some(lo), Some(hi)) = (r.min, r.max) {
                        if lo > hi {
                            return Err(de::Error::custom(format!("`row_count` has min {lo} above max {hi}")));
                        }
                    }
                }
                if name.as_deref().is_some_and(|n: &str| n.trim().is_empty()) {
                    return Err(de::Error::custom("a check `name` must not be empty"));
                }
                Ok(CheckSpec { name, severity: severity.unwrap_or_default(), warn_if, error_if, description, kind })
            }
        }
        d.deserialize_map(V)
    }
}

// Schemas of the types whose parsers are written by hand above. Each says what that parser
// accepts in shape (types, keys); what it checks beyond that (an empty query, min above max) stays
// the parser's.

impl schemars::JsonSchema for ColumnList {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ColumnList".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let column = serde_json::json!({ "type": "string", "pattern": "\\S" });
        schemars::json_schema!({
            "description": "A column name or a list of column names.",
            "anyOf": [column, { "type": "array", "items": column, "minItems": 1 }]
        })
    }
}

impl schemars::JsonSchema for AcceptedValue {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AcceptedValue".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

impl schemars::JsonSchema for Threshold {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Threshold".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A quoted comparison on the check's measure: \"> 10\", \">= 5\", \"!= 0\", \"> 1%\".",
            "type": "string",
            "pattern": "^\\s*(>=?|<=?|<>|==?|!=)"
        })
    }
}

impl schemars::JsonSchema for CheckSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CheckSpec".into()
    }
    /// From the tables the parser reads: every kind key and every common key with its aliases, and
    /// exactly one kind per check.
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut properties = serde_json::Map::new();
        let mut one_kind = Vec::new();
        for (kind, aliases) in KINDS {
            let schema = match *kind {
                "row_count" => g.subschema_for::<RowCountCheck>(),
                "not_null" | "unique" => g.subschema_for::<ColumnList>(),
                "accepted_values" => g.subschema_for::<AcceptedValuesCheck>(),
                "range" => g.subschema_for::<RangeKeys>(),
                "regex" => g.subschema_for::<RegexKeys>(),
                "duplicate_rate" | "empty_rate" => g.subschema_for::<RateKeys>(),
                "schema" => g.subschema_for::<SchemaContract>(),
                "sql" => g.subschema_for::<SqlKeys>(),
                other => unreachable!("check kind `{other}` has no schema"),
            };
            for key in std::iter::once(kind).chain(aliases.iter()) {
                properties.insert(key.to_string(), schema.clone().to_value());
                one_kind.push(serde_json::json!({ "required": [key] }));
            }
        }
        for (key, aliases) in COMMON_KEYS {
            let schema = match *key {
                "name" | "description" => g.subschema_for::<String>(),
                "severity" => g.subschema_for::<CheckSeverity>(),
                "warn_if" | "error_if" => g.subschema_for::<Threshold>(),
                other => unreachable!("check key `{other}` has no schema"),
            };
            for k in std::iter::once(key).chain(aliases.iter()) {
                properties.insert(k.to_string(), schema.clone().to_value());
            }
        }
        schemars::json_schema!({
            "description": "One check: a map with one kind key, plus optional common keys beside it.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
            "oneOf": one_kind
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Vec<CheckSpec>, String> {
        serde_saphyr::from_str::<Vec<CheckSpec>>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_of_the_issue_parses() {
        let yaml = r#"
- row_count: { min: 1000 }
- not_null: [id, text]
- unique: [id]
- accepted_values: { column: lang, values: [en, de, fr, no] }
- range: { column: n_tokens, min: 16, max: 100000 }
- regex: { column: url, pattern: "^https?://" }
- duplicate_rate: { column: text, max: 0.01 }
- empty_rate: { column: text, max: 0 }
- schema: { id: Utf8, text: Utf8, n_tokens: UInt32 }
- sql: { name: no_pii_left, query: "SELECT count(*) FROM output WHERE text ~ '[\\w.]+@[\\w.]+'", max: 0 }
  severity: warn
  warn_if: "> 0"
  error_if: ">= 10%"
"#;
        let c = parse(yaml).unwrap();
        assert_eq!(c.len(), 10);
        assert_eq!(c[0].kind, CheckKind::RowCount(RowCountCheck { min: Some(1000), max: None }));
        assert_eq!(c[1].result_names(), vec!["not_null(id)", "not_null(text)"]);
        let CheckKind::AcceptedValues(a) = &c[3].kind else { panic!() };
        // `no` (Norwegian) must stay a string, not become a boolean.
        assert_eq!(a.values[3], AcceptedValue("no".into()));
        let CheckKind::Sql(s) = &c[9].kind else { panic!() };
        assert!(s.query.contains(r"[\w.]+@"), "{}", s.query);
        assert!(s.is_scalar());
        assert_eq!(c[9].result_names(), vec!["no_pii_left"]);
        assert_eq!(c[9].severity, CheckSeverity::Warn);
        assert_eq!(c[9].error_if, Some(Threshold { op: CmpOp::Ge, value: 10.0, percent: true }));
        let CheckKind::Schema(sc) = &c[8].kind else { panic!() };
        assert_eq!(sc.0.get("n_tokens").map(String::as_str), Some("UInt32"));
    }

    #[test]
    fn round_trips_through_json_and_yaml() {
        let yaml = "- accepted_values: { column: k, values: [1, no, 2.5, x] }\n- range: { column: n, min: 1 }\n  name: r\n  error_if: \"> 3\"\n- sql: { query: SELECT 1 }\n- row_count: {}\n";
        let c = parse(yaml).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        let back: Vec<CheckSpec> = serde_saphyr::from_str(&json).unwrap();
        assert_eq!(c, back);
        let CheckKind::AcceptedValues(a) = &c[0].kind else { panic!() };
        let got: Vec<&str> = a.values.iter().map(|v| v.0.as_str()).collect();
        assert_eq!(got, ["1", "no", "2.5", "x"]);
        let CheckKind::RowCount(r) = &c[3].kind else { panic!() };
        assert_eq!(r.bounds(), (Some(1), None));
    }

    #[test]
    fn malformed_checks_are_errors() {
        for (yaml, want) in [
            ("- not_nul: [id]\n", "unknown field `not_nul`"),
            ("- severity: warn\n", "names no kind"),
            ("- not_null: [id]\n  unique: [id]\n", "both `not_null` and `unique`"),
            ("- regex: { column: url, pattern: \"(\" }\n", "invalid regex"),
            ("- duplicate_rate: { column: t, max: 5 }\n", "between 0 and 1"),
            ("- range: { column: n }\n", "needs `min`, `max`"),
            ("- not_null: []\n", "column list is empty"),
            ("- unique: [id]\n  error_if: 10\n", "bare number"),
            ("- unique: [id]\n  error_if: \"about 10\"\n", "must start with a comparison"),
            ("- unique: [id]\n  severity: fatal\n", "fatal"),
            ("- sql: { query: \"  \" }\n", "empty query"),
            ("- row_count: { min: 5, max: 1 }\n", "min 5 above max 1"),
            ("- accepted_values: { column: lang }\n", "values"),
        ] {
            let e = parse(yaml).expect_err(yaml);
            assert!(e.contains(want), "{yaml}: expected `{want}` in {e}");
        }
    }

    #[test]
    fn thresholds() {
        let t = Threshold::parse("> 10").unwrap();
        assert!(t.holds(11.0, 100) && !t.holds(10.0, 100));
        let p = Threshold::parse(">=1%").unwrap();
        assert!(p.holds(1.0, 100) && !p.holds(1.0, 101));
        assert!(!p.holds(0.0, 0));
        assert_eq!(Threshold::parse("!= 0").unwrap().to_string(), "!= 0");
        assert_eq!(Threshold::parse("<> 2").unwrap().op, CmpOp::Ne);
        assert!(Threshold::parse("> 101%").is_err());
        assert!(Threshold::parse("> -1").is_err());
    }
}
