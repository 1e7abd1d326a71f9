//! `langid`: language identification with `whatlang`, reported as ISO 639-1 codes.
//!
//! # Why whatlang
//! whatlang and lingua-rs 1.8 were compared on the 693 `format=text` documents of Millrace's
//! labelled corpus (`corpus-8mb`, 26 labelled languages) with `scripts/langid-compare`
//! (release build, one core of the 2-core development machine):
//!
//! | detector | prefix | accuracy | MB/s of prefix bytes |
//! |---|---:|---:|---:|
//! | whatlang 0.18 | 512 B | 0.857 | 4.2 |
//! | lingua 1.8, high accuracy | 512 B | 0.944 | 0.17 |
//! | lingua 1.8, low accuracy | 512 B | 0.847 | 0.12 |
//! | whatlang 0.18 | 2 KiB | 0.909 | 13.4 |
//! | lingua 1.8, high accuracy | 2 KiB | 0.974 | 0.19 |
//! | lingua 1.8, low accuracy | 2 KiB | 0.830 | 0.13 |
//! | whatlang 0.18 | 8 KiB | 0.900 | 16.9 |
//! | lingua 1.8, high accuracy | 8 KiB | 0.978 | 0.27 |
//! | **this module** (whatlang + CJK weighting) | 512 B | 0.925 | 2.9 |
//! | **this module** | 2 KiB (default) | 0.960 | 6.5 (3,700 docs/s) |
//! | **this module** | 8 KiB | 0.964 | 9.6 |
//!
//! (This module's rows come from `MILLRACE_LANGID_CORPUS=... cargo test --release --test
//! langid_accuracy -- --ignored`; all runs shared the machine with other builds, so speeds are
//! rough.) Half of raw whatlang's errors were Chinese and Japanese man pages classified as a
//! Latin-script language because ASCII option names outnumber the CJK characters; weighting each
//! CJK character as a short word (see `detect_cjk`) fixes most of them. lingua is more accurate
//! on short Latin-script text but 35 to 70 times slower (about 100 documents per second, slower
//! than Millrace's whole pipeline budget) and loads hundreds of MB of models, so Millrace uses
//! whatlang. The remaining errors are mostly `en` documents (dictionary entries, man pages) full
//! of foreign words or code.
//!
//! Detection runs on a bounded prefix of each document ([`LangIdParams::max_bytes`]), so its cost
//! per document is constant.
//!
//! # Score
//! The score is whatlang's confidence in `[0, 1]`: 1.0 for scripts used by a single supported
//! language (Hangul, Greek, kana...), otherwise derived from the distance between the two best
//! trigram candidates. Scripts are detected first, so short texts in a unique script score high
//! while short Latin-script texts score low.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TextError};

/// Parameters of language detection.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LangIdParams {
    /// Detect on at most this many bytes from the start of the text (cut at a character and,
    /// when close by, a whitespace boundary). 0 = whole text. Default 2048.
    #[serde(alias = "prefix_bytes", alias = "max_chars")]
    pub max_bytes: usize,
}

impl Default for LangIdParams {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

const DEFAULT_MAX_BYTES: usize = 2048;

/// Parameters of the language filter: keep documents in `languages` detected with
/// `score >= min_score`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LangFilterParams {
    /// ISO 639-1 codes to keep (case-insensitive; region suffixes such as `zh-CN` and the
    /// macrolanguage `no` for Norwegian Bokmål are accepted). Empty = any language.
    #[serde(alias = "keep", alias = "langs", alias = "language")]
    pub languages: Vec<String>,
    /// Minimum detection score. Default 0.65 (datatrove's `LanguageFilter` threshold).
    #[serde(alias = "language_threshold", alias = "threshold")]
    pub min_score: f32,
    /// Keep documents whose language cannot be detected (empty or symbol-only text). Default `false`.
    pub keep_undetected: bool,
    /// Prefix length used for detection, as in [`LangIdParams::max_bytes`].
    #[serde(alias = "prefix_bytes", alias = "max_chars")]
    pub max_bytes: usize,
}

