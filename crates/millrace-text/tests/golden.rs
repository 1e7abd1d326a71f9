//! Golden-file tests for every stage.
//!
//! Layout: `tests/golden/<stage>/<case>.input.jsonl` (one JSON object per line with a `text`
//! field, string or null; other fields such as `note` are ignored), an optional
//! `<case>.params.json` (the stage's parameter struct as JSON; missing = defaults) and
//! `<case>.expected.jsonl` (one JSON object per input line). Files are discovered at run time,
//! so adding a case needs no recompilation. Stages: `clean`, `normalise`, `pii`, `langid`,
//! `langfilter`.
//!
//! `MILLRACE_BLESS=1 cargo test -p millrace-text --test golden` rewrites the expected files from the
//! current output; review the diff by hand before committing it.

use std::fs;
use std::path::{Path, PathBuf};

use millrace_text::{
    CleanParams, LangFilterParams, LangIdParams, NormaliseParams, PiiParams, clean,
    detect_language, filter_language, normalise, redact_pii,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Scores may move by a rounding step between platforms; everything else must match exactly.
const SCORE_TOLERANCE: f64 = 0.005;

fn load_params<T: DeserializeOwned + Default>(path: &Path) -> Result<T, String> {
    if !path.exists() {
        return Ok(T::default());
    }
    let s = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&s).map_err(|e| format!("{}: {e}", path.display()))
}

fn round3(x: f32) -> f64 {
    (f64::from(x) * 1000.0).round() / 1000.0
}

/// Run one stage over one input line.
fn run_stage(stage: &str, params_path: &Path, text: Option<&str>) -> Result<Value, String> {
    let Some(text) = text else {
        return Ok(Value::Null);
    };
    Ok(match stage {
        "clean" => {
            let p: CleanParams = load_params(params_path)?;
            json!({ "text": clean(text, &p) })
        }
        "normalise" => {
            let p: NormaliseParams = load_params(params_path)?;
            json!({ "text": normalise(text, &p) })
        }
        "pii" => {
            let p: PiiParams = load_params(params_path)?;
            let r = redact_pii(text, &p);
            json!({ "text": r.text, "counts": r.counts })
        }
        "langid" => {
            let p: LangIdParams = load_params(params_path)?;
            match detect_language(text, &p) {
                Some((lang, score)) => json!({ "lang": lang, "score": round3(score) }),
                None => json!({ "lang": null, "score": 0.0 }),
            }
        }
        "langfilter" => {
            let p: LangFilterParams = load_params(params_path)?;
            p.validate().map_err(|e| e.to_string())?;
            let d = filter_language(text, &p);
            json!({ "lang": d.lang, "score": round3(d.score), "keep": d.keep })
        }
        other => return Err(format!("unknown golden stage directory `{other}`")),
    })
}

fn values_match(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            g.len() == w.len()
                && g.iter().all(|(k, gv)| match w.get(k) {
                    Some(wv) if k == "score" => match (gv.as_f64(), wv.as_f64()) {
                        (Some(a), Some(b)) => (a - b).abs() <= SCORE_TOLERANCE,
                        _ => gv == wv,
                    },
                    Some(wv) => values_match(gv, wv),
                    None => false,
                })
        }
        _ => got == want,
    }
}

fn cases(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(stages) = fs::read_dir(root) else {
        return out;
    };
    for stage in stages.flatten().filter(|e| e.path().is_dir()) {
        let stage_name = stage.file_name().to_string_lossy().into_owned();
        let Ok(files) = fs::read_dir(stage.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(case) = name.strip_suffix(".input.jsonl") {
                out.push((stage_name.clone(), stage.path().join(case)));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn golden_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var("MILLRACE_BLESS").is_ok_and(|v| v == "1");
    let all = cases(&root);
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for (stage, base) in &all {
        let with = |suffix: &str| PathBuf::from(format!("{}.{suffix}", base.display()));
        let case = format!(
            "{stage}/{}",
            base.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        let input = fs::read_to_string(with("input.jsonl")).expect("input file");
        let mut produced = Vec::new();
        for (i, line) in input
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let row: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{case}:{}: bad input JSON: {e}", i + 1));
                    continue;
                }
            };
            match run_stage(
                stage,
                &with("params.json"),
                row.get("text").and_then(Value::as_str),
            ) {
                Ok(v) => produced.push(v),
                Err(e) => failures.push(format!("{case}: {e}")),
            }
        }
        if bless {
            let body: String = produced.iter().map(|v| format!("{v}\n")).collect();
            fs::write(with("expected.jsonl"), body).expect("write expected");
            continue;
        }
        let expected = match fs::read_to_string(with("expected.jsonl")) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!(
                    "{case}: no expected file ({e}); run with MILLRACE_BLESS=1"
                ));
                continue;
            }
        };
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        if expected.len() != produced.len() {
            failures.push(format!(
                "{case}: {} expected lines for {} inputs",
                expected.len(),
                produced.len()
            ));
        }
        for (i, (got, want)) in produced.iter().zip(&expected).enumerate() {
            checked += 1;
            match serde_json::from_str::<Value>(want) {
                Ok(want) if values_match(got, &want) => {}
                Ok(want) => failures.push(format!(
                    "{case} line {}:\n  got:  {got}\n  want: {want}",
                    i + 1
                )),
                Err(e) => failures.push(format!("{case} line {}: bad expected JSON: {e}", i + 1)),
            }
        }
    }
    assert!(!all.is_empty(), "no golden cases under {}", root.display());
    for stage in ["clean", "normalise", "pii", "langid", "langfilter"] {
        assert!(
            all.iter().any(|(s, _)| s == stage),
            "no golden cases for stage `{stage}`"
        );
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{} golden cases, {checked} lines checked", all.len());
}
