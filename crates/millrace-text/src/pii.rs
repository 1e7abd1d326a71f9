//! `pii`: detect and redact personal data: e-mail addresses, public IP addresses, phone numbers,
//! credit-card numbers and IBANs.
//!
//! Every detector runs on the original text; overlapping matches are resolved by taking the
//! leftmost, then by kind priority (email > IBAN > credit card > IPv6 > IPv4 > phone), so e.g. the
//! digits of an IBAN are never also reported as a phone number.
//!
//! # False-positive trade-offs
//! Web and documentation text is full of digit groups that look like PII. Millrace prefers
//! precision: a redaction that destroys a version number or a date damages training text, while
//! a missed phone number in a crawl is rarely the only copy of it.
//! * **IPv4**: like datatrove's `PIIFormatter`, only *public* addresses are redacted by default
//!   (private, loopback, link-local, CGNAT `100.64/10`, documentation, benchmarking, multicast,
//!   reserved, broadcast and `0/8` stay; `redact_private_ips` changes that). Dotted quads that are
//!   part of a longer dotted run (`1.2.3.4.5`), have leading zeros (`01.02.03.04`), or follow a
//!   version word (`version 1.2.3.4`, `v 2.0.1.3`, `release`, `build`, `rev`...) are skipped when
//!   `skip_version_like` is on (default). A bare public dotted quad such as a four-part software
//!   version *without* such a word is still redacted: that is the accepted residual risk.
//! * **IPv6**: candidates must parse as `std::net::Ipv6Addr` and, by default, be global unicast
//!   (`2000::/3`, minus `2001:db8::/32` documentation), which also rules out clock times, MAC
//!   addresses and C++ `a::b` paths.
//! * **Phone numbers**: only two shapes are recognised: international numbers starting with `+`
//!   and a country code (8 to 15 digits in total, E.164), and North-American `(NXX) NXX-XXXX` /
//!   `NXX-NXX-XXXX` / `NXX.NXX.XXXX` with separators. National formats without `+` (`030 1234567`)
//!   are *not* detected: they are indistinguishable from ids, counts and table cells.
//! * **Credit cards**: 13 to 19 digits, optionally in groups separated by one consistent space or
//!   dash, with a known issuer prefix (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
//!   Maestro) and a valid Luhn checksum. Random digit strings pass Luhn one time in ten; the
//!   prefix rule cuts that further.
//! * **IBANs**: upper-case country code with its registered length and a valid ISO 7064 mod-97
//!   checksum, compact or in space-separated groups.
//! * **E-mail**: `local@domain.tld` with an alphabetic TLD of 2 to 24 letters.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Kinds of personal data.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    #[serde(alias = "emails")]
    Email,
    #[serde(alias = "ips", alias = "ip_address")]
    Ip,
    #[serde(alias = "phones", alias = "phone_number")]
    Phone,
    #[serde(alias = "card", alias = "credit-card", alias = "credit_cards")]
    CreditCard,
    #[serde(alias = "ibans")]
    Iban,
}

impl PiiKind {
    /// All kinds, in overlap priority order.
    pub const ALL: [PiiKind; 5] = [
        PiiKind::Email,
        PiiKind::Iban,
        PiiKind::CreditCard,
        PiiKind::Ip,
        PiiKind::Phone,
    ];

    /// All kinds in the order of reports and of the `pii_<kind>` columns.
    pub const REPORTED: [PiiKind; 5] = [PiiKind::Email, PiiKind::Ip, PiiKind::Phone, PiiKind::CreditCard, PiiKind::Iban];

    /// The kind's name in specs, columns (`pii_<name>`) and reports.
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Ip => "ip",
            PiiKind::Phone => "phone",
            PiiKind::CreditCard => "credit_card",
            PiiKind::Iban => "iban",
        }
    }
}

/// What to do with detected PII.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PiiMode {
    /// Replace each match with its placeholder.
    #[default]
    Redact,
    /// Leave the text unchanged; only report counts and spans.
    #[serde(alias = "detect", alias = "report")]
    Tag,
}

/// Replacement text per kind.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PiiPlaceholders {
    pub email: String,
    pub ip: String,
    pub phone: String,
    pub credit_card: String,
    pub iban: String,
}

