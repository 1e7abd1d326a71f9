//! Compare Millrace's `clean` (html5ever DOM via `scraper`, with pruning) with `html2text` on
//! the HTML rows of a JSONL corpus: throughput and how much known boilerplate survives.
//! Run: `cargo run --release -- ../../tests/data/sample-docs.jsonl [dump-dir]`.
use std::time::Instant;

use millrace_text::{clean, CleanMode, CleanParams};

/// Strings that only occur in page chrome of the sample pages (navigation, cookie banners, ads...).
const CHROME: &[&str] = &[
    "Prev", "Next", "Home", "Share:", "Advertisement", "We use cookies", "All rights reserved",
    "Navigation", "Quick search", "previous |", "index",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("jsonl path");
    let dump = args.next();
    let data = std::fs::read_to_string(path).expect("read");
    let pages: Vec<String> = data
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["format"] == "html")
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect();
    let bytes: usize = pages.iter().map(String::len).sum();
    println!("{} html pages, {:.2} MB", pages.len(), bytes as f64 / 1e6);

    let p = CleanParams { mode: CleanMode::Html, ..Default::default() };
    let run = |name: &str, f: &dyn Fn(&str) -> String| {
        // warm-up, then 5 timed rounds
        let outs: Vec<String> = pages.iter().map(|d| f(d)).collect();
        let t = Instant::now();
        for _ in 0..5 {
            for d in &pages {
                std::hint::black_box(f(d));
            }
        }
        let s = t.elapsed().as_secs_f64() / 5.0;
        let out_bytes: usize = outs.iter().map(String::len).sum();
        let chrome: usize = outs.iter().map(|o| CHROME.iter().map(|c| o.matches(c).count()).sum::<usize>()).sum();
        println!(
            "{name:<10} {:.1} MB/s, output {:.1}% of input bytes, chrome-marker hits {chrome}",
            bytes as f64 / 1e6 / s,
            100.0 * out_bytes as f64 / bytes as f64
        );
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).expect("dump dir");
            for (i, o) in outs.iter().enumerate() {
                std::fs::write(format!("{dir}/{i:02}.{name}.txt"), o).expect("write");
            }
        }
    };
    run("millrace", &|d| clean(d, &p).into_owned());
    run("html2text", &|d| html2text::from_read(d.as_bytes(), 10_000).unwrap_or_default());
}
