//! Checks that need no I/O: URL schemes, one kind per sink, storage option keys, SQL not empty.

use crate::error::suggest;
use crate::{Diagnostic, PipelineSpec, Spanned, Stage};

pub const SCHEMES: &[&str] = &["file", "s3", "s3a", "az", "azure", "abfs", "abfss", "adl", "gs", "http", "https", "memory"];

/// Retry settings every storage block takes (handled by Millrace, not passed as object_store keys).
const RETRY_KEYS: &[&str] = &["max_retries", "retry_timeout"];

const S3_KEYS: &[&str] = &[
    "endpoint", "endpoint_url", "aws_endpoint", "aws_endpoint_url", "region", "aws_region", "default_region",
    "aws_default_region", "allow_http", "aws_allow_http", "access_key_id", "aws_access_key_id",
    "secret_access_key", "aws_secret_access_key", "session_token", "token", "aws_session_token", "aws_token",
    "virtual_hosted_style_request", "aws_virtual_hosted_style_request", "bucket", "bucket_name", "aws_bucket",
    "aws_bucket_name", "skip_signature", "aws_skip_signature", "unsigned_payload", "aws_unsigned_payload",
    "checksum_algorithm", "aws_checksum_algorithm", "conditional_put", "aws_conditional_put",
    "imdsv1_fallback", "aws_imdsv1_fallback", "metadata_endpoint", "aws_metadata_endpoint",
    "s3_express", "aws_s3_express", "request_payer", "aws_request_payer", "disable_tagging", "aws_disable_tagging",
];
const AZURE_KEYS: &[&str] = &[
    "use_emulator", "azure_storage_use_emulator", "account_name", "azure_storage_account_name", "account_key",
    "access_key", "azure_storage_account_key", "azure_storage_access_key", "client_id", "azure_client_id",
    "client_secret", "azure_client_secret", "tenant_id", "authority_id", "azure_tenant_id", "azure_authority_id",
    "sas_key", "sas_token", "azure_storage_sas_key", "azure_storage_sas_token", "token", "bearer_token",
    "azure_storage_token", "endpoint", "azure_storage_endpoint", "use_fabric_endpoint", "container_name",
    "azure_container_name", "use_azure_cli", "skip_signature", "allow_http", "msi_endpoint", "azure_msi_endpoint",
    "object_id", "azure_object_id", "msi_resource_id", "azure_msi_resource_id", "federated_token_file",
    "azure_federated_token_file", "disable_tagging",
];
const GCS_KEYS: &[&str] = &[
    "service_account", "service_account_path", "google_service_account", "google_service_account_path",
    "service_account_key", "google_service_account_key", "bucket", "bucket_name", "google_bucket",
    "google_bucket_name", "application_credentials", "google_application_credentials", "skip_signature",
];

