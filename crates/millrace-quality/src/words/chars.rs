//! Character predicates with Python / spaCy semantics, backed by the generated range tables.

use super::tables;

/// Binary search in a sorted table of inclusive code-point ranges.
#[inline]
pub(crate) fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    table.binary_search_by(|&(lo, hi)| {
        if hi < cp {
            std::cmp::Ordering::Less
        } else if lo > cp {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }).is_ok()
}

/// 128-bit membership mask for the ASCII part of a range table, so hot ASCII text never
/// reaches the binary search.
const fn ascii_mask(table: &[(u32, u32)]) -> u128 {
    let mut mask = 0u128;
    let mut i = 0;
    while i < table.len() {
        let (lo, hi) = table[i];
        let mut cp = lo;
        while cp <= hi && cp < 128 {
            mask |= 1u128 << cp;
            cp += 1;
        }
        i += 1;
    }
    mask
}

macro_rules! class {
    ($(#[$m:meta])* $name:ident, $table:path) => {
        $(#[$m])*
        #[inline]
        pub(crate) fn $name(c: char) -> bool {
            const MASK: u128 = ascii_mask($table);
            if c.is_ascii() {
                MASK & (1u128 << (c as u32)) != 0
            } else {
                in_ranges($table, c)
            }
        }
    };
}

class!(
    /// Python `str.isspace` for one character.
    py_space, tables::PY_SPACE
);
class!(
    /// Python `str.isalpha` for one character (general category L*).
    py_alpha, tables::PY_ALPHA
);
class!(
    /// General category P* (spaCy's lexical `is_punct`).
    uni_punct, tables::UNI_PUNCT
);
class!(alpha, tables::ALPHA);
class!(alpha_lower, tables::ALPHA_LOWER);
class!(alpha_upper, tables::ALPHA_UPPER);
class!(icon, tables::ICONS);
class!(concat_quote, tables::CONCAT_QUOTES);
class!(dot_suffix_after, tables::DOT_SUFFIX_AFTER);
class!(prefix_char, tables::PREFIX_CHARS);
class!(suffix_char, tables::SUFFIX_CHARS);

/// Sorted single characters from a generated string list.
fn char_list(items: &[&str]) -> Vec<char> {
    let mut v: Vec<char> = items.iter().filter_map(|s| s.chars().next()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Membership set for a list of single characters: ASCII bitmap plus sorted non-ASCII list.
pub(crate) struct CharSet {
    ascii: u128,
    other: Vec<char>,
}

impl CharSet {
    pub(crate) fn from_strs(items: &[&str]) -> Self {
        let mut ascii = 0u128;
        let mut other = Vec::new();
        for c in char_list(items) {
            if c.is_ascii() {
                ascii |= 1u128 << (c as u32);
            } else {
                other.push(c);
            }
        }
        Self { ascii, other }
    }

    #[inline]
    pub(crate) fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii & (1u128 << (c as u32)) != 0
        } else {
            self.other.binary_search(&c).is_ok()
        }
    }
}

/// datatrove's `PUNCTUATION_SET` (used by Gopher's "symbol word" rule).
pub(crate) fn dt_punctuation() -> &'static CharSet {
    static SET: std::sync::LazyLock<CharSet> =
        std::sync::LazyLock::new(|| CharSet::from_strs(tables::DT_PUNCTUATION));
    &SET
}

/// datatrove's `TERMINAL_PUNCTUATION` (FineWeb's default `stop_chars`).
pub(crate) fn dt_terminal_punctuation() -> &'static CharSet {
    static SET: std::sync::LazyLock<CharSet> =
        std::sync::LazyLock::new(|| CharSet::from_strs(tables::DT_TERMINAL_PUNCTUATION));
    &SET
}

/// spaCy sentencizer's default `punct_chars`.
pub(crate) fn sent_punct() -> &'static CharSet {
    static SET: std::sync::LazyLock<CharSet> =
        std::sync::LazyLock::new(|| CharSet::from_strs(tables::SENT_PUNCT));
    &SET
}

/// The terminal-punctuation characters as owned strings (FineWeb's default `stop_chars`).
pub fn terminal_punctuation() -> Vec<String> {
    tables::DT_TERMINAL_PUNCTUATION
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
