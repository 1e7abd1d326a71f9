//! Validates emitted OpenLineage events against the official JSON Schemas vendored in
//! `tests/data/openlineage` (spec 2-0-2 and the facet schemas). Each event is checked
//! against `OpenLineage.json`, and every facet against the schema its `_schemaURL` names,
//! so a wrong facet URL or shape fails the test too.

mod common;

use std::path::Path;

use jsonschema::Registry;
use millrace_report::lineage::{Delivery, LineageBuilder, LineageConfig, Transport, TransportKind};
use millrace_report::{EventType, RunReport, RunStatus};
use serde_json::{Value, json};

struct Schemas {
    registry: Registry<'static>,
    event: jsonschema::Validator,
}

fn load_schemas() -> Schemas {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/openlineage");
    let mut docs: Vec<(String, Value)> = Vec::new();
    let mut files = vec![dir.join("OpenLineage.json")];
    for e in std::fs::read_dir(dir.join("facets")).expect("facets dir") {
        files.push(e.expect("entry").path());
    }
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("read schema")).expect("schema json");
        let id = v["$id"].as_str().expect("$id").to_string();
        docs.push((id, v));
    }
    let main = docs.iter().find(|(id, _)| id.ends_with("/OpenLineage.json")).expect("main").1.clone();
    let registry = Registry::new().extend(docs).expect("registry").prepare().expect("prepare registry");
    let event = jsonschema::options().should_validate_formats(true).build(&main).expect("compile OpenLineage.json");
    Schemas { registry, event }
}

impl Schemas {
    /// All validation errors of `event` (empty when valid).
    fn errors(&self, event: &Value) -> Vec<String> {
        let mut errs: Vec<String> = self.event.iter_errors(event).map(|e| format!("event: {e} at {}", e.instance_path())).collect();
        let mut facet_maps: Vec<(String, &Value)> = vec![
            ("run.facets".into(), &event["run"]["facets"]),
            ("job.facets".into(), &event["job"]["facets"]),
        ];
        for side in ["inputs", "outputs"] {
            if let Some(ds) = event[side].as_array() {
                for (i, d) in ds.iter().enumerate() {
                    for key in ["facets", "inputFacets", "outputFacets"] {
                        facet_maps.push((format!("{side}[{i}].{key}"), &d[key]));
                    }
                }
            }
        }
        for (path, map) in facet_maps {
            let Some(map) = map.as_object() else { continue };
            for (name, facet) in map {
                let Some(url) = facet["_schemaURL"].as_str() else {
                    errs.push(format!("{path}.{name}: no _schemaURL"));
                    continue;
                };
                let validator = match jsonschema::options()
                    .with_registry(&self.registry)
                    .should_validate_formats(true)
                    .build(&json!({ "$ref": url }))
                {
                    Ok(v) => v,
                    Err(e) => {
                        errs.push(format!("{path}.{name}: schema {url} not resolvable: {e}"));
                        continue;
                    }
                };
                errs.extend(validator.iter_errors(facet).map(|e| format!("{path}.{name}: {e} at {}", e.instance_path())));
                // The facet schema files also declare which key the facet lives under.
                let file = url.split('#').next().unwrap_or(url);
                if let Ok(v) = jsonschema::options().with_registry(&self.registry).build(&json!({ "$ref": file })) {
                    errs.extend(v.iter_errors(&json!({ name.clone(): facet })).map(|e| format!("{path}.{name} (keyed): {e}")));
                }
            }
        }
        errs
    }

