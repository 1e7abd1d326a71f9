//! The JSON Schema of a spec (`pipeline schema`, `docs/spec.schema.json`), generated from the model's
//! types so that it describes what the parser accepts and cannot drift from it.
//!
//! schemars follows serde's attributes except `alias`. serde's derive knows every accepted name
//! (it hands them all to the deserializer, and names the canonical field when one is given twice),
//! so the aliases are read back from serde itself by deserializing each model type from probes,
//! and added to the generated schema beside their canonical keys. A spec written with an alias thus
//! validates, and an unknown key is still an error.

use crate::checks::{RangeKeys, RateKeys, RegexKeys, SqlKeys};
use crate::*;
use schemars::JsonSchema;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::fmt;

/// The schema of [`PipelineSpec`], as `pipeline schema` prints it.
pub fn json_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<PipelineSpec>().to_value();
    let root = schema.as_object_mut().expect("the root schema is an object");
    root.insert("title".into(), "Millrace pipeline spec".into());
    let mut defs = root.remove("$defs").and_then(|d| match d {
        Value::Object(m) => Some(m),
        _ => None,
    });
    let models = models();
    let model = |name: &str| {
        models.iter().find(|m| (m.name)() == name).unwrap_or_else(|| panic!("`{name}` is in the schema but not in schema::models(); add it there"))
    };
    add_aliases(root, model("PipelineSpec"));
    for (name, def) in defs.iter_mut().flat_map(|d| d.iter_mut()) {
        if let Value::Object(def) = def {
            add_aliases(def, model(name));
        }
    }
    if let Some(defs) = defs {
        root.insert("$defs".into(), Value::Object(defs));
    }
    drop_null_defaults(&mut schema);
    schema
}

/// Removes `"default": null`: it says no more than an optional key does, and yaml-language-server
/// (the completion behind VS Code's and neovim's YAML support) fails a whole completion list on an
/// object with such a key (it renders the null as a string scalar), so no key of `source`, `sinks`
/// or any object holding an optional string was offered.
fn drop_null_defaults(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("default").is_some_and(Value::is_null) {
                m.remove("default");
            }
            m.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

/// A model type of the spec, for reading its aliases back from serde.
struct Model {
    name: fn() -> Cow<'static, str>,
    names: fn() -> Option<(Shape, &'static [&'static str])>,
    canonical_field: fn(&str) -> Option<&'static str>,
    variant_shape: fn(&str) -> Option<String>,
}

fn model<T: JsonSchema + DeserializeOwned>() -> Model {
    Model { name: T::schema_name, names: accepted_names::<T>, canonical_field: canonical_field::<T>, variant_shape: variant_shape::<T> }
}

/// Every type that has a definition in the schema. Generation fails on a definition missing here,
/// so a new type cannot silently lose its aliases.
fn models() -> Vec<Model> {
    vec![
        model::<PipelineSpec>(),
        model::<TopicSpec>(),
        model::<MetricsSpec>(),
        model::<ReportSpec>(),
        model::<Format>(),
        model::<Compression>(),
        model::<TextUnit>(),
        model::<SourceSpec>(),
        model::<SchemaSpec>(),
        model::<SchemaMode>(),
        model::<KafkaSourceSpec>(),
        model::<KafkaFormat>(),
        model::<KafkaStart>(),
        model::<KafkaEpochSpec>(),
        model::<OnError>(),
        model::<CsvSpec>(),
        model::<Stage>(),
        model::<FilterStage>(),
        model::<DedupeMethod>(),
        model::<DedupeStage>(),
        model::<TokeniseStage>(),
        model::<SinkSpec>(),
        model::<DeltaMode>(),
        model::<DeltaSchemaMode>(),
        model::<StorageSpec>(),
        model::<ScalarValue>(),
        model::<EngineSpec>(),
        model::<CheckSpec>(),
        model::<CheckSeverity>(),
        model::<RowCountCheck>(),
        model::<AcceptedValuesCheck>(),
        model::<RangeKeys>(),
        model::<RegexKeys>(),
        model::<RateKeys>(),
        model::<SqlKeys>(),
        model::<SchemaContract>(),
        model::<millrace_text::CleanParams>(),
        model::<millrace_text::CleanMode>(),
        model::<millrace_text::HtmlParams>(),
        model::<millrace_text::LineFilters>(),
        model::<millrace_text::NormaliseParams>(),
        model::<millrace_text::NormalForm>(),
        model::<millrace_text::PiiParams>(),
        model::<millrace_text::PiiMode>(),
        model::<millrace_text::PiiKind>(),
        model::<millrace_text::PiiPlaceholders>(),
        model::<millrace_text::LangIdParams>(),
        model::<millrace_text::LangFilterParams>(),
        model::<millrace_quality::LengthParams>(),
        model::<millrace_quality::WordCounting>(),
        model::<millrace_quality::GopherRepetitionParams>(),
        model::<millrace_quality::GopherQualityParams>(),
        model::<millrace_quality::C4QualityParams>(),
        model::<millrace_quality::FineWebQualityParams>(),
        model::<millrace_dedupe::ExactParams>(),
        model::<millrace_dedupe::MinHashParams>(),
        model::<millrace_dedupe::KeepRule>(),
        model::<millrace_report::lineage::LineageConfig>(),
        model::<millrace_report::lineage::TransportKind>(),
    ]
}

