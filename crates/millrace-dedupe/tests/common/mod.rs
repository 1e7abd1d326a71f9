//! Loading of the labelled corpus in `tests/data/` and the dedup score of
//! `/work/shared/bench/score_dedup.py` (group level).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;

pub struct Doc {
    pub id: String,
    pub text: String,
}

pub struct Label {
    pub id: String,
    pub dup_group: Option<String>,
    pub is_near_dup: bool,
    pub is_exact_dup: bool,
    pub dup_of: Option<String>,
}

fn read_zst_lines(name: &str) -> Vec<serde_json::Value> {
    millrace_test_fixtures::read_jsonl(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
}

pub fn corpus() -> Vec<Doc> {
    read_zst_lines("corpus-8mb.jsonl.zst")
        .into_iter()
        .map(|v| Doc {
            id: v["id"].as_str().expect("id").to_string(),
            text: v["text"].as_str().expect("text").to_string(),
        })
        .collect()
}

pub fn labels() -> HashMap<String, Label> {
    read_zst_lines("labels.jsonl.zst")
        .into_iter()
        .map(|v| {
            let id = v["id"].as_str().expect("id").to_string();
            let l = Label {
                id: id.clone(),
                dup_group: v["dup_group"].as_str().map(str::to_string),
                is_near_dup: v["is_near_dup"].as_bool().unwrap_or(false),
                is_exact_dup: v["is_exact_dup"].as_bool().unwrap_or(false),
                dup_of: v["dup_of"].as_str().map(str::to_string),
            };
            (id, l)
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub struct Score {
    pub removed: usize,
    pub expected: usize,
    pub tp: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Group-level score as in score_dedup.py: a ground-truth group of k docs needs k-1
/// removals; TP = sum_g min(|R ∩ g|, k-1); precision = TP/|R|; recall = TP/expected.
pub fn score(labels: &HashMap<String, Label>, removed: &HashSet<String>) -> Score {
    let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in labels.values() {
        if let Some(g) = &l.dup_group {
            groups.entry(g.as_str()).or_default().push(l.id.as_str());
        }
    }
    let mut expected = 0;
    let mut tp = 0;
    for members in groups.values().filter(|m| m.len() > 1) {
        expected += members.len() - 1;
        tp += members
            .iter()
            .filter(|m| removed.contains(**m))
            .count()
            .min(members.len() - 1);
    }
    let removed_n = removed.iter().filter(|r| labels.contains_key(*r)).count();
    let precision = if removed_n > 0 {
        tp as f64 / removed_n as f64
    } else {
        0.0
    };
    let recall = if expected > 0 {
        tp as f64 / expected as f64
    } else {
        0.0
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Score {
        removed: removed_n,
        expected,
        tp,
        precision,
        recall,
        f1,
    }
}