impl Default for PiiPlaceholders {
    fn default() -> Self {
        Self {
            email: "<EMAIL>".into(),
            ip: "<IP>".into(),
            phone: "<PHONE>".into(),
            credit_card: "<CREDIT_CARD>".into(),
            iban: "<IBAN>".into(),
        }
    }
}

impl PiiPlaceholders {
    fn get(&self, kind: PiiKind) -> &str {
        match kind {
            PiiKind::Email => &self.email,
            PiiKind::Ip => &self.ip,
            PiiKind::Phone => &self.phone,
            PiiKind::CreditCard => &self.credit_card,
            PiiKind::Iban => &self.iban,
        }
    }
}

/// Parameters of the `pii` stage.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PiiParams {
    /// `redact` (default) or `tag`.
    pub mode: PiiMode,
    /// Kinds to handle. Default: all five.
    #[serde(alias = "types", alias = "entities")]
    pub kinds: Vec<PiiKind>,
    /// Replacement text per kind.
    #[serde(alias = "replacements")]
    pub placeholders: PiiPlaceholders,
    /// Also redact private, loopback, link-local and other non-public IP addresses. Default `false`.
    #[serde(alias = "only_remove_public_ips")]
    pub redact_private_ips: bool,
    /// Skip dotted quads that look like version numbers (see module doc). Default `true`.
    pub skip_version_like: bool,
}

impl Default for PiiParams {
    fn default() -> Self {
        Self {
            mode: PiiMode::Redact,
            kinds: PiiKind::ALL.to_vec(),
            placeholders: PiiPlaceholders::default(),
            redact_private_ips: false,
            skip_version_like: true,
        }
    }
}

/// Matches per kind.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct PiiCounts {
    pub email: u32,
    pub ip: u32,
    pub phone: u32,
    pub credit_card: u32,
    pub iban: u32,
}

impl PiiCounts {
    fn add(&mut self, kind: PiiKind) {
        let c = match kind {
            PiiKind::Email => &mut self.email,
            PiiKind::Ip => &mut self.ip,
            PiiKind::Phone => &mut self.phone,
            PiiKind::CreditCard => &mut self.credit_card,
            PiiKind::Iban => &mut self.iban,
        };
        *c += 1;
    }

    pub fn get(&self, kind: PiiKind) -> u32 {
        match kind {
            PiiKind::Email => self.email,
            PiiKind::Ip => self.ip,
            PiiKind::Phone => self.phone,
            PiiKind::CreditCard => self.credit_card,
            PiiKind::Iban => self.iban,
        }
    }

    /// Sum over all kinds.
    pub fn total(&self) -> u32 {
        self.email + self.ip + self.phone + self.credit_card + self.iban
    }
}

/// One detected span, byte offsets into the *input* text.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub struct PiiMatch {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

/// Output of [`redact_pii`].
#[derive(Debug, Clone, PartialEq)]
pub struct PiiResult<'a> {
    /// Redacted text (`redact` mode), or the input borrowed (`tag` mode or nothing found).
    pub text: Cow<'a, str>,
    pub counts: PiiCounts,
    /// Accepted matches in text order, non-overlapping.
    pub matches: Vec<PiiMatch>,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u:\b)[a-z0-9](?:[a-z0-9._%+\-]{0,63})@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?-u:\b)")
        .expect("static regex")
});
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?-u:\b)").expect("static regex")
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:[0-9a-f]{1,4}|:)(?::[0-9a-f]{0,4}){2,7}(?:(?-u:\b)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?-u:\b))?")
        .expect("static regex")
});
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)\d(?:[ \-]?\d){12,18}(?-u:\b)").expect("static regex"));
static IBAN_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)[A-Z]{2}\d{2} ?[A-Z0-9]{4}").expect("static regex"));
static PHONE_INTL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+\d{1,3}(?:[ .\-]?\(\d{1,4}\))?(?:[ .\-]?\d{1,5}){1,6}(?-u:\b)")
        .expect("static regex")
});
static PHONE_NANP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\([2-9]\d{2}\) ?|(?-u:\b)[2-9]\d{2}[ .\-])[2-9]\d{2}[ .\-]\d{4}(?-u:\b)")
        .expect("static regex")
});

