//! A realistic report shared by the integration tests: a web-crawl cleaning run with
//! six stages, two sinks, epochs, histograms, languages and mixed check outcomes.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use millrace_report::*;
use serde_json::json;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 3, 14, 2, 11).single().expect("valid date")
}

fn reasons(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn field(name: &str, ty: &str) -> SchemaField {
    SchemaField { name: name.into(), data_type: ty.into(), description: None }
}

/// Log-spaced histogram with a roughly log-normal shape.
fn lognormal_hist(edges: &[f64], mode_idx: f64, spread: f64, total: f64) -> Histogram {
    let n = edges.len() - 1;
    let weights: Vec<f64> = (0..n).map(|i| (-((i as f64 - mode_idx).powi(2)) / (2.0 * spread * spread)).exp()).collect();
    let sum: f64 = weights.iter().sum();
    Histogram { edges: edges.to_vec(), counts: weights.iter().map(|w| (w / sum * total).round() as u64).collect() }
}

pub fn realistic_report() -> RunReport {
    let start = t0();
    let rows_read = 2_480_000u64;
    let stages = vec![
        StageReport {
            name: "parse".into(),
            kind: "jsonl_decode".into(),
            rows_in: rows_read,
            rows_out: 2_476_512,
            rows_rejected: 3_488,
            rejects_by_reason: reasons(&[("invalid_utf8", 2_101), ("malformed_json", 1_387)]),
            cpu_ms: Some(41_200),
            wall_ms: 12_400,
        },
        StageReport {
            name: "normalise".into(),
            kind: "text_normalise".into(),
            rows_in: 2_476_512,
            rows_out: 2_476_512,
            rows_rejected: 0,
            rejects_by_reason: BTreeMap::new(),
            cpu_ms: Some(88_000),
            wall_ms: 21_000,
        },
        StageReport {
            name: "lang_id".into(),
            kind: "language_filter".into(),
            rows_in: 2_476_512,
            rows_out: 2_102_330,
            rows_rejected: 374_182,
            rejects_by_reason: reasons(&[("language_not_allowed", 301_554), ("low_confidence", 72_628)]),
            cpu_ms: Some(65_400),
            wall_ms: 17_800,
        },
        StageReport {
            name: "gopher_quality".into(),
            kind: "quality_filter".into(),
            rows_in: 2_102_330,
            rows_out: 1_622_871,
            rows_rejected: 479_459,
            rejects_by_reason: reasons(&[
                ("too_short", 201_033),
                ("symbol_ratio", 88_410),
                ("stop_words", 71_200),
                ("bullet_lines", 40_118),
                ("ellipsis_lines", 31_922),
                ("mean_word_length", 24_601),
                ("alpha_ratio", 22_175),
            ]),
            cpu_ms: Some(120_300),
            wall_ms: 31_500,
        },
        StageReport {
            name: "minhash_dedupe".into(),
            kind: "near_dedupe".into(),
            rows_in: 1_622_871,
            rows_out: 1_291_044,
            rows_rejected: 331_827,
            rejects_by_reason: reasons(&[("near_duplicate", 298_310), ("exact_duplicate", 33_517)]),
            cpu_ms: Some(210_900),
            wall_ms: 54_200,
        },
        StageReport {
            name: "tokenise".into(),
            kind: "tokenise".into(),
            rows_in: 1_291_044,
            rows_out: 1_291_044,
            rows_rejected: 0,
            rejects_by_reason: BTreeMap::new(),
            cpu_ms: Some(150_000),
            wall_ms: 38_900,
        },
    ];
    let rows_written = 1_291_044u64;
    let files = |prefix: &str, n: usize, bytes_per_row: u64| -> Vec<SinkFile> {
        let per = rows_written / n as u64;
        (0..n)
            .map(|i| {
                let rows = if i + 1 == n { rows_written - per * (n as u64 - 1) } else { per };
                SinkFile {
                    path: format!("{prefix}/part-{i:05}.parquet"),
                    rows,
                    bytes: rows * bytes_per_row,
                    sha256: format!("{:064x}", 0x9f3a_u64.wrapping_mul(i as u64 + 7) << 12),
                }
            })
            .collect()
    };
    let out_schema = vec![
        field("id", "Utf8"),
        field("text", "Utf8"),
        field("url", "Utf8"),
        field("lang", "Utf8"),
        field("token_count", "UInt32"),
    ];
    let lineage = vec![
        ColumnLineage {
            output_field: "text".into(),
            inputs: vec![InputFieldRef { source: "cc_crawl".into(), field: "content".into() }],
            transformation: "NFC normalise, strip boilerplate lines".into(),
            transformation_type: "DIRECT".into(),
        },
        ColumnLineage {
            output_field: "id".into(),
            inputs: vec![InputFieldRef { source: "cc_crawl".into(), field: "warc_record_id".into() }],
            transformation: "copied".into(),
            transformation_type: "DIRECT".into(),
        },
        ColumnLineage {
            output_field: "lang".into(),
            inputs: vec![InputFieldRef { source: "cc_crawl".into(), field: "content".into() }],
            transformation: "whatlang detection".into(),
            transformation_type: "DIRECT".into(),
        },
    ];
    let mut col_metrics = BTreeMap::new();
    col_metrics.insert("text".to_string(), ColumnMetrics { null_count: Some(0), distinct_count: Some(rows_written) });
    col_metrics.insert("url".to_string(), ColumnMetrics { null_count: Some(1_204), distinct_count: None });
    let sinks = vec![
        SinkReport {
            name: "clean_parquet".into(),
            kind: "parquet".into(),
            url: "s3://corpus-bucket/clean/cc-2025-06/".into(),
            files: files("clean/cc-2025-06", 24, 2_140),
            version: None,
            epoch: Some(7),
            schema: out_schema.clone(),
            column_metrics: col_metrics,
            column_lineage: lineage,
        },
        SinkReport {
            name: "shards <tokenised>".into(),
            kind: "jsonl.zst".into(),
            url: "/data/shards/cc-2025-06".into(),
            files: files("/data/shards/cc-2025-06", 8, 1_530),
            version: Some(3),
            epoch: Some(7),
            schema: out_schema,
            column_metrics: BTreeMap::new(),
            column_lineage: vec![],
        },
    ];
    let epochs = (0..8u64)
        .map(|e| EpochReport {
            epoch: e,
            rows: rows_written / 8,
            bytes: rows_written / 8 * 2_140,
            wall_ms: 22_000 + e * 700,
            committed_at: Some(start + Duration::seconds(25 + e as i64 * 23)),
        })
        .collect();
    // Rows/s per 3 s interval: ramp up, plateau with a dip during a dedupe index flush.
    let rate = |j: u64| -> f64 {
        if j == 0 {
            0.0
        } else if j < 5 {
            4_000.0 * j as f64
        } else if (32..36).contains(&j) {
            9_000.0
        } else {
            14_500.0 - j as f64 * 17.0
        }
    };
    let throughput = (0..=60u64)
        .map(|i| {
            let rows = (0..=i).map(rate).sum::<f64>() * 3.0;
            ThroughputSample { t_ms: i * 3_000, rows: rows as u64, bytes: (rows * 3_050.0) as u64 }
        })
        .collect();
    let len_edges = [0.0, 100.0, 200.0, 400.0, 800.0, 1_600.0, 3_200.0, 6_400.0, 12_800.0, 25_600.0, 51_200.0, 102_400.0, 204_800.0];
    let tok_edges = [0.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1_024.0, 2_048.0, 4_096.0, 8_192.0, 16_384.0, 32_768.0];
    let mut language_mix = BTreeMap::new();
    for (l, n) in [
        ("en", 812_345u64),
        ("de", 121_002),
        ("fr", 98_400),
        ("es", 87_211),
        ("it", 41_330),
        ("nl", 30_120),
        ("pl", 28_004),
        ("pt", 25_660),
        ("sv", 14_200),
        ("cs", 11_002),
        ("da", 9_870),
        ("fi", 6_400),
        ("no", 5_500),
    ] {
        language_mix.insert(l.to_string(), n);
    }
    let checks = vec![
        CheckResult {
            name: "min_rows_written".into(),
            kind: "row_count".into(),
            severity: Severity::Error,
            status: CheckStatus::Pass,
            column: None,
            observed: json!(rows_written),
            threshold: json!({"min": 1_000_000}),
            message: "1,291,044 rows ≥ 1,000,000".into(),
            failing_rows: None,
        },
        CheckResult {
            name: "text_not_null".into(),
            kind: "not_null".into(),
            severity: Severity::Error,
            status: CheckStatus::Pass,
            column: Some("text".into()),
            observed: json!(0),
            threshold: json!(0),
            message: "no null texts".into(),
            failing_rows: Some(0),
        },
        CheckResult {
            name: "url_not_null".into(),
            kind: "not_null".into(),
            severity: Severity::Warn,
            status: CheckStatus::Warn,
            column: Some("url".into()),
            observed: json!(1_204),
            threshold: json!(0),
            message: "1,204 rows have no url".into(),
            failing_rows: Some(1_204),
        },
        CheckResult {
            name: "dedupe_rate_max".into(),
            kind: "expression".into(),
            severity: Severity::Error,
            status: CheckStatus::Fail,
            column: None,
            observed: json!(0.2045),
            threshold: json!({"max": 0.2}),
            message: "near-duplicate rate 20.4% > 20% <check crawl overlap & seed list>".into(),
            failing_rows: Some(331_827),
        },
        CheckResult {
            name: "english_share".into(),
            kind: "distribution".into(),
            severity: Severity::Warn,
            status: CheckStatus::Pass,
            column: Some("lang".into()),
            observed: json!(0.629),
            threshold: json!({"min": 0.5}),
            message: "en share 62.9%".into(),
            failing_rows: None,
        },
        CheckResult {
            name: "pii_scan".into(),
            kind: "udf".into(),
            severity: Severity::Error,
            status: CheckStatus::Error,
            column: Some("text".into()),
            observed: serde_json::Value::Null,
            threshold: json!({"max_emails": 0}),
            message: "scanner model not found at /models/pii".into(),
            failing_rows: None,
        },
    ];
    RunReport {
        run_id: uuid::Uuid::from_u128(0x6f1c_2b7e_9a41_4c1d_8e0f_5b3a_2c9d_7e11),
        pipeline: "cc-2025-06 <clean> & dedupe".into(),
        spec_path: "pipelines/cc-clean.yaml".into(),
        spec_sha256: "3f8a1c0d9b7e6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a19".into(),
        started_at: Some(start),
        finished_at: Some(start + Duration::seconds(183) + Duration::milliseconds(420)),
        status: RunStatus::Failed,
        error: Some("check 'dedupe_rate_max' failed (severity error): rate 0.2045 > 0.2".into()),
        totals: Totals {
            rows_read,
            rows_written,
            rows_filtered: 1_185_468,
            rows_rejected: 3_488,
            bytes_read: 7_564_000_000,
            bytes_written: rows_written * 2_140 + rows_written * 1_530,
        },
        sources: vec![SourceReport {
            name: "cc_crawl".into(),
            kind: "jsonl".into(),
            url: "s3://crawl-raw/cc-2025-06/segments/".into(),
            rows: rows_read,
            bytes: 7_564_000_000,
            files: 320,
            schema: vec![field("warc_record_id", "Utf8"), field("content", "Utf8"), field("url", "Utf8")],
            column_metrics: BTreeMap::new(),
        }],
        stages,
        sinks,
        epochs,
        peak_rss_bytes: 6_842_000_000,
        cpu_seconds: 675.8,
        histograms: Histograms {
            doc_length_chars: lognormal_hist(&len_edges, 5.3, 1.7, rows_written as f64),
            tokens_per_doc: lognormal_hist(&tok_edges, 4.6, 1.5, rows_written as f64),
        },
        language_mix,
        throughput,
        checks,
    }
}