fn add_aliases(schema: &mut Map<String, Value>, model: &Model) {
    match (model.names)() {
        Some((Shape::Struct, fields)) => add_field_aliases(schema, model, fields),
        Some((Shape::Enum, variants)) => add_variant_aliases(schema, model, variants),
        // Untagged, transparent and hand-parsed types: their schemas spell out what they accept.
        None => {}
    }
}

fn add_field_aliases(schema: &mut Map<String, Value>, model: &Model, fields: &'static [&'static str]) {
    let Some(Value::Object(properties)) = schema.get("properties") else { return };
    let aliases: Vec<(&str, Option<&str>)> =
        fields.iter().filter(|f| !properties.contains_key(**f)).map(|f| (*f, (model.canonical_field)(f))).collect();
    let mut required_spellings: Vec<Vec<&str>> = Vec::new();
    for (alias, canonical) in aliases {
        let properties = schema.get_mut("properties").and_then(Value::as_object_mut).expect("checked above");
        let mut alias_schema = match canonical.and_then(|c| properties.get(c)) {
            Some(Value::Object(s)) => s.clone(),
            // No value the probes offer parses as this field; accept any value under the name.
            _ => Map::new(),
        };
        if let Some(c) = canonical {
            alias_schema.insert("description".into(), format!("Alias of `{c}`.").into());
        }
        properties.insert(alias.to_string(), Value::Object(alias_schema));
        let Some(c) = canonical else { continue };
        let required = schema.get("required").and_then(Value::as_array);
        if required.is_some_and(|r| r.iter().any(|v| v == c)) {
            match required_spellings.iter_mut().find(|g| g[0] == c) {
                Some(g) => g.push(alias),
                None => required_spellings.push(vec![c, alias]),
            }
        }
    }
    // A required field given under an alias satisfies the requirement.
    for spellings in required_spellings {
        if let Some(Value::Array(required)) = schema.get_mut("required") {
            required.retain(|v| v != spellings[0]);
        }
        let any: Vec<Value> = spellings.iter().map(|s| json!({ "required": [s] })).collect();
        let all = schema.entry("allOf").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(all) = all {
            all.push(json!({ "anyOf": any }));
        }
    }
}

