//! `normalise`: Unicode normalisation plus optional canonicalisation of typographic characters.
//!
//! Steps, in order, each enabled by [`NormaliseParams`]:
//! 1. one character pass: drop zero-width characters and the BOM, map typographic quotes, dashes and
//!    exotic spaces to ASCII, lowercase;
//! 2. Unicode normalisation to the chosen form (NFC by default);
//! 3. if step 2 changed the text, step 1 runs again, because compatibility forms can produce
//!    characters step 1 maps (NFKC turns U+2011 NON-BREAKING HYPHEN into U+2010 HYPHEN).
//!
//! Fast path: every step first *checks* whether it would change anything (the `is_*_quick` checks of
//! `unicode-normalization`, then a full check only when the quick check answers "maybe") and the
//! function returns the input borrowed when nothing changes, which is the common case for clean
//! web text and avoids an allocation per document.

use std::borrow::Cow;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_normalization::{IsNormalized, UnicodeNormalization};

/// Unicode normalisation form.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NormalForm {
    /// Canonical composition (lossless; the default).
    #[default]
    Nfc,
    /// Compatibility composition (folds full-width forms, ligatures, superscripts...).
    Nfkc,
    /// Canonical decomposition.
    Nfd,
    /// Compatibility decomposition.
    Nfkd,
    /// No Unicode normalisation; only the character rules apply.
    None,
}

/// Parameters of the `normalise` stage.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NormaliseParams {
    /// Normalisation form. Default `nfc`.
    #[serde(alias = "normal_form", alias = "normalization")]
    pub form: NormalForm,
    /// Lowercase the text (Unicode-aware, `str::to_lowercase`). Default `false`.
    #[serde(alias = "lower")]
    pub lowercase: bool,
    /// Curly/low-9/reversed single and double quotes -> `'` and `"`. Guillemets and primes are kept,
    /// because they are language punctuation and units rather than typographic variants. Default `false`.
    #[serde(alias = "quotes")]
    pub canonical_quotes: bool,
    /// Hyphen, non-breaking hyphen, figure/en/em dash, horizontal bar, minus sign and their small and
    /// full-width forms -> `-`. Default `false`.
    #[serde(alias = "dashes")]
    pub canonical_dashes: bool,
    /// NBSP, the U+2000..U+200A spaces, narrow NBSP, medium mathematical space, ogham space and the
    /// ideographic space -> ASCII space. Default `true`.
    #[serde(alias = "spaces")]
    pub canonical_spaces: bool,
    /// Remove zero-width space, word joiner, BOM / zero-width no-break space, soft hyphen, Mongolian
    /// vowel separator and the invisible math operators U+2061..U+2064. Default `true`.
    pub remove_zero_width: bool,
    /// Also remove ZERO WIDTH (NON-)JOINER (U+200C, U+200D). Off by default: they carry meaning in
    /// Persian, Indic scripts and emoji sequences.
    pub remove_joiners: bool,
}

impl Default for NormaliseParams {
    fn default() -> Self {
        Self {
            form: NormalForm::Nfc,
            lowercase: false,
            canonical_quotes: false,
            canonical_dashes: false,
            canonical_spaces: true,
            remove_zero_width: true,
            remove_joiners: false,
        }
    }
}

/// What the character pass does with one character.
enum CharAction {
    Keep,
    Drop,
    Replace(char),
    Lower,
}

#[inline]
fn classify(c: char, p: &NormaliseParams) -> CharAction {
    if c.is_ascii() {
        return if p.lowercase && c.is_ascii_uppercase() {
            CharAction::Lower
        } else {
            CharAction::Keep
        };
    }
    match c {
        '\u{200B}'
        | '\u{2060}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{2061}'..='\u{2064}'
            if p.remove_zero_width =>
        {
            CharAction::Drop
        }
        '\u{200C}' | '\u{200D}' if p.remove_joiners => CharAction::Drop,
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' if p.canonical_quotes => {
            CharAction::Replace('\'')
        }
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' if p.canonical_quotes => {
            CharAction::Replace('"')
        }
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
            if p.canonical_dashes =>
        {
            CharAction::Replace('-')
        }
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}'
            if p.canonical_spaces =>
        {
            CharAction::Replace(' ')
        }
        _ if p.lowercase && changes_on_lowercase(c) => CharAction::Lower,
        _ => CharAction::Keep,
    }
}