impl Default for LangFilterParams {
    fn default() -> Self {
        Self {
            languages: Vec::new(),
            min_score: 0.65,
            keep_undetected: false,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl LangFilterParams {
    /// Check `min_score` and that every language is one the detector can output; returns the
    /// canonical codes.
    pub fn validate(&self) -> Result<Vec<&'static str>> {
        if !(0.0..=1.0).contains(&self.min_score) || self.min_score.is_nan() {
            return Err(TextError::InvalidParam {
                stage: "langid",
                field: "min_score",
                reason: format!("{} is not in [0, 1]", self.min_score),
            });
        }
        self.languages
            .iter()
            .map(|l| canonical_code(l).ok_or_else(|| TextError::UnknownLanguage(l.clone())))
            .collect()
    }

    fn detection(&self) -> LangIdParams {
        LangIdParams {
            max_bytes: self.max_bytes,
        }
    }
}

/// Outcome of [`filter_language`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LangDecision {
    /// Detected ISO 639-1 code, if any.
    pub lang: Option<&'static str>,
    /// Detection score in `[0, 1]` (0 when undetected).
    pub score: f32,
    /// Whether the document passes the filter.
    pub keep: bool,
}

/// whatlang's ISO 639-3 code -> ISO 639-1.
fn iso639_1(code3: &str) -> Option<&'static str> {
    Some(match code3 {
        "afr" => "af",
        "aka" => "ak",
        "amh" => "am",
        "ara" => "ar",
        "aze" => "az",
        "bel" => "be",
        "ben" => "bn",
        "bul" => "bg",
        "cat" => "ca",
        "ces" => "cs",
        "cmn" => "zh",
        "cym" => "cy",
        "dan" => "da",
        "deu" => "de",
        "ell" => "el",
        "eng" => "en",
        "epo" => "eo",
        "est" => "et",
        "fin" => "fi",
        "fra" => "fr",
        "guj" => "gu",
        "heb" => "he",
        "hin" => "hi",
        "hrv" => "hr",
        "hun" => "hu",
        "hye" => "hy",
        "ind" => "id",
        "ita" => "it",
        "jav" => "jv",
        "jpn" => "ja",
        "kan" => "kn",
        "kat" => "ka",
        "khm" => "km",
        "kor" => "ko",
        "lat" => "la",
        "lav" => "lv",
        "lit" => "lt",
        "mal" => "ml",
        "mar" => "mr",
        "mkd" => "mk",
        "mya" => "my",
        "nep" => "ne",
        "nld" => "nl",
        "nob" => "nb",
        "ori" => "or",
        "pan" => "pa",
        "pes" => "fa",
        "pol" => "pl",
        "por" => "pt",
        "ron" => "ro",
        "rus" => "ru",
        "sin" => "si",
        "slk" => "sk",
        "slv" => "sl",
        "sna" => "sn",
        "spa" => "es",
        "srp" => "sr",
        "swe" => "sv",
        "tam" => "ta",
        "tel" => "te",
        "tgl" => "tl",
        "tha" => "th",
        "tuk" => "tk",
        "tur" => "tr",
        "ukr" => "uk",
        "urd" => "ur",
        "uzb" => "uz",
        "vie" => "vi",
        "yid" => "yi",
        "zul" => "zu",
        _ => return None,
    })
}

/// All ISO 639-1 codes [`detect_language`] can return.
pub fn supported_languages() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = whatlang::Lang::all()
        .iter()
        .filter_map(|l| iso639_1(l.code()))
        .collect();
    v.sort_unstable();
    v
}

/// Canonical supported code for a user-written language code, if supported.
pub fn canonical_code(code: &str) -> Option<&'static str> {
    let base = code
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let base = if base == "no" { "nb".to_string() } else { base };
    supported_languages().into_iter().find(|c| *c == base)
}

fn prefix(text: &str, max_bytes: usize) -> &str {
    if max_bytes == 0 || text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // avoid a truncated last word skewing trigram statistics, if a space is close by
    let cut = &text[..end];
    match cut.rfind(char::is_whitespace) {
        Some(ws) if end - ws < 64 => &cut[..ws],
        _ => cut,
    }
}

/// Weight of one Han/kana/Hangul character against one letter of an alphabetic script: a CJK
/// character carries about as much text as a short alphabetic word.
const CJK_CHAR_WEIGHT: usize = 4;

/// whatlang picks the script with the most *characters*, so a Chinese or Japanese man page full of
/// ASCII option names and code is classified as a Latin-script language. Count CJK characters
/// with [`CJK_CHAR_WEIGHT`] instead and decide CJK documents here.
fn detect_cjk(text: &str) -> Option<(&'static str, f32)> {
    let (mut han, mut kana, mut hangul, mut other) = (0usize, 0usize, 0usize, 0usize);
    for c in text.chars() {
        match c {
            '\u{3040}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | '\u{FF66}'..='\u{FF9D}' => {
                kana += 1
            }
            '\u{AC00}'..='\u{D7AF}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' => {
                hangul += 1
            }
            '\u{4E00}'..='\u{9FFF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{20000}'..='\u{2FA1F}' => han += 1,
            c if c.is_alphabetic() => other += 1,
            _ => {}
        }
    }
    let cjk = han + kana + hangul;
    if cjk == 0 {
        return None;
    }
    let weighted = cjk * CJK_CHAR_WEIGHT;
    if weighted < other {
        return None;
    }
    let score = weighted as f32 / (weighted + other) as f32;
    // Japanese mixes kana into nearly every sentence; Chinese has none. Hangul marks Korean.
    let lang = if hangul >= han + kana {
        "ko"
    } else if kana * 10 >= han + kana {
        "ja"
    } else {
        "zh"
    };
    Some((lang, score))
}