    fn assert_valid(&self, event: &Value) {
        let errs = self.errors(event);
        assert!(errs.is_empty(), "invalid event:\n{}\n{}", errs.join("\n"), serde_json::to_string_pretty(event).unwrap_or_default());
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("serialise")
}

#[test]
fn start_running_fail_complete_events_are_valid() {
    let schemas = load_schemas();
    let cfg = LineageConfig::default();
    let b = LineageBuilder::new(&cfg);
    let report = common::realistic_report();

    let start = to_value(&b.start(&report));
    schemas.assert_valid(&start);
    assert_eq!(start["eventType"], "START");
    assert_eq!(start["eventTime"], "2025-06-03T14:02:11Z");
    assert_eq!(start["schemaURL"], "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent");
    assert_eq!(start["job"]["name"], "cc-2025-06 <clean> & dedupe");
    assert_eq!(start["inputs"][0]["namespace"], "s3://crawl-raw");
    assert_eq!(start["inputs"][0]["name"], "cc-2025-06/segments/");
    assert_eq!(start["outputs"][1]["namespace"], "file");
    // A table format's version (a Delta sink's) is the `version` facet.
    assert_eq!(start["outputs"][1]["facets"]["version"]["datasetVersion"], "3");
    assert!(start["outputs"][0]["facets"].get("version").is_none());
    assert!(start["outputs"][0]["facets"].get("dataQualityAssertions").is_none());

    let running = to_value(&b.epoch(&report, 3).expect("epoch 3"));
    schemas.assert_valid(&running);
    assert_eq!(running["eventType"], "RUNNING");
    assert!(b.epoch(&report, 99).is_err());

    // The realistic report failed.
    let fail = to_value(&b.finish(&report).expect("finish"));
    schemas.assert_valid(&fail);
    assert_eq!(fail["eventType"], "FAIL");
    let err = &fail["run"]["facets"]["errorMessage"];
    assert_eq!(err["programmingLanguage"], "rust");
    assert!(err["message"].as_str().unwrap_or("").contains("dedupe_rate_max"));
    let out = &fail["outputs"][0];
    assert_eq!(out["facets"]["schema"]["fields"][4]["type"], "UInt32");
    assert_eq!(out["facets"]["dataQualityMetrics"]["rowCount"], 1_291_044);
    assert_eq!(out["facets"]["dataQualityMetrics"]["columnMetrics"]["url"]["nullCount"], 1_204);
    assert_eq!(out["outputFacets"]["outputStatistics"]["fileCount"], 24);
    let assertions = out["facets"]["dataQualityAssertions"]["assertions"].as_array().expect("assertions");
    assert_eq!(assertions.len(), 6);
    assert_eq!(assertions[2]["assertion"], "not_null");
    assert_eq!(assertions[2]["column"], "url");
    assert_eq!(assertions[2]["success"], false);
    assert_eq!(assertions[0]["success"], true);
    let lineage = &out["facets"]["columnLineage"]["fields"]["text"];
    assert_eq!(lineage["inputFields"][0]["field"], "content");
    assert_eq!(lineage["inputFields"][0]["namespace"], "s3://crawl-raw");
    assert_eq!(lineage["inputFields"][0]["transformations"][0]["type"], "DIRECT");
    assert_eq!(lineage["transformationDescription"], "NFC normalise, strip boilerplate lines");
    assert_eq!(fail["inputs"][0]["inputFacets"]["dataQualityMetrics"]["rowCount"], 2_480_000);

    let mut ok = report.clone();
    ok.status = RunStatus::Succeeded;
    ok.error = None;
    let complete = to_value(&b.finish(&ok).expect("finish"));
    schemas.assert_valid(&complete);
    assert_eq!(complete["eventType"], "COMPLETE");
    assert!(complete["run"]["facets"].get("errorMessage").is_none());

    // A minimal report (no sources, sinks or checks) is still a valid event.
    let bare = RunReport { pipeline: "p".into(), ..Default::default() };
    schemas.assert_valid(&to_value(&b.event(&bare, EventType::Running, chrono::Utc::now())));
    assert!(b.finish(&bare).is_err(), "a running report has no final event");
}

#[test]
fn invalid_events_are_rejected() {
    let schemas = load_schemas();
    let cfg = LineageConfig::default();
    let report = common::realistic_report();
    let good = to_value(&LineageBuilder::new(&cfg).finish(&report).expect("finish"));
    schemas.assert_valid(&good);

    let mut bad_type = good.clone();
    bad_type["eventType"] = json!("FINISHED");
    assert!(!schemas.errors(&bad_type).is_empty(), "unknown eventType accepted");

    let mut bad_uuid = good.clone();
    bad_uuid["run"]["runId"] = json!("not-a-uuid");
    assert!(!schemas.errors(&bad_uuid).is_empty(), "bad runId accepted");

    let mut no_job = good.clone();
    no_job.as_object_mut().expect("object").remove("job");
    assert!(!schemas.errors(&no_job).is_empty(), "missing job accepted");

    let mut no_producer = good.clone();
    no_producer["outputs"][0]["facets"]["schema"].as_object_mut().expect("facet").remove("_producer");
    assert!(!schemas.errors(&no_producer).is_empty(), "facet without _producer accepted");

    let mut no_language = good.clone();
    no_language["run"]["facets"]["errorMessage"].as_object_mut().expect("facet").remove("programmingLanguage");
    assert!(!schemas.errors(&no_language).is_empty(), "errorMessage without programmingLanguage accepted");

    let mut bad_assertion = good.clone();
    bad_assertion["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"][0]["success"] = json!("yes");
    assert!(!schemas.errors(&bad_assertion).is_empty(), "non-boolean success accepted");

    let mut bad_url = good.clone();
    bad_url["outputs"][0]["facets"]["schema"]["_schemaURL"] =
        json!("https://openlineage.io/spec/facets/9-9-9/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet");
    assert!(!schemas.errors(&bad_url).is_empty(), "unknown facet schema accepted");
}

#[test]
fn file_transport_appends_valid_json_lines() {
    let schemas = load_schemas();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lineage.jsonl");
    let cfg = LineageConfig { path: Some(path.display().to_string()), ..Default::default() };
    let transport = Transport::from_config(&cfg, Path::new("unused.jsonl")).expect("transport");
    let b = LineageBuilder::new(&cfg);
    let report = common::realistic_report();
    assert_eq!(transport.deliver(&b.start(&report)).expect("start"), Delivery::Written);
    assert_eq!(transport.deliver(&b.epoch(&report, 0).expect("epoch")).expect("epoch"), Delivery::Written);
    assert_eq!(transport.deliver(&b.finish(&report).expect("fin")).expect("finish"), Delivery::Written);
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let types: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("line is json");
            schemas.assert_valid(&v);
            // Events round-trip through the typed model.
            let _: millrace_report::RunEvent = serde_json::from_str(l).expect("typed");
            v["eventType"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(types, ["START", "RUNNING", "FAIL"]);

    // Unwritable path is a typed error, not a panic.
    let bad = Transport::from_config(
        &LineageConfig { path: Some(dir.path().join("missing/dir/x.jsonl").display().to_string()), ..Default::default() },
        Path::new("x"),
    )
    .expect("transport");
    assert!(matches!(bad.deliver(&b.start(&report)), Err(millrace_report::ReportError::Io { .. })));
}

#[test]
fn http_transport_builds_request() {
    let schemas = load_schemas();
    let cfg: LineageConfig = serde_json::from_value(json!({
        "transport": "http",
        "url": "https://lineage.example.internal/",
        "endpoint": "/api/v1/lineage",
        "api_key": "s3cr3t",
        "namespace": "corpora",
        "job_name": "cc-clean",
        "emit_every_epoch": true
    }))
    .expect("config");
    assert_eq!(cfg.transport, TransportKind::Http);
    let t = Transport::from_config(&cfg, Path::new("x")).expect("transport");
    let report = common::realistic_report();
    let Delivery::Send(req) = t.deliver(&LineageBuilder::new(&cfg).start(&report)).expect("deliver") else {
        panic!("http transport must return a request");
    };
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://lineage.example.internal/api/v1/lineage");
    assert!(req.headers.contains(&("Authorization".into(), "Bearer s3cr3t".into())));
    assert!(req.headers.contains(&("Content-Type".into(), "application/json".into())));
    let body: Value = serde_json::from_str(&req.body).expect("body json");
    schemas.assert_valid(&body);
    assert_eq!(body["job"]["namespace"], "corpora");
    assert_eq!(body["job"]["name"], "cc-clean");
}