fn add_variant_aliases(schema: &mut Map<String, Value>, model: &Model, variants: &'static [&'static str]) {
    let mut known = Vec::new();
    collect_variant_names(&Value::Object(schema.clone()), &mut known);
    for alias in variants.iter().copied().filter(|v| !known.iter().any(|k| k == v)) {
        let shape = (model.variant_shape)(alias);
        if shape.as_deref() == Some(UNIT) {
            add_unit_variant(schema, alias);
            continue;
        }
        // A variant with content: the branch of the canonical variant of the same shape, under the alias.
        let canonical = known.iter().find(|k| shape.is_some() && (model.variant_shape)(k) == shape).cloned();
        let branches = schema.get_mut("oneOf").and_then(Value::as_array_mut);
        let (Some(canonical), Some(branches)) = (canonical, branches) else {
            panic!("`{}`: cannot place the alias `{alias}` in the schema", (model.name)());
        };
        let branch = branches.iter().find(|b| b["required"] == json!([canonical])).cloned();
        let Some(Value::Object(mut branch)) = branch else {
            panic!("`{}`: no branch for `{canonical}`", (model.name)());
        };
        let content = branch.get_mut("properties").and_then(Value::as_object_mut).and_then(|p| p.remove(&canonical));
        branch.insert("properties".into(), json!({ alias: content.unwrap_or(json!({})) }));
        branch.insert("required".into(), json!([alias]));
        branch.insert("description".into(), format!("Alias of `{canonical}`.").into());
        branches.push(Value::Object(branch));
    }
}

/// The names a derived enum schema lists: unit variants' strings and the keys of variants with content.
fn collect_variant_names(schema: &Value, out: &mut Vec<String>) {
    if let Some(Value::Array(values)) = schema.get("enum") {
        out.extend(values.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(Value::String(s)) = schema.get("const") {
        out.push(s.clone());
    }
    if let (Some(Value::Array(required)), Some("object")) = (schema.get("required"), schema.get("type").and_then(Value::as_str)) {
        if let [Value::String(key)] = required.as_slice() {
            out.push(key.clone());
        }
    }
    for key in ["oneOf", "anyOf"] {
        for branch in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            collect_variant_names(branch, out);
        }
    }
}

fn add_unit_variant(schema: &mut Map<String, Value>, alias: &str) {
    if let Some(Value::Array(values)) = schema.get_mut("enum") {
        values.push(alias.into());
    } else if let Some(Value::Array(branches)) = schema.get_mut("oneOf") {
        branches.push(json!({ "type": "string", "const": alias }));
    } else {
        panic!("cannot add the unit variant alias `{alias}` to {}", Value::Object(schema.clone()));
    }
}

const UNIT: &str = "unit";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Struct,
    Enum,
}

/// What a probe learnt, carried out of serde as the deserializer's error.
#[derive(Debug)]
enum Probe {
    Names(Shape, &'static [&'static str]),
    Duplicate(&'static str),
    Variant(String),
    Other(String),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Other(message) => f.write_str(message),
            probe => write!(f, "{probe:?}"),
        }
    }
}
impl std::error::Error for Probe {}
impl de::Error for Probe {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Probe::Other(msg.to_string())
    }
    fn duplicate_field(field: &'static str) -> Self {
        Probe::Duplicate(field)
    }
}

/// Every name serde accepts for the type's fields or variants, aliases included.
fn accepted_names<T: DeserializeOwned>() -> Option<(Shape, &'static [&'static str])> {
    match T::deserialize(NamesProbe) {
        Err(Probe::Names(shape, names)) => Some((shape, names)),
        _ => None,
    }
}

/// The canonical field a name stands for: given twice, serde reports the field under its canonical name.
fn canonical_field<T: DeserializeOwned>(name: &str) -> Option<&'static str> {
    (0..ANY_VALUES).find_map(|any| match T::deserialize(TwiceProbe { key: name, any }) {
        Err(Probe::Duplicate(canonical)) => Some(canonical),
        _ => None,
    })
}

/// What a variant holds: `unit`, or the first thing its content asks the deserializer for (the
/// struct's name, `string`, ...), which tells a variant's aliases from its siblings.
fn variant_shape<T: DeserializeOwned>(name: &str) -> Option<String> {
    match T::deserialize(VariantProbe(name)) {
        Err(Probe::Variant(shape)) => Some(shape),
        _ => None,
    }
}

struct NamesProbe;