/// Detect the language of `text` (on its first `p.max_bytes` bytes). Returns the ISO 639-1 code
/// and a score in `[0, 1]`, or `None` when no language can be detected.
pub fn detect_language(text: &str, p: &LangIdParams) -> Option<(&'static str, f32)> {
    let text = prefix(text, p.max_bytes);
    if let Some(found) = detect_cjk(text) {
        return Some(found);
    }
    let info = whatlang::detect(text)?;
    let code = iso639_1(info.lang().code())?;
    Some((code, (info.confidence() as f32).clamp(0.0, 1.0)))
}

/// Decide whether `text` passes the language filter. Call [`LangFilterParams::validate`] once
/// before a run: unknown codes here simply never match.
pub fn filter_language(text: &str, p: &LangFilterParams) -> LangDecision {
    match detect_language(text, &p.detection()) {
        None => LangDecision {
            lang: None,
            score: 0.0,
            keep: p.keep_undetected,
        },
        Some((lang, score)) => {
            let wanted = p.languages.is_empty()
                || p.languages.iter().any(|l| canonical_code(l) == Some(lang));
            LangDecision {
                lang: Some(lang),
                score,
                keep: wanted && score >= p.min_score,
            }
        }
    }
}

/// [`detect_language`] over a batch of nullable documents, in parallel across documents.
pub fn detect_language_batch(
    texts: &[Option<&str>],
    p: &LangIdParams,
) -> Vec<Option<(&'static str, f32)>> {
    texts
        .par_iter()
        .map(|t| t.and_then(|t| detect_language(t, p)))
        .collect()
}

/// [`filter_language`] over a batch; `None` documents yield `None`.
pub fn filter_language_batch(
    texts: &[Option<&str>],
    p: &LangFilterParams,
) -> Vec<Option<LangDecision>> {
    texts
        .par_iter()
        .map(|t| t.map(|t| filter_language(t, p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_common_languages() {
        let p = LangIdParams::default();
        let cases = [
            (
                "en",
                "The quick brown fox jumps over the lazy dog. This sentence is written in English and is long enough.",
            ),
            (
                "de",
                "Der schnelle braune Fuchs springt über den faulen Hund. Dieser Satz ist auf Deutsch geschrieben.",
            ),
            (
                "fr",
                "Le renard brun rapide saute par-dessus le chien paresseux. Cette phrase est écrite en français.",
            ),
            (
                "ru",
                "Быстрая коричневая лиса прыгает через ленивую собаку. Это предложение написано по-русски.",
            ),
            (
                "ja",
                "素早い茶色の狐がのろまな犬を飛び越える。この文は日本語で書かれています。",
            ),
            (
                "zh",
                "敏捷的棕色狐狸跳过了懒狗。这句话是用中文写的，足够长以便检测。",
            ),
        ];
        for (want, text) in cases {
            let (got, score) = detect_language(text, &p).expect(want);
            assert_eq!(got, want, "{text}");
            assert!((0.0..=1.0).contains(&score));
        }
        assert_eq!(detect_language("", &p), None);
        assert_eq!(detect_language("12345 !!! ...", &p), None);
    }

    #[test]
    fn prefix_respects_boundaries() {
        let s = "héllo wörld ".repeat(1000);
        let pre = prefix(&s, 2049);
        assert!(pre.len() <= 2049 && s.starts_with(pre) && !pre.ends_with(' '));
        assert_eq!(prefix("short", 0), "short");
    }

    #[test]
    fn filter_keeps_and_drops() {
        let en = "This is plainly an English sentence about the weather and the news of the day.";
        let de =
            "Dies ist eindeutig ein deutscher Satz über das Wetter und die Nachrichten des Tages.";
        let p = LangFilterParams {
            languages: vec!["EN".into()],
            min_score: 0.2,
            ..Default::default()
        };
        assert!(filter_language(en, &p).keep);
        let d = filter_language(de, &p);
        assert_eq!((d.lang, d.keep), (Some("de"), false));
        let strict = LangFilterParams {
            min_score: 1.01,
            ..Default::default()
        };
        assert!(strict.validate().is_err());
        assert!(!filter_language("", &LangFilterParams::default()).keep);
    }

    #[test]
    fn codes() {
        assert_eq!(canonical_code("zh-CN"), Some("zh"));
        assert_eq!(canonical_code("no"), Some("nb"));
        assert_eq!(canonical_code("xx"), None);
        let bad = LangFilterParams {
            languages: vec!["klingon".into()],
            ..Default::default()
        };
        assert!(matches!(bad.validate(), Err(TextError::UnknownLanguage(_))));
        assert_eq!(supported_languages().len(), whatlang::Lang::all().len());
    }
}
