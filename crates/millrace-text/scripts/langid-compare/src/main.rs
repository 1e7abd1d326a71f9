//! Compare whatlang and lingua on the `format=text` rows of a Millrace labelled corpus JSONL
//! (`zstd -dc corpus-8mb.jsonl.zst > corpus.jsonl`; run `cargo run --release -- corpus.jsonl`).
//! Prints accuracy against the `lang` label and detection throughput for several prefix sizes.
use std::time::Instant;

fn whatlang_639_1(code: &str) -> &'static str {
    // only the codes that occur in the labels need mapping for the comparison
    match code {
        "eng" => "en", "deu" => "de", "rus" => "ru", "cmn" => "zh", "ita" => "it", "fra" => "fr",
        "jpn" => "ja", "spa" => "es", "pol" => "pl", "nld" => "nl", "por" => "pt", "ukr" => "uk",
        "cat" => "ca", "swe" => "sv", "ara" => "ar", "nob" => "nb", "ind" => "id", "ces" => "cs",
        "dan" => "da", "tur" => "tr", "pes" => "fa", "hrv" => "hr", "ell" => "el", "kor" => "ko",
        "vie" => "vi", "srp" => "sr", _ => "??",
    }
}

fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max { return s; }
    let mut end = max;
    while !s.is_char_boundary(end) { end -= 1; }
    &s[..end]
}

fn main() {
    let path = std::env::args().nth(1).expect("corpus path");
    let data = std::fs::read_to_string(path).expect("read corpus");
    let rows: Vec<(String, String)> = data
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["format"] == "text")
        .map(|v| (v["lang"].as_str().unwrap_or("").to_string(), v["text"].as_str().unwrap_or("").to_string()))
        .collect();
    let total_bytes: usize = rows.iter().map(|r| r.1.len()).sum();
    println!("{} text docs, {:.2} MB", rows.len(), total_bytes as f64 / 1e6);

    use lingua::LanguageDetectorBuilder;
    let t = Instant::now();
    let hi = LanguageDetectorBuilder::from_all_languages().with_preloaded_language_models().build();
    println!("lingua high-accuracy model load: {:.2}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let lo = LanguageDetectorBuilder::from_all_languages().with_low_accuracy_mode().with_preloaded_language_models().build();
    println!("lingua low-accuracy model load: {:.2}s", t.elapsed().as_secs_f64());

    for max in [512usize, 2048, 8192] {
        let bytes: usize = rows.iter().map(|r| prefix(&r.1, max).len()).sum();
        let mut report = |name: &str, f: &dyn Fn(&str) -> Option<String>| {
            let t = Instant::now();
            let mut ok = 0;
            let mut wrong: std::collections::BTreeMap<String, usize> = Default::default();
            for (lang, text) in &rows {
                let got = f(prefix(text, max)).unwrap_or_else(|| "none".into());
                if &got == lang { ok += 1 } else { *wrong.entry(format!("{lang}->{got}")).or_default() += 1 }
            }
            let s = t.elapsed().as_secs_f64();
            println!("prefix {max:>5} {name:<18} acc {:.3} ({ok}/{}) {:.2} MB/s  errors {:?}",
                ok as f64 / rows.len() as f64, rows.len(), bytes as f64 / 1e6 / s, wrong);
        };
        report("whatlang", &|t| whatlang::detect(t).map(|i| whatlang_639_1(i.lang().code()).to_string()));
        report("lingua-high", &|t| hi.detect_language_of(t).map(|l| l.iso_code_639_1().to_string()));
        report("lingua-low", &|t| lo.detect_language_of(t).map(|l| l.iso_code_639_1().to_string()));
    }
}
