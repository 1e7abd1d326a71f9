//! Millrace's text functions as vectorised DataFusion scalar UDFs. Each UDF is a kernel over whole
//! Arrow arrays that calls the pure functions of `millrace-text`, `millrace-quality`,
//! `millrace-dedupe` and `millrace-tokenise`; the same UDFs serve spec stages and `sql:` stages.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, Float32Builder, ListBuilder, StringArray, StringBuilder, StructArray,
    UInt32Builder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

type Kernel = Arc<dyn Fn(&[ArrayRef]) -> DFResult<ArrayRef> + Send + Sync>;

/// A UDF defined by a kernel closure; `key` (the parameters as JSON) makes two instances with the
/// same parameters equal, which DataFusion needs for plan comparison.
pub struct KernelUdf {
    name: String,
    key: String,
    signature: Signature,
    ret: DataType,
    kernel: Kernel,
}

impl std::fmt::Debug for KernelUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name, self.key)
    }
}
impl PartialEq for KernelUdf {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.key == o.key
    }
}
impl Eq for KernelUdf {}
impl Hash for KernelUdf {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.name.hash(h);
        self.key.hash(h);
    }
}

impl ScalarUDFImpl for KernelUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array((self.kernel)(&arrays)?))
    }
}

/// The parameters as JSON: what makes two UDF instances equal.
pub fn key<T: serde::Serialize + ?Sized>(t: &T) -> String {
    serde_json::to_string(t).unwrap_or_default()
}

pub fn make_udf(name: &str, key: String, arity: usize, ret: DataType, kernel: Kernel) -> ScalarUDF {
    ScalarUDF::new_from_impl(KernelUdf {
        name: name.to_string(),
        key,
        signature: Signature::any(arity, Volatility::Immutable),
        ret,
        kernel,
    })
}

/// Any string-like array as a `StringArray` (SQL stages may produce views or large strings).
/// Any of Arrow's string types.
pub fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

pub fn strings(a: &ArrayRef) -> DFResult<StringArray> {
    if a.data_type() == &DataType::Utf8 {
        return Ok(a.as_string::<i32>().clone());
    }
    let c = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
    Ok(c.as_string::<i32>().clone())
}

fn arg(args: &[ArrayRef], i: usize, name: &str) -> DFResult<StringArray> {
    let a = args.get(i).ok_or_else(|| DataFusionError::Plan(format!("{name}: missing argument {}", i + 1)))?;
    strings(a)
}

