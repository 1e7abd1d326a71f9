//! Hive-style partition directories (`lang=en/year=2024`): the one codec that writes them (sinks)
//! and reads them back (checks), so a value survives the round trip exactly. The encoded segment is
//! what lands in the object path and the manifest; object-store paths take it as it is.
//!
//! NULL is `__HIVE_DEFAULT_PARTITION__` (as Hive, Spark and pyarrow read it); the empty string is an
//! empty value (`lang=`); a value that is literally `__HIVE_DEFAULT_PARTITION__` has its underscores
//! escaped so that it does not read back as NULL.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Hive's escaped set, plus what object stores advise against in keys.
const ESCAPE: &AsciiSet = &CONTROLS
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'\'')
    .add(b'*')
    .add(b'/')
    .add(b':')
    .add(b'=')
    .add(b'?')
    .add(b'\\')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'{')
    .add(b'}')
    .add(b'<')
    .add(b'>')
    .add(b'|')
    .add(b'`')
    .add(b'~')
    .add(0x7f);

/// The path segment value for a partition value (`None` is NULL).
pub fn encode_value(v: Option<&str>) -> String {
    match v {
        None => NULL_PARTITION.to_string(),
        Some(NULL_PARTITION) => "%5F%5FHIVE_DEFAULT_PARTITION%5F%5F".to_string(),
        Some(".") => "%2E".to_string(),
        Some("..") => "%2E%2E".to_string(),
        Some(v) => utf8_percent_encode(v, ESCAPE).to_string(),
    }
}

/// The partition value of an encoded segment value (`None` is NULL).
pub fn decode_value(s: &str) -> Option<String> {
    if s == NULL_PARTITION {
        return None;
    }
    Some(percent_decode_str(s).decode_utf8_lossy().into_owned())
}

/// `k1=v1/k2=v2` for (key, value) pairs.
pub fn encode_dir<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut dir = String::new();
    for (k, v) in pairs {
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(&utf8_percent_encode(k, ESCAPE).to_string());
        dir.push('=');
        dir.push_str(&encode_value(v));
    }
    dir
}

/// The (key, value) pairs of the `k=v` segments of a relative path (other segments are skipped).
pub fn decode_dir(dir: &str) -> Vec<(String, Option<String>)> {
    dir.split('/')
        .filter_map(|seg| seg.split_once('='))
        .map(|(k, v)| (percent_decode_str(k).decode_utf8_lossy().into_owned(), decode_value(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for v in [Some("en"), Some(""), Some(NULL_PARTITION), Some("<a/b=c%3C>"), Some("é 世界"), Some("."), Some(".."), None] {
            let dir = encode_dir([("lang", v)]);
            assert_eq!(decode_dir(&dir), vec![("lang".to_string(), v.map(str::to_string))], "{dir}");
            assert!(object_store::path::PathPart::parse(dir.as_str()).is_ok(), "{dir} is one object-path segment");
        }
        assert_eq!(encode_dir([("lang", Some("<x>"))]), "lang=%3Cx%3E");
        assert_eq!(encode_dir([("a", None), ("b", Some(""))]), "a=__HIVE_DEFAULT_PARTITION__/b=");
    }
}
