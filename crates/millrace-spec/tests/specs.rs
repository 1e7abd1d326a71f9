//! Data-driven spec tests: every `tests/specs/invalid/*.yaml` must fail validation with the messages
//! and `line:column` its `# expect:` comments name; every example in `pipelines/` must validate.
//! Add a case by adding a file; no recompile needed. Each case also says on a `# schema:` line
//! whether the JSON Schema sees its error (see tests/e2e/check_spec_schema.py).

use std::path::Path;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn invalid_specs_fail_with_located_messages() {
    let dir = root().join("tests/specs/invalid");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|s| s.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let expects: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expects.is_empty(), "{} has no `# expect:` line", p.display());
        let err = millrace_spec::load(&p, &[]).expect_err(&format!("{} should be invalid", p.display())).to_string();
        for x in expects {
            assert!(err.contains(x), "{}: expected `{x}` in:\n{err}", p.display());
        }
        n += 1;
    }
    assert!(n >= 8, "only {n} invalid cases found");
}

#[test]
fn example_pipelines_validate() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("pipelines")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|s| s.to_str()) == Some("yaml") {
            millrace_spec::load(&p, &[]).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn overrides_are_type_checked() {
    let text = "name: x\nsource:\n  files: a.jsonl\nsinks:\n  - parquet: out/\n";
    let s = millrace_spec::load_str(text, "x.yaml", &[("source.text_field".into(), "body".into())]).unwrap();
    assert_eq!(s.spec.source.text_field, "body");
    let s = millrace_spec::load_str(text, "x.yaml", &[("engine.threads".into(), "3".into())]).unwrap();
    assert_eq!(s.spec.engine.threads, Some(3));
    let e = millrace_spec::load_str(text, "x.yaml", &[("engine.threads".into(), "many".into())]).unwrap_err();
    assert!(e.to_string().contains("engine.threads"), "{e}");
}

/// The spec fuzz target's committed inputs (fuzz/corpus/spec/): each parses or fails with
/// located diagnostics, and interpolating any value into it never panics.
#[test]
fn fuzz_corpus_replays_without_panics() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("fuzz/corpus/spec")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let value = text.lines().next().unwrap_or("").to_string();
        let _ = millrace_spec::interpolate(&text, &|_| Some(value.clone()));
        let _ = millrace_spec::load_str(&text, "fuzz.yaml", &[]);
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn stream_keys_are_checked() {
    let kafka_only = "name: k\nsource:\n  files: in/*.jsonl\nsinks:\n  - kafka: { brokers: \"b:9092\", topic: out }\n";
    let e = millrace_spec::load_str(kafka_only, "k.yaml", &[]).unwrap_err().to_string();
    assert!(e.contains("give `state:` and `rejects:`"), "{e}");
    let ok = format!("{kafka_only}state: s/\nrejects: r/\n");
    let s = millrace_spec::load_str(&ok, "k.yaml", &[]).unwrap();
    assert_eq!(s.spec.sinks[0].value.target(), (millrace_spec::SinkKind::Kafka, "out"));
    let both = "name: k\nsource:\n  kafka: { brokers: \"b:9092\", topics: [a], topic_pattern: \"a.*\", group: g }\nsinks:\n  - jsonl: out/\n";
    assert!(millrace_spec::load_str(both, "k.yaml", &[]).unwrap_err().to_string().contains("not both"));
    let watch = "name: w\nsource:\n  files: in/*.jsonl\n  watch: 1m 30s\nsinks:\n  - jsonl: out/\n";
    assert_eq!(millrace_spec::load_str(watch, "w.yaml", &[]).unwrap().spec.source.watch.unwrap().0.as_secs(), 90);
    let bad = "name: w\nsource:\n  files: in/*.jsonl\n  watch: soon\nsinks:\n  - jsonl: out/\n";
    assert!(millrace_spec::load_str(bad, "w.yaml", &[]).unwrap_err().to_string().contains("not a duration"));
}