/// A text -> text function over a whole array, keeping nulls.
pub fn map_text(name: &str, key: String, f: impl Fn(&str) -> Cow<'_, str> + Send + Sync + 'static) -> ScalarUDF {
    let owned = name.to_string();
    make_udf(
        name,
        key,
        1,
        DataType::Utf8,
        Arc::new(move |args| {
            let s = arg(args, 0, &owned)?;
            let mut b = StringBuilder::with_capacity(s.len(), s.value_data().len());
            for v in s.iter() {
                match v {
                    Some(t) => b.append_value(f(t)),
                    None => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }),
    )
}

/// Builds a struct array from named columns.
pub fn struct_of(cols: Vec<(&str, ArrayRef)>) -> DFResult<ArrayRef> {
    let fields: Fields = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let arrays = cols.into_iter().map(|(_, a)| a).collect();
    Ok(Arc::new(StructArray::try_new(fields, arrays, None)?))
}

pub fn struct_type(fields: &[(&str, DataType)]) -> DataType {
    DataType::Struct(fields.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect())
}

/// SQL functions available in every `sql:` stage, with their default parameters:
/// `clean_text(text)`, `normalise(text)`, `redact_pii(text)`, `detect_language(text)` (ISO code),
/// `language_score(text)`, `quality_reason(text)` (FineWeb + Gopher rules; null when kept),
/// `text_hash(text)` (folded xxh3-128 as 16 bytes), `minhash(text)` (list of u64 band keys'
/// signature), `token_count(text, tokenizer_path)`.
pub fn register_sql_functions(ctx: &datafusion::prelude::SessionContext) {
    let clean = millrace_text::CleanParams::default();
    ctx.register_udf(map_text("clean_text", crate::udf::key(&clean), move |t| millrace_text::clean(t, &clean)));
    let norm = millrace_text::NormaliseParams::default();
    ctx.register_udf(map_text("normalise", crate::udf::key(&norm), move |t| millrace_text::normalise(t, &norm)));
    let pii = millrace_text::PiiParams::default();
    ctx.register_udf(map_text("redact_pii", crate::udf::key(&pii), move |t| millrace_text::redact_pii(t, &pii).text));
    let lid = millrace_text::LangIdParams::default();
    let lid2 = lid.clone();
    ctx.register_udf(make_udf(
        "detect_language",
        crate::udf::key(&lid),
        1,
        DataType::Utf8,
        Arc::new(move |args| {
            let s = arg(args, 0, "detect_language")?;
            let out: StringArray = s.iter().map(|t| t.and_then(|t| millrace_text::detect_language(t, &lid).map(|(l, _)| l))).collect();
            Ok(Arc::new(out) as ArrayRef)
        }),
    ));
    ctx.register_udf(make_udf(
        "language_score",
        crate::udf::key(&lid2),
        1,
        DataType::Float32,
        Arc::new(move |args| {
            let s = arg(args, 0, "language_score")?;
            let mut b = Float32Builder::with_capacity(s.len());
            for t in s.iter() {
                b.append_option(t.map(|t| millrace_text::detect_language(t, &lid2).map(|(_, sc)| sc).unwrap_or(0.0)));
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }),
    ));
    let specs = vec![
        millrace_quality::FilterSpec::GopherRepetition(Default::default()),
        millrace_quality::FilterSpec::GopherQuality(Default::default()),
        millrace_quality::FilterSpec::FineWebQuality(Default::default()),
    ];
    if let Ok(pipeline) = millrace_quality::QualityPipeline::new(&specs) {
        ctx.register_udf(make_udf(
            "quality_reason",
            crate::udf::key(&"gopher_repetition+gopher_quality+fineweb_quality"),
            1,
            DataType::Utf8,
            Arc::new(move |args| {
                let s = arg(args, 0, "quality_reason")?;
                let out: StringArray = s.iter().map(|t| t.and_then(|t| pipeline.run(t).decision.reason().map(|r| r.to_string()))).collect();
                Ok(Arc::new(out) as ArrayRef)
            }),
        ));
    }
    ctx.register_udf(make_udf(
        "text_hash",
        crate::udf::key(&"folded-xxh3-128"),
        1,
        DataType::FixedSizeBinary(16),
        Arc::new(|args| {
            let s = arg(args, 0, "text_hash")?;
            let mut b = FixedSizeBinaryBuilder::with_capacity(s.len(), 16);
            for t in s.iter() {
                match t {
                    Some(t) => b.append_value(millrace_dedupe::text_hash(t, true).to_le_bytes())?,
                    None => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }),
    ));
    let mh = millrace_dedupe::MinHashParams::default();
    ctx.register_udf(make_udf(
        "minhash",
        crate::udf::key(&mh),
        1,
        DataType::List(Arc::new(Field::new("item", DataType::UInt64, true))),
        Arc::new(move |args| {
            let s = arg(args, 0, "minhash")?;
            let mut b = ListBuilder::new(UInt64Builder::new());
            for t in s.iter() {
                match t {
                    Some(t) => {
                        let sig = millrace_dedupe::signature(t, &mh).map_err(|e| DataFusionError::Execution(e.to_string()))?;
                        b.values().append_slice(&sig);
                        b.append(true);
                    }
                    None => b.append(false),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }),
    ));
    let cache: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<millrace_tokenise::Tokeniser>>>> = Default::default();
    ctx.register_udf(make_udf(
        "token_count",
        crate::udf::key(&"token_count"),
        2,
        DataType::UInt32,
        Arc::new(move |args| {
            let s = arg(args, 0, "token_count")?;
            let paths = arg(args, 1, "token_count")?;
            let mut b = UInt32Builder::with_capacity(s.len());
            for (t, p) in s.iter().zip(paths.iter()) {
                match (t, p) {
                    (Some(t), Some(p)) => {
                        let tok = {
                            let mut c = cache.lock().map_err(|_| DataFusionError::Execution("tokenizer cache poisoned".into()))?;
                            match c.get(p) {
                                Some(t) => t.clone(),
                                None => {
                                    let params = millrace_tokenise::TokeniseParams { tokenizer: p.to_string(), add_eos: false, ..Default::default() };
                                    let t = Arc::new(millrace_tokenise::Tokeniser::new(&params).map_err(|e| DataFusionError::Execution(format!("token_count: {e}")))?);
                                    c.insert(p.to_string(), t.clone());
                                    t
                                }
                            }
                        };
                        let n = tok.count(t).map_err(|e| DataFusionError::Execution(e.to_string()))?;
                        b.append_value(n as u32);
                    }
                    _ => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }),
    ));
}