fn prev_char(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}
fn next_char(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

fn find_emails(text: &str, out: &mut Vec<PiiMatch>) {
    if !text.contains('@') {
        return;
    }
    for m in EMAIL.find_iter(text) {
        let s = m.as_str();
        let Some((local, _)) = s.split_once('@') else {
            continue;
        };
        if local.ends_with('.') || local.contains("..") || prev_char(text, m.start()) == Some('.') {
            continue;
        }
        out.push(PiiMatch {
            kind: PiiKind::Email,
            start: m.start(),
            end: m.end(),
        });
    }
}

fn ipv4_is_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xC0) == 64) // shared address space (CGNAT)
        || (o[0] == 198 && (o[1] & 0xFE) == 18) // benchmarking
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || o[0] >= 240) // reserved
}

fn ipv6_is_public(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    (s[0] & 0xE000) == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
}

const VERSION_WORDS: &[&str] = &[
    "version", "versions", "ver", "v", "release", "rel", "rev", "revision", "build", "firmware",
    "patch",
];

/// Is the word before `start` (skipping spaces and `:`/`=`) a version word?
fn follows_version_word(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', ':', '=', '\t']);
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map_or(before.len(), |(i, _)| i);
    let word = &before[word_start..];
    VERSION_WORDS.iter().any(|v| word.eq_ignore_ascii_case(v))
}

fn find_ipv4(text: &str, p: &PiiParams, out: &mut Vec<PiiMatch>) {
    for m in IPV4.find_iter(text) {
        let (s, e) = (m.start(), m.end());
        // part of a longer dotted run such as 1.2.3.4.5 or a.b.1.2.3.4
        let before_dot = text[..s].ends_with('.');
        let after_dot_digit =
            text[e..].starts_with('.') && text[e + 1..].starts_with(|c: char| c.is_ascii_digit());
        if before_dot || after_dot_digit {
            continue;
        }
        if m.as_str()
            .split('.')
            .any(|o| o.len() > 1 && o.starts_with('0'))
        {
            continue;
        }
        let Ok(ip) = m.as_str().parse::<Ipv4Addr>() else {
            continue;
        };
        if !p.redact_private_ips && !ipv4_is_public(ip) {
            continue;
        }
        if p.skip_version_like && follows_version_word(text, s) {
            continue;
        }
        out.push(PiiMatch {
            kind: PiiKind::Ip,
            start: s,
            end: e,
        });
    }
}

fn find_ipv6(text: &str, p: &PiiParams, out: &mut Vec<PiiMatch>) {
    if !text.contains("::") && text.bytes().filter(|&b| b == b':').count() < 2 {
        return;
    }
    for m in IPV6.find_iter(text) {
        let (s, mut e) = (m.start(), m.end());
        let mut cand = m.as_str();
        // a trailing single colon is punctuation ("address 2001:db8::1: done"), not part of the address
        if cand.ends_with(':') && !cand.ends_with("::") {
            cand = &cand[..cand.len() - 1];
            e -= 1;
        }
        let bad_neighbour =
            |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '_');
        // after a stripped trailing colon, look past it
        if bad_neighbour(prev_char(text, s)) || bad_neighbour(next_char(text, m.end())) {
            continue;
        }
        let Ok(ip) = cand.parse::<Ipv6Addr>() else {
            continue;
        };
        if !p.redact_private_ips && !ipv6_is_public(ip) {
            continue;
        }
        if p.redact_private_ips && ip.is_unspecified() {
            // "::" alone is punctuation far more often than an address
            continue;
        }
        out.push(PiiMatch {
            kind: PiiKind::Ip,
            start: s,
            end: e,
        });
    }
}