pub fn validate(spec: &PipelineSpec) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    if spec.name.value.trim().is_empty() {
        d.push(at(&spec.name, "`name` must not be empty".into(), None));
    }
    let src = &spec.source;
    if let Some(t) = &src.delta {
        if src.kafka.is_some() || !src.files.value.is_empty() {
            d.push(at(t, "set one of `source.files`, `source.kafka` and `source.delta`".into(), None));
        }
        check_url(t, &mut d);
        if src.watch.is_some() {
            d.push(at(t, "`source.watch` is for `source.files`; a `delta` source reads one version of its table".into(), None));
        }
        if src.format.is_some_and(|f| f != crate::Format::Parquet) {
            d.push(at(t, "a `delta` source reads Parquet; leave `source.format` out".into(), None));
        }
        if let Some(ts) = &src.timestamp {
            if src.version.is_some() {
                d.push(at(ts, "set one of `source.version` and `source.timestamp`, not both".into(), None));
            }
            if chrono::DateTime::parse_from_rfc3339(&ts.value).is_err() {
                d.push(at(ts, format!("`source.timestamp` must be an RFC 3339 time such as 2026-01-31T12:00:00Z (got `{}`)", ts.value), None));
            }
        }
    } else if src.version.is_some() || src.timestamp.is_some() {
        d.push(at(&src.files, "`source.version` and `source.timestamp` are settings of a `delta` source".into(), None));
    }
    match (&spec.source.kafka, spec.source.files.value.is_empty()) {
        (Some(k), false) => d.push(at(k, "set one of `source.files` and `source.kafka`, not both".into(), None)),
        (Some(k), true) => {
            if k.value.brokers.trim().is_empty() || (k.value.topics.is_empty() && k.value.topic_pattern.is_none()) || k.value.group.trim().is_empty() {
                d.push(at(k, "`source.kafka` needs `brokers`, `topics` (or `topic_pattern`) and `group`".into(), None));
            }
            if !k.value.topics.is_empty() && k.value.topic_pattern.is_some() {
                d.push(at(k, "set one of `source.kafka.topics` and `source.kafka.topic_pattern`, not both".into(), None));
            }
            if let Some(p) = &k.value.topic_pattern {
                if let Err(e) = regex::Regex::new(p) {
                    d.push(at(k, format!("`source.kafka.topic_pattern` is not a regular expression: {e}"), None));
                }
            }
            if k.value.epoch.max_records == 0 {
                d.push(at(k, "`source.kafka.epoch.max_records` must be at least 1".into(), None));
            }
            if spec.source.watch.is_some() {
                d.push(at(k, "`source.watch` is for `source.files`; a Kafka source follows its topics (`follow`)".into(), None));
            }
        }
        (None, _) if spec.source.delta.is_some() => {}
        (None, _) => {
            check_url(&spec.source.files, &mut d);
            if spec.source.watch.is_some_and(|w| w.0.is_zero()) {
                d.push(at(&spec.source.files, "`source.watch` must be longer than 0s".into(), None));
            }
        }
    }
    if spec.source.text_field.is_empty() {
        d.push(at(&spec.source.files, "`source.text_field` must not be empty".into(), None));
    }
    if let Some(m) = &spec.metrics {
        if m.value.listen.parse::<std::net::SocketAddr>().is_err() {
            d.push(at(m, format!("`metrics.listen` must be host:port, such as 127.0.0.1:9464 (got `{}`)", m.value.listen), None));
        }
    }
    for stage in &spec.stages {
        match &stage.value {
            Stage::Sql(sql) if sql.trim().is_empty() => d.push(at(stage, "`sql` stage has an empty query".into(), None)),
            Stage::Filter(f) => {
                if let Some(l) = &f.languages {
                    if let Err(e) = l.validate() {
                        d.push(at(stage, format!("filter.languages: {e}"), None));
                    }
                }
                if let Err(e) = millrace_quality::QualityPipeline::new(&f.quality_specs()) {
                    d.push(at(stage, format!("filter: {e}"), None));
                }
                if f.quality_specs().is_empty() && f.languages.is_none() && f.predicate.is_none() {
                    d.push(at(stage, "`filter` stage enables no rule; add e.g. `gopher_quality: {}`".into(), None));
                }
            }
            Stage::Dedupe(dd) => {
                if let Err(e) = dd.params().validate() {
                    d.push(at(stage, format!("dedupe: {e}"), None));
                }
                if let Some(i) = &dd.index {
                    if let Some(msg) = url_problem(i) {
                        d.push(at(stage, format!("dedupe.index: {msg}"), None));
                    }
                }
            }
            Stage::Tokenise(t) if t.tokenizer.trim().is_empty() => {
                d.push(at(stage, "`tokenise` needs `tokenizer: path/to/tokenizer.json`".into(), None))
            }
            _ => {}
        }
    }
    let has_tokenise = spec.stages.iter().any(|s| matches!(s.value, Stage::Tokenise(_)));
    if spec.sinks.is_empty() {
        d.push(Diagnostic { line: 0, column: 0, message: "at least one sink is required".into(), hint: None });
    }
    // State and rejects default to places inside the first file sink.
    let file_sinks = spec.sinks.iter().filter(|s| s.value.target().0 != crate::SinkKind::Kafka).count();
    if file_sinks == 0 && !spec.sinks.is_empty() && (spec.state.is_none() || spec.rejects.is_none()) {
        d.push(at(&spec.sinks[0], "with only `kafka` sinks, give `state:` and `rejects:` locations (they default to places inside the first file sink)".into(), None));
    }
    let mut names = std::collections::HashSet::new();
    for (i, sink) in spec.sinks.iter().enumerate() {
        let kinds = sink.value.kinds();
        match kinds.len() {
            0 => d.push(at(sink, "sink has no kind: give one of `parquet: <url>`, `jsonl: <url>`, `megatron: <url>`, `delta: <url>` or `kafka: {brokers, topic}`".into(), None)),
            1 if kinds[0].0 == crate::SinkKind::Kafka => {
                let t = sink.value.kafka.as_ref().expect("a kafka kind has its topic");
                if t.brokers.trim().is_empty() || t.topic.trim().is_empty() {
                    d.push(at(sink, "a `kafka` sink needs `brokers` and `topic`".into(), None));
                }
                if !sink.value.partition_by.is_empty() {
                    d.push(at(sink, "a `kafka` sink has no `partition_by` (records are keyed by `key_field`)".into(), None));
                }
            }
            1 => {
                let url = kinds[0].1;
                if let Some(msg) = url_problem(url) {
                    d.push(at(sink, msg, None));
                }
                if kinds[0].0 == crate::SinkKind::Megatron && !has_tokenise {
                    d.push(at(sink, "a `megatron` sink needs a `tokenise` stage before it".into(), None));
                }
            }
            _ => d.push(at(sink, "sink has more than one kind key; write one sink per kind".into(), None)),
        }
        if let Some(c) = &sink.value.compression {
            let ok: &[&str] = match sink.value.target().0 {
                crate::SinkKind::Parquet | crate::SinkKind::Delta => &["zstd", "snappy", "lz4", "gzip", "none", "uncompressed"],
                crate::SinkKind::Jsonl => &["zstd", "gzip", "none"],
                crate::SinkKind::Megatron | crate::SinkKind::Kafka => &["none"],
            };
            if !ok.contains(&c.value.as_str()) {
                d.push(at(c, format!("unknown compression `{}`; one of {}", c.value, ok.join(", ")), suggest(&c.value, ok)));
            }
        }
        if sink.value.target().0 != crate::SinkKind::Delta {
            let v = &sink.value;
            let only_delta = [
                ("mode", v.mode.is_some()),
                ("schema_mode", v.schema_mode.is_some()),
                ("checkpoint_interval", v.checkpoint_interval.is_some()),
                ("properties", !v.properties.is_empty()),
            ];
            for (key, set) in only_delta {
                if set {
                    d.push(at(sink, format!("`{key}` is a setting of `delta` sinks"), None));
                }
            }
        } else {
            if sink.value.checkpoint_interval == Some(0) {
                d.push(at(sink, "`checkpoint_interval` must be at least 1".into(), None));
            }
            let scale_out = spec.source.kafka.as_ref().is_some_and(|k| k.value.scale_out);
            if let Some(m) = sink.value.mode.as_ref().filter(|m| m.value == crate::DeltaMode::Overwrite && scale_out) {
                d.push(at(m, "`mode: overwrite` cannot be used with `scale_out` (every lane would replace the others' rows); use `append`".into(), None));
            }
        }
        if !names.insert(sink.value.display_name(i)) {
            d.push(at(sink, format!("duplicate sink name `{}`", sink.value.display_name(i)), None));
        }
    }
    if let Some(r) = &spec.rejects {
        check_url(r, &mut d);
    }
    if let Some(s) = &spec.state {
        check_url(s, &mut d);
    }
    if let Some(dl) = &spec.dead_letter {
        if dl.value.brokers.trim().is_empty() || dl.value.topic.trim().is_empty() {
            d.push(at(dl, "`dead_letter` needs `brokers` and `topic`".into(), None));
        }
    }
    let storage_name = spec.name.clone();
    for (scheme, map, keys) in [
        ("s3", &spec.storage.s3, S3_KEYS),
        ("azure", &spec.storage.azure, AZURE_KEYS),
        ("gcs", &spec.storage.gcs, GCS_KEYS),
    ] {
        for k in map.keys() {
            let k_lower = k.to_ascii_lowercase();
            if !keys.contains(&k_lower.as_str()) && !RETRY_KEYS.contains(&k_lower.as_str()) {
                // Map keys carry no span of their own; point at the top of the document's storage block.
                d.push(Diagnostic {
                    line: 0,
                    column: 0,
                    message: format!("unknown storage.{scheme} option `{k}`"),
                    hint: suggest(k, keys),
                });
            }
        }
    }
    let _ = storage_name;
    if spec.engine.batch_rows == 0 {
        d.push(Diagnostic { line: 0, column: 0, message: "engine.batch_rows must be > 0".into(), hint: None });
    }
    d
}

fn at<T>(s: &Spanned<T>, message: String, hint: Option<String>) -> Diagnostic {
    Diagnostic { line: s.referenced.line(), column: s.referenced.column(), message, hint }
}

fn check_url(s: &Spanned<String>, d: &mut Vec<Diagnostic>) {
    if let Some(msg) = url_problem(&s.value) {
        d.push(at(s, msg, None));
    }
}

/// Local paths are fine; anything with `scheme://` must be a scheme we can open.
pub fn url_problem(u: &str) -> Option<String> {
    if u.trim().is_empty() {
        return Some("empty path or URL".into());
    }
    match u.find("://") {
        None => None,
        Some(i) => {
            let scheme = u[..i].to_ascii_lowercase();
            if !SCHEMES.contains(&scheme.as_str()) {
                let hint = suggest(&scheme, SCHEMES).map(|h| format!(" ({h})")).unwrap_or_default();
                return Some(format!("unsupported URL scheme `{scheme}://` in `{u}`{hint}; supported: {}", SCHEMES.join(", ")));
            }
            if u[i + 3..].is_empty() && scheme != "file" {
                return Some(format!("URL `{u}` has no bucket/container"));
            }
            None
        }
    }
}