impl<'de> de::Deserializer<'de> for NamesProbe {
    type Error = Probe;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Other("not a struct or enum".into()))
    }
    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Probe> {
        Err(Probe::Names(Shape::Struct, fields))
    }
    fn deserialize_enum<V: Visitor<'de>>(self, _: &'static str, variants: &'static [&'static str], _: V) -> Result<V::Value, Probe> {
        Err(Probe::Names(Shape::Enum, variants))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// A map holding `key` twice, each time with a plain value.
struct TwiceProbe<'a> {
    key: &'a str,
    any: usize,
}

impl<'de> de::Deserializer<'de> for TwiceProbe<'_> {
    type Error = Probe;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Probe> {
        visitor.visit_map(TwiceMap { key: self.key, any: self.any, given: 0 })
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct TwiceMap<'a> {
    key: &'a str,
    any: usize,
    given: u8,
}

impl<'de> de::MapAccess<'de> for TwiceMap<'_> {
    type Error = Probe;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Probe> {
        if self.given == 2 {
            return Ok(None);
        }
        self.given += 1;
        seed.deserialize(self.key.into_deserializer()).map(Some)
    }
    fn next_value_seed<S: de::DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Probe> {
        seed.deserialize(Plain(self.any))
    }
}

/// How many ways [`Plain`] has to answer `deserialize_any`.
const ANY_VALUES: usize = 5;

/// The simplest value of whatever type asks: false, 0, "", none, an empty list or map, an enum's
/// first variant; a self-describing type (`deserialize_any`) gets the `n`th of 0, "", false, an
/// empty map and an empty list.
#[derive(Clone, Copy)]
struct Plain(usize);

macro_rules! plain {
    ($($method:ident => $visit:ident($value:expr)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Probe> {
            v.$visit($value)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Plain {
    type Error = Probe;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Probe> {
        match self.0 {
            0 => v.visit_u64(0),
            1 => v.visit_str(""),
            2 => v.visit_bool(false),
            3 => v.visit_map(Empty),
            _ => v.visit_seq(Empty),
        }
    }
    plain! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0), deserialize_i16 => visit_i64(0), deserialize_i32 => visit_i64(0), deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0), deserialize_u16 => visit_u64(0), deserialize_u32 => visit_u64(0), deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0), deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str(""), deserialize_string => visit_str(""), deserialize_identifier => visit_str(""),
        deserialize_bytes => visit_bytes(&[]), deserialize_byte_buf => visit_bytes(&[]),
        deserialize_seq => visit_seq(Empty), deserialize_map => visit_map(Empty),
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Probe> {
        v.visit_none()
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Probe> {
        v.visit_unit()
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Probe> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Probe> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Probe> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Probe> {
        v.visit_seq(Empty)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, v: V) -> Result<V::Value, Probe> {
        v.visit_seq(Empty)
    }
    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], v: V) -> Result<V::Value, Probe> {
        v.visit_map(Empty)
    }
    fn deserialize_enum<V: Visitor<'de>>(self, _: &'static str, variants: &'static [&'static str], v: V) -> Result<V::Value, Probe> {
        let first = variants.first().ok_or_else(|| Probe::Other("an enum without variants".into()))?;
        v.visit_enum(first.into_deserializer())
    }
}

struct Empty;

impl<'de> de::SeqAccess<'de> for Empty {
    type Error = Probe;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, _: T) -> Result<Option<T::Value>, Probe> {
        Ok(None)
    }
}

impl<'de> de::MapAccess<'de> for Empty {
    type Error = Probe;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, _: K) -> Result<Option<K::Value>, Probe> {
        Ok(None)
    }
    fn next_value_seed<S: de::DeserializeSeed<'de>>(&mut self, _: S) -> Result<S::Value, Probe> {
        Err(Probe::Other("no value".into()))
    }
}

/// An enum value naming the given variant, whose content reports what it asks for.
struct VariantProbe<'a>(&'a str);