fn luhn_ok(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn known_issuer(d: &[u8]) -> bool {
    let n = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let len = d.len();
    match d.first() {
        Some(4) => matches!(len, 13 | 16 | 19), // Visa
        Some(5) => {
            (51..=55).contains(&n(2)) && len == 16 || matches!(n(2), 50 | 56..=59) && len >= 12
        } // Mastercard, Maestro
        Some(2) => (2221..=2720).contains(&n(4)) && len == 16, // Mastercard 2-series
        Some(3) => {
            (matches!(n(2), 34 | 37) && len == 15)                                      // Amex
                || ((300..=305).contains(&n(3)) || matches!(n(2), 36 | 38 | 39)) && (14..=19).contains(&len) // Diners
                || (3528..=3589).contains(&n(4)) && (16..=19).contains(&len) // JCB
        }
        Some(6) => {
            (n(4) == 6011 || n(2) == 65 || (644..=649).contains(&n(3)) || n(2) == 62 || n(2) == 67)
                && (16..=19).contains(&len)
        } // Discover, UnionPay, Maestro
        _ => false,
    }
}

fn find_cards(text: &str, out: &mut Vec<PiiMatch>) {
    for m in CARD.find_iter(text) {
        let s = m.as_str();
        let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
        if let Some(&first) = seps.first() {
            // one consistent separator, groups of at least 3 digits
            if seps.iter().any(|&c| c != first) || s.split(first).any(|g| g.len() < 3) {
                continue;
            }
        }
        // avoid pieces of longer numbers: 1234.5678..., -12, +49...
        if matches!(
            prev_char(text, m.start()),
            Some('.' | ',' | '+' | '-' | '/')
        ) || (text[m.end()..].starts_with(['.', ','])
            && text[m.end() + 1..].starts_with(|c: char| c.is_ascii_digit()))
        {
            continue;
        }
        let digits: Vec<u8> = s
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        if digits.iter().all(|&d| d == digits[0]) || !known_issuer(&digits) || !luhn_ok(&digits) {
            continue;
        }
        out.push(PiiMatch {
            kind: PiiKind::CreditCard,
            start: m.start(),
            end: m.end(),
        });
    }
}

/// Registered IBAN lengths (ISO 13616 registry).
fn iban_length(cc: &str) -> Option<usize> {
    Some(match cc {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    })
}

fn iban_checksum_ok(compact: &[u8]) -> bool {
    // move the first four characters to the end, letters -> 10..35, then mod 97 incrementally
    let mut rem: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn find_ibans(text: &str, out: &mut Vec<PiiMatch>) {
    let bytes = text.as_bytes();
    for m in IBAN_START.find_iter(text) {
        let s = m.start();
        let Some(want) = iban_length(&text[s..s + 2]) else {
            continue;
        };
        let mut compact = Vec::with_capacity(want);
        let mut i = s;
        while i < bytes.len() && compact.len() < want {
            let b = bytes[i];
            if b.is_ascii_uppercase() || b.is_ascii_digit() {
                compact.push(b);
                i += 1;
            } else if b == b' '
                && i + 1 < bytes.len()
                && (bytes[i + 1].is_ascii_uppercase() || bytes[i + 1].is_ascii_digit())
                && !compact.is_empty()
            {
                i += 1;
            } else {
                break;
            }
        }
        if compact.len() != want || bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        if iban_checksum_ok(&compact) {
            out.push(PiiMatch {
                kind: PiiKind::Iban,
                start: s,
                end: i,
            });
        }
    }
}

fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

fn find_phones(text: &str, out: &mut Vec<PiiMatch>) {
    let blocked_before = |c: Option<char>| {
        c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '.' | '+' | '-' | '/' | '_'))
    };
    let blocked_after = |t: &str| {
        let mut it = t.chars();
        match it.next() {
            Some(c) if c.is_alphanumeric() || matches!(c, '-' | '/' | '_') => true,
            Some('.' | ',') => it.next().is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        }
    };
    for m in PHONE_INTL.find_iter(text) {
        let n = digit_count(m.as_str());
        if !(8..=15).contains(&n)
            || blocked_before(prev_char(text, m.start()))
            || blocked_after(&text[m.end()..])
        {
            continue;
        }
        out.push(PiiMatch {
            kind: PiiKind::Phone,
            start: m.start(),
            end: m.end(),
        });
    }
    for m in PHONE_NANP.find_iter(text) {
        if blocked_before(prev_char(text, m.start())) || blocked_after(&text[m.end()..]) {
            continue;
        }
        out.push(PiiMatch {
            kind: PiiKind::Phone,
            start: m.start(),
            end: m.end(),
        });
    }
}

