//! Python `str` operations with CPython's exact semantics, on `&str` without allocation.
//!
//! datatrove's filters are written against Python string methods (`strip`, `split`,
//! `splitlines`, `len`); their notion of whitespace and line breaks differs from Rust's
//! (`\x1c`..`\x1f` are whitespace and line breaks in Python, `len` counts code points), so the
//! filters use these helpers to decide exactly like datatrove.

use crate::words::chars::py_space;

/// Python `len(s)`: number of code points.
#[inline]
pub fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Python `s.strip()`.
#[inline]
pub fn strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// Python `s.lstrip()`.
#[inline]
pub fn lstrip(s: &str) -> &str {
    s.trim_start_matches(py_space)
}

/// Python `s.rstrip()`.
#[inline]
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(py_space)
}

/// Python `s.split()` (no argument): runs of whitespace separate, empty parts dropped.
pub fn split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(py_space).filter(|p| !p.is_empty())
}

/// Is `c` one of the line boundaries of Python `str.splitlines`?
#[inline]
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python `s.splitlines()`: lines without their terminators; `"\r\n"` is one break and a
/// final terminator does not start an empty line.
pub fn splitlines(s: &str) -> SplitLines<'_> {
    SplitLines { rest: s }
}

/// Iterator returned by [`splitlines`].
pub struct SplitLines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for SplitLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest.as_bytes();
        // ASCII fast path: the only ASCII breaks are \n \r \x0b \x0c \x1c \x1d \x1e; non-ASCII
        // breaks start with 0xC2 (U+0085) or 0xE2 (U+2028/9).
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x20 || b == 0xC2 || b == 0xE2 {
                // Decode the char at i (i is always a char boundary here).
                let c = self.rest[i..].chars().next().unwrap_or('\0');
                if is_line_break(c) {
                    let line = &self.rest[..i];
                    let mut end = i + c.len_utf8();
                    if c == '\r' && bytes.get(end) == Some(&b'\n') {
                        end += 1;
                    }
                    self.rest = &self.rest[end..];
                    return Some(line);
                }
                i += c.len_utf8();
            } else if b < 0x80 {
                i += 1;
            } else {
                // Skip a multi-byte char that cannot be a break.
                i += utf8_width(b);
            }
        }
        let line = self.rest;
        self.rest = "";
        Some(line)
    }
}

#[inline]
fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Python `s.lower()` for substring tests against ASCII needles: ASCII text is lowered in
/// place of a full Unicode case mapping, which gives the same answer for ASCII needles.
pub fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(s.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(s)
        }
    } else {
        std::borrow::Cow::Owned(s.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_matches_python() {
        let v: Vec<&str> = splitlines("a\nb\r\nc\rd\x1ce\u{2028}f\n").collect();
        assert_eq!(v, ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(splitlines("").count(), 0);
        assert_eq!(splitlines("\n").collect::<Vec<_>>(), [""]);
        assert_eq!(splitlines("x\n\ny").collect::<Vec<_>>(), ["x", "", "y"]);
        assert_eq!(splitlines("é\u{85}ü").collect::<Vec<_>>(), ["é", "ü"]);
    }

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(strip("\x1f a b\u{a0}\t"), "a b");
        assert_eq!(
            split_whitespace(" a\x1cb  c ").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(char_len("héllo"), 5);
    }
}