#[inline]
fn changes_on_lowercase(c: char) -> bool {
    let mut l = c.to_lowercase();
    !(l.len() == 1 && l.next() == Some(c))
}

/// Character pass; borrowed when no character needs an action.
fn char_pass<'a>(text: &'a str, p: &NormaliseParams) -> Cow<'a, str> {
    let first = text
        .char_indices()
        .find(|&(_, c)| !matches!(classify(c, p), CharAction::Keep));
    let Some((start, _)) = first else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    let rest = &text[start..];
    if p.lowercase {
        // `str::to_lowercase` applies the context-sensitive final-sigma rule, which a per-char
        // mapping would get wrong, so lowercase the mapped string as a whole.
        let mut mapped = String::with_capacity(rest.len());
        for c in rest.chars() {
            match classify(c, p) {
                CharAction::Drop => {}
                CharAction::Replace(r) => mapped.push(r),
                CharAction::Keep | CharAction::Lower => mapped.push(c),
            }
        }
        // The untouched prefix has nothing to lowercase, but lowercasing the joined string keeps
        // the final-sigma rule exact across the join point.
        out.push_str(&mapped);
        return Cow::Owned(out.to_lowercase());
    }
    for c in rest.chars() {
        match classify(c, p) {
            CharAction::Drop => {}
            CharAction::Replace(r) => out.push(r),
            CharAction::Keep | CharAction::Lower => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// True when `text` is already in `form` (quick check, full check only on "maybe").
pub fn is_normalised(text: &str, form: NormalForm) -> bool {
    use unicode_normalization::{
        is_nfc, is_nfc_quick, is_nfd, is_nfd_quick, is_nfkc, is_nfkc_quick, is_nfkd, is_nfkd_quick,
    };
    let quick = match form {
        NormalForm::None => return true,
        NormalForm::Nfc => is_nfc_quick(text.chars()),
        NormalForm::Nfkc => is_nfkc_quick(text.chars()),
        NormalForm::Nfd => is_nfd_quick(text.chars()),
        NormalForm::Nfkd => is_nfkd_quick(text.chars()),
    };
    match quick {
        IsNormalized::Yes => true,
        IsNormalized::No => false,
        IsNormalized::Maybe => match form {
            NormalForm::Nfc => is_nfc(text),
            NormalForm::Nfkc => is_nfkc(text),
            NormalForm::Nfd => is_nfd(text),
            NormalForm::Nfkd => is_nfkd(text),
            NormalForm::None => true,
        },
    }
}

fn unicode_pass(text: &str, form: NormalForm) -> Option<String> {
    if is_normalised(text, form) {
        return None;
    }
    Some(match form {
        NormalForm::Nfc => text.nfc().collect(),
        NormalForm::Nfkc => text.nfkc().collect(),
        NormalForm::Nfd => text.nfd().collect(),
        NormalForm::Nfkd => text.nfkd().collect(),
        NormalForm::None => return None,
    })
}

/// Normalise `text` according to `p`; borrows the input when it is already normal.
pub fn normalise<'a>(text: &'a str, p: &NormaliseParams) -> Cow<'a, str> {
    let mapped = char_pass(text, p);
    let Some(normal) = unicode_pass(&mapped, p.form) else {
        return mapped;
    };
    // Compatibility forms can output characters the character pass maps; run it once more.
    match char_pass(&normal, p) {
        Cow::Borrowed(_) => Cow::Owned(normal),
        Cow::Owned(again) => match unicode_pass(&again, p.form) {
            Some(n) => Cow::Owned(n),
            None => Cow::Owned(again),
        },
    }
}