fn priority(k: PiiKind) -> usize {
    PiiKind::ALL
        .iter()
        .position(|&x| x == k)
        .unwrap_or(usize::MAX)
}

/// Detect all enabled kinds; returns non-overlapping matches in text order.
pub fn detect_pii(text: &str, p: &PiiParams) -> Vec<PiiMatch> {
    let mut found = Vec::new();
    let on = |k| p.kinds.contains(&k);
    if on(PiiKind::Email) {
        find_emails(text, &mut found);
    }
    if on(PiiKind::Iban) {
        find_ibans(text, &mut found);
    }
    if on(PiiKind::CreditCard) {
        find_cards(text, &mut found);
    }
    if on(PiiKind::Ip) {
        find_ipv6(text, p, &mut found);
        find_ipv4(text, p, &mut found);
    }
    if on(PiiKind::Phone) {
        find_phones(text, &mut found);
    }
    // Overlaps: leftmost start wins; on equal start the higher-priority kind, then the longer span.
    found.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(priority(a.kind).cmp(&priority(b.kind)))
            .then(b.end.cmp(&a.end))
    });
    let mut accepted: Vec<PiiMatch> = Vec::with_capacity(found.len());
    for m in found {
        match accepted.last_mut() {
            Some(last) if m.start < last.end => {
                // a higher-priority kind starting inside a lower-priority span replaces it
                // (e.g. an e-mail whose local part was taken for a phone number)
                if priority(m.kind) < priority(last.kind) && m.end >= last.end {
                    *last = m;
                }
            }
            _ => accepted.push(m),
        }
    }
    accepted
}

/// Detect and (in `redact` mode) replace PII in `text`.
pub fn redact_pii<'a>(text: &'a str, p: &PiiParams) -> PiiResult<'a> {
    let matches = detect_pii(text, p);
    let mut counts = PiiCounts::default();
    for m in &matches {
        counts.add(m.kind);
    }
    if matches.is_empty() || p.mode == PiiMode::Tag {
        return PiiResult {
            text: Cow::Borrowed(text),
            counts,
            matches,
        };
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for m in &matches {
        out.push_str(&text[pos..m.start]);
        out.push_str(p.placeholders.get(m.kind));
        pos = m.end;
    }
    out.push_str(&text[pos..]);
    PiiResult {
        text: Cow::Owned(out),
        counts,
        matches,
    }
}

/// Owned per-document output of [`redact_pii_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct PiiBatchItem {
    pub text: String,
    pub counts: PiiCounts,
}