impl<'de> de::Deserializer<'de> for VariantProbe<'_> {
    type Error = Probe;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Other("not an enum".into()))
    }
    fn deserialize_enum<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], v: V) -> Result<V::Value, Probe> {
        v.visit_enum(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de, 'a> de::EnumAccess<'de> for VariantProbe<'a> {
    type Error = Probe;
    type Variant = Self;
    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Probe> {
        Ok((seed.deserialize(self.0.into_deserializer())?, self))
    }
}

impl<'de> de::VariantAccess<'de> for VariantProbe<'_> {
    type Error = Probe;
    fn unit_variant(self) -> Result<(), Probe> {
        Err(Probe::Variant(UNIT.into()))
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Probe> {
        seed.deserialize(AskedFor)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("tuple of {len}")))
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("struct {fields:?}")))
    }
}

/// Reports the first thing a variant's content asks for.
struct AskedFor;

macro_rules! asked_for {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probe> {
            Err(Probe::Variant(stringify!($method).into()))
        })*
    };
}

impl<'de> de::Deserializer<'de> for AskedFor {
    type Error = Probe;
    asked_for! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64
        deserialize_char deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map deserialize_identifier
        deserialize_ignored_any
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("unit struct {name}")))
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("newtype struct {name}")))
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("tuple of {len}")))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(self, name: &'static str, _: usize, _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("tuple struct {name}")))
    }
    fn deserialize_struct<V: Visitor<'de>>(self, name: &'static str, _: &'static [&'static str], _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("struct {name}")))
    }
    fn deserialize_enum<V: Visitor<'de>>(self, name: &'static str, _: &'static [&'static str], _: V) -> Result<V::Value, Probe> {
        Err(Probe::Variant(format!("enum {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def<'a>(schema: &'a Value, name: &str) -> &'a Value {
        &schema["$defs"][name]
    }

    #[test]
    fn field_aliases_are_keys_of_the_canonical_type() {
        let s = json_schema();
        let source = def(&s, "SourceSpec");
        for alias in ["path", "url", "glob"] {
            assert_eq!(source["properties"][alias]["type"], "string", "{alias}");
            assert_eq!(source["properties"][alias]["description"], "Alias of `files`.");
        }
        assert_eq!(source["additionalProperties"], false);
        let minhash = def(&s, "MinHashParams");
        for alias in ["n_grams", "ngram_size", "shingle_size", "num_bands", "rows_per_band"] {
            assert_eq!(minhash["properties"][alias]["type"], "integer", "{alias}");
        }
        assert_eq!(def(&s, "FilterStage")["properties"]["predicate"]["description"], "Alias of `where`.");
    }

    #[test]
    fn a_required_field_may_be_given_under_an_alias() {
        let s = json_schema();
        let regex = def(&s, "RegexCheck");
        assert_eq!(regex["required"], json!(["column"]));
        let any = &regex["allOf"][0]["anyOf"];
        let mut names: Vec<&str> = any.as_array().unwrap().iter().map(|r| r["required"][0].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["matches", "pattern", "regex"]);
    }

    #[test]
    fn variant_aliases_join_their_enums() {
        let s = json_schema();
        let mut names = Vec::new();
        collect_variant_names(def(&s, "Format"), &mut names);
        for n in ["jsonl", "json", "ndjson", "parquet", "csv", "text", "txt"] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        // A stage alias takes the branch of its canonical stage.
        let stage = def(&s, "Stage")["oneOf"].as_array().unwrap();
        let branch = |key: &str| stage.iter().find(|b| b["required"] == json!([key])).unwrap_or_else(|| panic!("{key}")).clone();
        assert_eq!(branch("normalize")["properties"]["normalize"], branch("normalise")["properties"]["normalise"]);
        assert_eq!(branch("dedup")["properties"]["dedup"], branch("dedupe")["properties"]["dedupe"]);
        assert_eq!(branch("tokenize")["properties"]["tokenize"]["$ref"], "#/$defs/TokeniseStage");
    }

    #[test]
    fn unknown_keys_are_not_allowed_in_any_struct() {
        let s = json_schema();
        let mut open = Vec::new();
        for (name, d) in s["$defs"].as_object().unwrap() {
            if d.get("properties").is_some() && d["additionalProperties"] != false {
                open.push(name.clone());
            }
        }
        assert!(open.is_empty(), "definitions that allow unknown keys: {open:?}");
        assert_eq!(s["additionalProperties"], false);
    }
}