/// [`normalise`] over a batch of nullable documents, in parallel across documents; `None` stays
/// `None`.
pub fn normalise_batch(texts: &[Option<&str>], p: &NormaliseParams) -> Vec<Option<String>> {
    texts
        .par_iter()
        .map(|t| t.map(|t| normalise(t, p).into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_on() -> NormaliseParams {
        NormaliseParams {
            form: NormalForm::Nfkc,
            lowercase: true,
            canonical_quotes: true,
            canonical_dashes: true,
            canonical_spaces: true,
            remove_zero_width: true,
            remove_joiners: true,
        }
    }

    #[test]
    fn borrowed_when_already_normal() {
        let p = NormaliseParams::default();
        for s in ["plain ascii", "déjà vu", "日本語のテキスト", ""] {
            assert!(matches!(normalise(s, &p), Cow::Borrowed(_)), "{s}");
        }
        assert!(matches!(
            normalise("already lower — dash", &all_on()),
            Cow::Owned(_)
        ));
        assert!(matches!(
            normalise("already lower", &all_on()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn forms() {
        let decomposed = "e\u{301}";
        let p = NormaliseParams::default();
        assert_eq!(normalise(decomposed, &p), "\u{e9}");
        let p = NormaliseParams {
            form: NormalForm::Nfd,
            ..Default::default()
        };
        assert_eq!(normalise("\u{e9}", &p), decomposed);
        let p = NormaliseParams {
            form: NormalForm::Nfkc,
            ..Default::default()
        };
        assert_eq!(normalise("ﬁle Ｆｕｌｌ ½", &p), "file Full 1⁄2");
        let p = NormaliseParams {
            form: NormalForm::Nfkd,
            ..Default::default()
        };
        assert_eq!(normalise("ﬁé", &p), "fie\u{301}");
        let p = NormaliseParams {
            form: NormalForm::None,
            canonical_spaces: false,
            ..Default::default()
        };
        assert!(matches!(normalise("e\u{301}", &p), Cow::Borrowed(_)));
    }

    #[test]
    fn character_rules() {
        let p = all_on();
        assert_eq!(
            normalise("\u{FEFF}“Quoted” ‘x’ a–b c—d e\u{00A0}f\u{200B}g", &p),
            "\"quoted\" 'x' a-b c-d e fg"
        );
        // NFKC turns U+2011 into U+2010, which the second character pass then maps to '-'.
        assert_eq!(normalise("non\u{2011}breaking", &p), "non-breaking");
        // joiners are kept by default
        let d = NormaliseParams::default();
        assert_eq!(normalise("a\u{200D}b\u{200B}c", &d), "a\u{200D}bc");
        // guillemets are language punctuation and stay
        assert_eq!(normalise("«oui»", &p), "«oui»");
    }

    #[test]
    fn lowercase_final_sigma() {
        let p = NormaliseParams {
            lowercase: true,
            ..Default::default()
        };
        assert_eq!(normalise("ΟΔΟΣ Straße", &p), "οδος straße");
        assert_eq!(normalise("ÀB", &p), "àb");
    }

    #[test]
    fn idempotent_on_samples() {
        let p = all_on();
        for s in ["ＡＢＣ—“x”\u{2011}", "İstanbul ǅ ﬃ", "\u{3000}全角\u{FF0D}"] {
            let once = normalise(s, &p).into_owned();
            assert_eq!(normalise(&once, &p), once.as_str(), "{s}");
        }
    }

    #[test]
    fn params_serde() {
        let p: NormaliseParams =
            serde_json::from_str(r#"{"normal_form":"nfkc","lower":true}"#).unwrap();
        assert_eq!(p.form, NormalForm::Nfkc);
        assert!(p.lowercase);
        assert!(serde_json::from_str::<NormaliseParams>(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn batch_keeps_nulls() {
        let out = normalise_batch(&[Some("A\u{00A0}B"), None], &NormaliseParams::default());
        assert_eq!(out, vec![Some("A B".to_string()), None]);
    }
}