/// [`redact_pii`] over a batch of nullable documents, in parallel across documents.
pub fn redact_pii_batch(texts: &[Option<&str>], p: &PiiParams) -> Vec<Option<PiiBatchItem>> {
    texts
        .par_iter()
        .map(|t| {
            t.map(|t| {
                let r = redact_pii(t, p);
                PiiBatchItem {
                    text: r.text.into_owned(),
                    counts: r.counts,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(s: &str) -> String {
        redact_pii(s, &PiiParams::default()).text.into_owned()
    }

    #[test]
    fn emails() {
        assert_eq!(red("mail john.doe+x@example.co.uk now"), "mail <EMAIL> now");
        assert_eq!(
            red("not an email: a@b or @handle"),
            "not an email: a@b or @handle"
        );
    }

    #[test]
    fn ipv4_public_only_and_versions() {
        assert_eq!(
            red("server 8.8.8.8 and 192.168.1.1 and 10.0.0.1"),
            "server <IP> and 192.168.1.1 and 10.0.0.1"
        );
        assert_eq!(
            red("127.0.0.1 100.64.0.1 224.0.0.1 255.255.255.255 203.0.113.5"),
            "127.0.0.1 100.64.0.1 224.0.0.1 255.255.255.255 203.0.113.5"
        );
        assert_eq!(
            red("version 1.2.3.4 and v1.2.3.4 and 1.2.3.4.5 and 999.1.1.1"),
            "version 1.2.3.4 and v1.2.3.4 and 1.2.3.4.5 and 999.1.1.1"
        );
        assert_eq!(red("ping 1.2.3.4."), "ping <IP>.");
        let p = PiiParams {
            redact_private_ips: true,
            ..Default::default()
        };
        assert_eq!(redact_pii("host 192.168.1.1", &p).text, "host <IP>");
    }

    #[test]
    fn ipv6() {
        assert_eq!(red("addr 2a00:1450:4001:82a::200e here"), "addr <IP> here");
        assert_eq!(
            red("doc 2001:db8::1 local fe80::1 loop ::1"),
            "doc 2001:db8::1 local fe80::1 loop ::1"
        );
        assert_eq!(
            red("at 12:30:45 mac 00:1a:2b:3c:4d:5e std::vector a::b"),
            "at 12:30:45 mac 00:1a:2b:3c:4d:5e std::vector a::b"
        );
        assert_eq!(red("v6 2606:4700:4700::1111: done"), "v6 <IP>: done");
    }

    #[test]
    fn cards() {
        assert_eq!(
            red("card 4111 1111 1111 1111 exp"),
            "card <CREDIT_CARD> exp"
        );
        assert_eq!(red("card 5500-0000-0000-0004."), "card <CREDIT_CARD>.");
        assert_eq!(red("amex 378282246310005"), "amex <CREDIT_CARD>");
        // Luhn failure, unknown issuer, mixed separators
        assert_eq!(
            red("4111 1111 1111 1112 / 9111111111111111 / 4111-1111 1111-1111"),
            "4111 1111 1111 1112 / 9111111111111111 / 4111-1111 1111-1111"
        );
    }

    #[test]
    fn ibans() {
        assert_eq!(
            red("pay DE89 3704 0044 0532 0130 00 today"),
            "pay <IBAN> today"
        );
        assert_eq!(red("GB82WEST12345698765432"), "<IBAN>");
        assert_eq!(
            red("bad DE89 3704 0044 0532 0130 01"),
            "bad DE89 3704 0044 0532 0130 01"
        );
        assert_eq!(red("ID AB12 CDEF is not one"), "ID AB12 CDEF is not one");
    }

    #[test]
    fn phones() {
        assert_eq!(
            red("call +44 20 7946 0958 or (415) 555-2671 or 415.555.2671"),
            "call <PHONE> or <PHONE> or <PHONE>"
        );
        assert_eq!(
            red("dates 2023-10-05 and 12/05/2023, v1.2.3, ISBN 978-3-16-148410-0, 123-456-7890"),
            "dates 2023-10-05 and 12/05/2023, v1.2.3, ISBN 978-3-16-148410-0, 123-456-7890"
        );
        assert_eq!(red("+1 5"), "+1 5");
    }

    #[test]
    fn tag_mode_and_counts() {
        let p = PiiParams {
            mode: PiiMode::Tag,
            ..Default::default()
        };
        let s = "a@example.com 8.8.4.4 b@example.org";
        let r = redact_pii(s, &p);
        assert!(matches!(r.text, Cow::Borrowed(_)));
        assert_eq!(
            r.counts,
            PiiCounts {
                email: 2,
                ip: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            r.matches[1],
            PiiMatch {
                kind: PiiKind::Ip,
                start: 14,
                end: 21
            }
        );
    }

    #[test]
    fn kinds_and_placeholders() {
        let p: PiiParams =
            serde_json::from_str(r#"{"kinds":["email"],"placeholders":{"email":"[email]"}}"#)
                .unwrap();
        assert_eq!(
            redact_pii("x@example.com 8.8.8.8", &p).text,
            "[email] 8.8.8.8"
        );
        assert!(serde_json::from_str::<PiiParams>(r#"{"kinds":["ssn"]}"#).is_err());
    }

    #[test]
    fn nothing_found_borrows() {
        let r = redact_pii("plain text, nothing here 1.2.3", &PiiParams::default());
        assert!(matches!(r.text, Cow::Borrowed(_)));
        assert_eq!(r.counts.total(), 0);
    }

    #[test]
    fn checksums() {
        assert!(luhn_ok(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(!luhn_ok(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
        assert!(iban_checksum_ok(b"FR1420041010050500013M02606"));
        assert!(!iban_checksum_ok(b"FR1420041010050500013M02607"));
    }
}
