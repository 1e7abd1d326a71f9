//! The cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) run in every test build: each target's body,
//! calling the same entry points, over a deterministic stream of mutated inputs derived from its
//! committed corpus (`fuzz/corpus/<target>/`): bit and byte flips, interesting bytes and integers,
//! inserts, deletes, duplicated, repeated and spliced chunks, truncations, dictionary tokens, huge
//! numbers and deep nesting. The libFuzzer build (`scripts/fuzz`, coverage-guided, sanitizer
//! instrumented) is a second full compile, so CI runs this instead; the seed and the iteration counts
//! are fixed, so every run tries the same inputs.
//!
//! A panic that escapes a target fails its test, naming the seed and iteration, and the input is
//! written under `$CARGO_TARGET_TMPDIR/fuzz-smoke/` to be added to the corpus once fixed. Panics that
//! the code itself catches (the Parquet decoder guard) are counted and listed, not failures.
//! `MILLRACE_FUZZ_SMOKE_SEED` (hex or decimal) and `MILLRACE_FUZZ_SMOKE_SCALE` (an iteration
//! multiplier) explore further locally; CI uses the defaults.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Instant;

use millrace_connectors::commit::{Checkpoint, EpochManifest, PendingCommit};
use millrace_connectors::ownership::OwnerRecord;
use millrace_spec::{Compression, Format};

/// The default seed ("MILLRACE" in ASCII).
const SEED: u64 = 0x4d49_4c4c_5241_4345;
/// Inputs never grow past this (libFuzzer's runs use `-max_len=65536`; the JSONL corpus is larger).
const MAX_LEN: usize = 1 << 17;

// The fuzz targets' bodies, as in fuzz/fuzz_targets/<name>.rs.

fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first line doubles as every variable's value, so values with YAML syntax are tried too.
    let value = text.lines().next().unwrap_or("").to_string();
    let _ = millrace_spec::interpolate(text, &|_| Some(value.clone()));
    let _ = millrace_spec::load_str(text, "fuzz.yaml", &[]);
}

fn jsonl(data: &[u8]) {
    let _ = millrace_connectors::source::fuzzing::read(Format::Jsonl, Compression::None, data);
}

fn csv(data: &[u8]) {
    let _ = millrace_connectors::source::fuzzing::read(Format::Csv, Compression::None, data);
}

fn parquet(data: &[u8]) {
    let _ = millrace_connectors::source::fuzzing::read(Format::Parquet, Compression::None, data);
}

fn warc(data: &[u8]) {
    let _ = millrace_connectors::source::fuzzing::read(Format::Warc, Compression::None, data);
}

fn megatron_idx(data: &[u8]) {
    let _ = millrace_tokenise::megatron::read_idx(data);
}

fn state_records(data: &[u8]) {
    let _ = serde_json::from_slice::<EpochManifest>(data);
    let _ = serde_json::from_slice::<Checkpoint>(data);
    let _ = serde_json::from_slice::<PendingCommit>(data);
    let _ = serde_json::from_slice::<OwnerRecord>(data);
}

#[derive(Clone, Copy, PartialEq)]
enum Nest {
    Json,
    Yaml,
    Binary,
}

struct Target {
    name: &'static str,
    /// Mutated inputs tried, after the corpus itself.
    iterations: u64,
    /// Mutants are made valid UTF-8 (lossily) before the run: the target ignores anything else.
    utf8: bool,
    nest: Nest,
    dict: &'static [&'static [u8]],
    run: fn(&[u8]),
}

const JSON_DICT: &[&[u8]] = &[
    b"{", b"}", b"[", b"]", b"\"", b":", b",", b"\\", b"\\\"", b"\\u0000", b"\\ud800", b"\\udc00\\ud800",
    b"\\uDBFF\\uDFFF", b"\\x", b"\\u12", b"null", b"true", b"false", b"-0", b"0.0e-0", b"1e999999",
    b"-1e-999999", b"18446744073709551616", b"18446744073709551615", b"-9223372036854775809",
    b"9223372036854775807", b"4294967296", b"-1", b"1.7976931348623157e309", b"NaN", b"Infinity", b"\"\"",
    b"{}", b"[]", b"\"id\":", b"\"text\":", b"\"id\": null, ", b"\"text\": 7, ", b"\"epoch\":", b"\"units\":",
    b"\"range\": [10, 0]", b"\"files\":", b"\"schema\":", b"\"sinks\":", b"\"rows\":", b"\"size\":",
    b"\"committed_at\":", b"\"2026-13-45T99:99:99.999Z\"", b"\"type\": \"Struct\"", b"\"nullable\":",
    b"\n", b"\r\n", b"\r", b"\n\n\n", b"\xEF\xBB\xBF", b"\xFF", b"\x00", b"\xC3\xA9", b"\xF0\x9F\x92\xA9",
    b"\xED\xA0\x80", b"\xC0\x80", b"\xF4\x90\x80\x80", b"\xE2\x80\xA8", b" ", b"\t",
];

const CSV_DICT: &[&[u8]] = &[
    b"\"", b"\"\"", b",", b",,,,,,,,", b"\n", b"\r\n", b"\r", b"\n\n", b"\xEF\xBB\xBF", b"id", b"text",
    b"id,text\n", b"text,id\n", b"\"\n\"", b"\"a\"b\"", b"\x00", b"\xFF", b"\xC3", b"\xC3\xA9",
    b"\xF0\x9F\x92\xA9", b"\t", b";", b"\\", b"#", b"-1", b"18446744073709551616", b"1e999999", b"NaN",
];

const PARQUET_DICT: &[&[u8]] = &[
    b"PAR1", b"PAR0", b"PARE", b"\x00\x00\x00\x00PAR1", b"\xFF\xFF\xFF\x7FPAR1", b"\x08\x00\x00\x00PAR1",
    b"ARROW:schema", b"\x15\x00", b"\x15\x02", b"\x19\x1c", b"\x19\x0c", b"\x16\x00", b"\x1c\x15\x00",
    b"\x00", b"\xFF", b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
    b"\x7F\xFF\xFF\xFF", b"\x00\x00\x00\x80", b"id", b"text",
];

const IDX_DICT: &[&[u8]] = &[
    b"MMIDIDX\x00\x00", b"\x01\x00\x00\x00\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x7F", b"\x00\x00\x00\x00\x00\x00\x00\x80",
    b"\xFF\xFF\xFF\xFF", b"\x00\x00\x00\x80", b"\x01", b"\x08", b"\x09", b"\x00",
];

const YAML_DICT: &[&[u8]] = &[
    b"${", b"}", b"${A}", b"${A:-", b"${A:-x}", b"${A:-}", b"$${", b"${:-x}", b"${\xC3\xA9}", b"${A:-${B}}",
    b"\"${A}\"", b"'${A}'", b"x${A}y", b": ${A}", b"- ${A}\n", b":", b": ", b"- ", b"-", b"? ", b"---\n",
    b"...\n", b"&a ", b"*a", b"<<: *a\n", b"!!str ", b"!!binary ", b"!!int ", b"!!map ", b"!<tag:yaml.org,2002:str> ",
    b"!custom ", b"%YAML 1.2\n", b"%TAG ! !foo\n", b"|", b"|-\n", b">+\n", b"|9\n", b"#", b" #", b"'", b"\"",
    b"''", b"\"\\x\"", b"\"\\uD800\"", b"\"\\U0010FFFF\"", b"\\", b"{", b"}", b"[", b"]", b",", b"{}", b"[]",
    b"\t", b"\n", b"\r\n", b"\r", b"\n  ", b"\n    ", b"\xEF\xBB\xBF", b"\xC3\xA9", b"\xF0\x9D\x84\x9E",
    b"\xEF\xBF\xBD", b"\xE2\x80\xA8", b"\xC2\x85", b"\x00", b"~", b"null", b"true", b"no", b".inf", b"-.nan",
    b"0x7fffffffffffffffff", b"0o777", b"1e999", b"99999999999999999999999999", b"-1", b"0", b"64MiB",
    b"18446744073709551615B", b"99999999999TiB", b"1.5.5GB", b"-5MiB", b"1e3KB", b"s3://", b"file:///",
    b"memory:///", b"gs://b/", b"az://", b"http://[::1", b"*.jsonl", b"**/[a-", b"{a,b", b"SELECT * FROM input",
];

const WARC_DICT: &[&[u8]] = &[
    b"WARC/1.1\r\n", b"WARC/1.0\r\n", b"\r\n", b"\r\n\r\n", b"\n", b"WARC-Type: response\r\n", b"WARC-Type: request\r\n",
    b"WARC-Type: conversion\r\n", b"Content-Length: ", b"Content-Length: 0\r\n", b"Content-Length: 18446744073709551615\r\n",
    b"WARC-Record-ID: <urn:uuid:x>\r\n", b"WARC-Target-URI: ", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 ", b"Content-Type: text/html; charset=",
    b"utf-8", b"windows-1252", b"shift_jis", b"utf-16le", b"x-user-defined", b"<meta charset=", b"\xEF\xBB\xBF", b"\xFF\xFE",
    b"\xFE\xFF", b": ", b" ", b"\t", b"\x00", b"\xC3\xA9", b"\xE9", b"\x1f\x8b",
];

const TARGETS: [Target; 7] = [
    Target { name: "spec", iterations: 70_000, utf8: true, nest: Nest::Yaml, dict: YAML_DICT, run: spec },
    Target { name: "jsonl", iterations: 16_000, utf8: false, nest: Nest::Json, dict: JSON_DICT, run: jsonl },
    Target { name: "csv", iterations: 60_000, utf8: false, nest: Nest::Binary, dict: CSV_DICT, run: csv },
    Target { name: "parquet", iterations: 250_000, utf8: false, nest: Nest::Binary, dict: PARQUET_DICT, run: parquet },
    Target { name: "warc", iterations: 40_000, utf8: false, nest: Nest::Binary, dict: WARC_DICT, run: warc },
    Target { name: "megatron_idx", iterations: 1_000_000, utf8: false, nest: Nest::Binary, dict: IDX_DICT, run: megatron_idx },
    Target { name: "state_records", iterations: 800_000, utf8: false, nest: Nest::Json, dict: JSON_DICT, run: state_records },
];

#[test]
fn fuzz_smoke_spec() {
    smoke("spec");
}

#[test]
fn fuzz_smoke_jsonl() {
    smoke("jsonl");
}

#[test]
fn fuzz_smoke_csv() {
    smoke("csv");
}

#[test]
fn fuzz_smoke_parquet() {
    smoke("parquet");
}

#[test]
fn fuzz_smoke_warc() {
    smoke("warc");
}

#[test]
fn fuzz_smoke_megatron_idx() {
    smoke("megatron_idx");
}

#[test]
fn fuzz_smoke_state_records() {
    smoke("state_records");
}

/// Every target has a test here, and every test a target.
#[test]
fn every_fuzz_target_has_a_smoke() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut here: Vec<String> = TARGETS.iter().map(|t| t.name.to_string()).collect();
    here.sort();
    assert_eq!(on_disk, here, "fuzz/fuzz_targets/ and this file's TARGETS must name the same targets");
}

fn smoke(name: &str) {
    let t = TARGETS.iter().find(|t| t.name == name).unwrap();
    run_smoke(t, t.run);
}

// ---------------------------------------------------------------------------------------------
// The harness.

thread_local! {
    /// Set while a target runs: its panics are recorded here instead of printed.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<Captured>> = const { RefCell::new(None) };
    /// Where each panic of the current input was raised, caught or not.
    static SITES: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

struct Captured {
    location: String,
    message: String,
    backtrace: Backtrace,
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !ACTIVE.with(Cell::get) {
                return default(info);
            }
            let location = info.location().map(|l| l.to_string()).unwrap_or_else(|| "<unknown>".into());
            let message = info.payload_as_str().unwrap_or("<non-string panic payload>").to_string();
            SITES.with(|s| s.borrow_mut().push((location.clone(), message.clone())));
            LAST_PANIC.with(|l| *l.borrow_mut() = Some(Captured { location, message, backtrace: Backtrace::force_capture() }));
        }));
    });
}

/// Runs one input; `Some` when a panic escaped the target. Panics the code caught itself are left
/// in `SITES`.
fn run_one(run: &dyn Fn(&[u8]), data: &[u8]) -> Option<Captured> {
    LAST_PANIC.with(|l| l.borrow_mut().take());
    SITES.with(|s| s.borrow_mut().clear());
    ACTIVE.with(|a| a.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(|| run(data)));
    ACTIVE.with(|a| a.set(false));
    match r {
        Ok(()) => None,
        Err(payload) => Some(LAST_PANIC.with(|l| l.borrow_mut().take()).unwrap_or_else(|| Captured {
            location: "<panic raised on another thread>".into(),
            message: millrace_connectors::panic_message(payload.as_ref()),
            backtrace: Backtrace::disabled(),
        })),
    }
}

struct Finding {
    iteration: u64,
    mutations: String,
    file: PathBuf,
    first: Captured,
    count: u64,
}

fn env_u64(key: &str) -> Option<u64> {
    let v = std::env::var(key).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn run_smoke(t: &Target, run: impl Fn(&[u8])) {
    install_panic_hook();
    let seed = env_u64("MILLRACE_FUZZ_SMOKE_SEED").unwrap_or(SEED);
    let iterations = t.iterations * env_u64("MILLRACE_FUZZ_SMOKE_SCALE").unwrap_or(1);
    let corpus = read_corpus(t.name);
    assert!(!corpus.is_empty(), "fuzz/corpus/{} is empty", t.name);
    let tokens = tokens(&corpus);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke");
    let started = Instant::now();
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    // Panics the code caught, by where they were raised: (count, first message).
    let mut guarded: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut bytes = 0u64;

    let mut check = |iteration: u64, mutations: &str, data: &[u8], findings: &mut BTreeMap<String, Finding>| {
        let escaped = run_one(&run, data);
        let mut sites = SITES.with(|s| std::mem::take(&mut *s.borrow_mut()));
        if escaped.is_some() {
            sites.pop();
        }
        for (location, message) in sites {
            guarded.entry(location).or_insert((0, message)).0 += 1;
        }
        let Some(p) = escaped else { return };
        // One finding per panic site, as libFuzzer's crash de-duplication would roughly have it.
        let key = p.location.clone();
        if let Some(f) = findings.get_mut(&key) {
            f.count += 1;
            return;
        }
        std::fs::create_dir_all(&out).unwrap();
        let file = out.join(format!("{}-seed{seed:016x}-iter{iteration}", t.name));
        std::fs::write(&file, data).unwrap();
        findings.insert(key, Finding { iteration, mutations: mutations.to_string(), file, first: p, count: 1 });
    };

    // The corpus as committed, then the mutants.
    for (i, data) in corpus.iter().enumerate() {
        bytes += data.len() as u64;
        check(i as u64, "none (corpus file)", data, &mut findings);
    }
    let name_hash = t.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut trace: Vec<&'static str> = Vec::new();
    for i in 0..iterations {
        // One generator per iteration: an iteration's input depends only on (seed, target, iteration).
        let mut rng = fastrand::Rng::with_seed(splitmix(seed ^ name_hash ^ splitmix(i)));
        trace.clear();
        let mut data = corpus[rng.usize(..corpus.len())].clone();
        // 1, 2, 4 or 8 stacked mutations.
        let n = 1usize << rng.u32(0..4);
        for _ in 0..n {
            mutate(&mut rng, t, &corpus, &tokens, &mut data, &mut trace);
            data.truncate(MAX_LEN);
        }
        if t.utf8 && std::str::from_utf8(&data).is_err() {
            data = String::from_utf8_lossy(&data).into_owned().into_bytes();
            trace.push("utf8-repair");
        }
        bytes += data.len() as u64;
        check(corpus.len() as u64 + i, &trace.join(","), &data, &mut findings);
    }

    let elapsed = started.elapsed();
    println!(
        "[fuzz-smoke] {}: {} corpus inputs + {iterations} mutants ({:.1} MB) in {:.1} s, seed {seed:#018x}; \
         {} escaped panic site(s), {} site(s) of panics the code caught",
        t.name,
        corpus.len(),
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        findings.len(),
        guarded.len()
    );
    for (location, (count, message)) in &guarded {
        println!("[fuzz-smoke]   caught {count}x at {location}: {}", message.lines().next().unwrap_or(""));
    }
    if findings.is_empty() {
        return;
    }
    let mut report = format!(
        "fuzz smoke `{}` (seed {seed:#018x}): {} distinct panic site(s) escaped the target\n",
        t.name,
        findings.len()
    );
    for (location, f) in &findings {
        report.push_str(&format!(
            "\n- panicked at {location}: {}\n  {} input(s) panicked here; the first, iteration {} (mutations: {}), \
             is written to {}: add it to fuzz/corpus/{}/ once fixed\n  backtrace:\n{}\n",
            f.first.message,
            f.count,
            f.iteration,
            f.mutations,
            f.file.display(),
            t.name,
            target_frames(&f.first.backtrace)
        ));
    }
    panic!("{report}");
}

/// The frames of a panic's backtrace between the panic machinery and this harness: the target's.
fn target_frames(bt: &Backtrace) -> String {
    let text = bt.to_string();
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let starts = t.split_once(": ").is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        match frames.last_mut() {
            Some(f) if !starts => f.push(line),
            _ => frames.push(vec![line]),
        }
    }
    let end = frames.iter().position(|f| f[0].contains("fuzz_smoke::run_one")).unwrap_or(frames.len());
    let machinery = |f: &Vec<&str>| ["install_panic_hook", "panicking", "rust_begin_unwind", "backtrace::"].iter().any(|m| f[0].contains(m));
    let start = frames[..end].iter().rposition(machinery).map_or(0, |i| i + 1);
    frames[start..end].concat().join("\n")
}

fn read_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Words of the corpus (identifier-like runs of 2 to 32 bytes), sorted: a dictionary for free.
fn tokens(corpus: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut set = std::collections::BTreeSet::new();
    for data in corpus {
        for w in data.split(|b| !(b.is_ascii_alphanumeric() || *b == b'_')) {
            if (2..=32).contains(&w.len()) {
                set.insert(w.to_vec());
            }
        }
    }
    set.into_iter().collect()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

// ---------------------------------------------------------------------------------------------
// Mutations.

const INTERESTING_BYTES: &[u8] = &[
    0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, b'\n', b'\r', b'"', b'\'', b'\\', b',', b':', b'{', b'}', b'[', b']', b' ',
    b'\t', b'$', b'-', b'#', b'0', b'9', b'&', b'*', b'!', b'|', b'>',
];

const INTERESTING_INTS: &[u64] = &[
    0,
    1,
    2,
    7,
    8,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
    (-2i64) as u64,
    (-128i64) as u64,
    (-32768i64) as u64,
    (-2147483648i64) as u64,
];

const HUGE_NUMBERS: &[&[u8]] = &[
    b"99999999999999999999999999999999",
    b"18446744073709551616",
    b"18446744073709551615",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"4294967296",
    b"2147483648",
    b"-1",
    b"-0",
    b"0",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"0.00000000000000000000000000000000000000000000000000000001",
    b"1.7976931348623157e308",
    b"NaN",
    b"inf",
    b"00000000000000000000000000000000000007",
];

fn pos(rng: &mut fastrand::Rng, len: usize) -> usize {
    rng.usize(0..=len)
}

/// A length skewed towards small ones: 1, 2..4, ..., up to 4096.
fn small_len(rng: &mut fastrand::Rng) -> usize {
    let bits = rng.u32(0..13);
    rng.usize(1..=(1usize << bits))
}

fn range(rng: &mut fastrand::Rng, len: usize) -> (usize, usize) {
    let a = rng.usize(0..len);
    let l = small_len(rng).min(len - a);
    (a, a + l)
}

fn mutate(
    rng: &mut fastrand::Rng,
    t: &Target,
    corpus: &[Vec<u8>],
    tokens: &[Vec<u8>],
    data: &mut Vec<u8>,
    trace: &mut Vec<&'static str>,
) {
    let len = data.len();
    let op = rng.u32(0..100);
    let name = match op {
        0..=9 if len > 0 => {
            let p = rng.usize(..len);
            data[p] ^= 1 << rng.u32(0..8);
            "bitflip"
        }
        10..=14 if len > 0 => {
            let p = rng.usize(..len);
            data[p] = rng.u8(..);
            "byte"
        }
        15..=21 if len > 0 => {
            let p = rng.usize(..len);
            data[p] = INTERESTING_BYTES[rng.usize(..INTERESTING_BYTES.len())];
            "interesting-byte"
        }
        22..=27 if len > 0 => {
            // An integer of 1, 2, 4 or 8 bytes, little- or big-endian, often near the end (footers).
            let w = 1usize << rng.u32(0..4);
            if w <= len {
                let v = match rng.u32(0..4) {
                    0 => rng.u64(..),
                    1 => len as u64 + rng.u64(0..3) - 1,
                    _ => INTERESTING_INTS[rng.usize(..INTERESTING_INTS.len())],
                };
                let p = if rng.bool() { len - w - rng.usize(0..=(len - w).min(16)) } else { rng.usize(0..=len - w) };
                // The value's low `w` bytes, in either byte order.
                if rng.bool() {
                    data[p..p + w].copy_from_slice(&v.to_le_bytes()[..w]);
                } else {
                    data[p..p + w].copy_from_slice(&v.to_be_bytes()[8 - w..]);
                }
            }
            "interesting-int"
        }
        28..=31 if len > 0 => {
            let p = rng.usize(..len);
            let d = rng.u8(1..=35);
            data[p] = if rng.bool() { data[p].wrapping_add(d) } else { data[p].wrapping_sub(d) };
            "arith"
        }
        32..=37 => {
            let p = pos(rng, len);
            let n = rng.usize(1..=16);
            let ins: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            data.splice(p..p, ins);
            "insert-random"
        }
        38..=40 => {
            let p = pos(rng, len);
            let b = if rng.bool() { rng.u8(..) } else { INTERESTING_BYTES[rng.usize(..INTERESTING_BYTES.len())] };
            let n = small_len(rng);
            data.splice(p..p, std::iter::repeat_n(b, n));
            "insert-repeated-byte"
        }
        41..=48 if len > 0 => {
            let (a, b) = range(rng, len);
            data.drain(a..b);
            "delete"
        }
        49..=53 if len > 0 => {
            let (a, b) = range(rng, len);
            let chunk = data[a..b].to_vec();
            let p = pos(rng, len);
            data.splice(p..p, chunk);
            "duplicate-chunk"
        }
        54..=55 if len > 0 => {
            let (a, b) = range(rng, len);
            let chunk = data[a..b].to_vec();
            let times = (rng.usize(2..=64)).min(MAX_LEN / chunk.len().max(1));
            let p = pos(rng, len);
            data.splice(p..p, chunk.iter().copied().cycle().take(chunk.len() * times));
            "repeat-chunk"
        }
        56..=58 if len > 1 => {
            let (a, b) = range(rng, len);
            let chunk = data[a..b].to_vec();
            let p = rng.usize(..len - (b - a) + 1);
            data.drain(a..b);
            let p = p.min(data.len());
            data.splice(p..p, chunk);
            "move-chunk"
        }
        59..=62 => {
            // Splice: a prefix of this input and a suffix of another corpus input.
            let other = &corpus[rng.usize(..corpus.len())];
            let p = pos(rng, len);
            let q = pos(rng, other.len());
            data.truncate(p);
            data.extend_from_slice(&other[q..]);
            "splice"
        }
        63..=64 => {
            let other = &corpus[rng.usize(..corpus.len())];
            if !other.is_empty() {
                let (a, b) = range(rng, other.len());
                let p = pos(rng, len);
                data.splice(p..p, other[a..b].iter().copied());
            }
            "crossover-insert"
        }
        65..=69 => {
            let p = pos(rng, len);
            data.truncate(p);
            "truncate"
        }
        70..=79 => {
            let tok = t.dict[rng.usize(..t.dict.len())];
            let p = pos(rng, len);
            if rng.u32(0..3) == 0 && p + tok.len() <= len {
                data[p..p + tok.len()].copy_from_slice(tok);
                "dict-overwrite"
            } else {
                data.splice(p..p, tok.iter().copied());
                "dict-insert"
            }
        }
        80..=83 if !tokens.is_empty() => {
            let tok = &tokens[rng.usize(..tokens.len())];
            let p = pos(rng, len);
            data.splice(p..p, tok.iter().copied());
            "corpus-word"
        }
        84..=87 => {
            // A run of digits becomes a huge (or otherwise awkward) number.
            let digits: Vec<usize> = (0..len).filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit())).collect();
            let num = HUGE_NUMBERS[rng.usize(..HUGE_NUMBERS.len())];
            if digits.is_empty() {
                let p = pos(rng, len);
                data.splice(p..p, num.iter().copied());
            } else {
                let a = digits[rng.usize(..digits.len())];
                let b = (a..len).find(|&i| !data[i].is_ascii_digit()).unwrap_or(len);
                data.splice(a..b, num.iter().copied());
            }
            "huge-number"
        }
        88..=92 => {
            line_op(rng, data);
            "line-op"
        }
        93..=96 => {
            nest(rng, t.nest, data);
            "nest"
        }
        _ => {
            // Swap two bytes.
            if len > 1 {
                let (a, b) = (rng.usize(..len), rng.usize(..len));
                data.swap(a, b);
            }
            "swap"
        }
    };
    trace.push(name);
}

/// Deletes, duplicates or swaps whole lines (records, YAML keys, CSV rows).
fn line_op(rng: &mut fastrand::Rng, data: &mut Vec<u8>) {
    let mut lines: Vec<Vec<u8>> = data.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.is_empty() {
        return;
    }
    let i = rng.usize(..lines.len());
    match rng.u32(0..4) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(rng.usize(..=lines.len()), l);
        }
        2 => {
            let j = rng.usize(..lines.len());
            lines.swap(i, j);
        }
        _ => {
            // Re-indent a line: YAML structure; elsewhere leading white space.
            let indent = rng.usize(0..=9);
            let l = &mut lines[i];
            let start = l.iter().take_while(|&&b| b == b' ').count();
            l.splice(..start, std::iter::repeat_n(b' ', indent));
        }
    }
    *data = lines.concat();
}

const DEPTHS: &[usize] = &[8, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 5000, 20000];

/// Deep nesting around part of the input (JSON, YAML flow and block), or for binary formats a big
/// run of one of the format's own structure bytes.
fn nest(rng: &mut fastrand::Rng, kind: Nest, data: &mut Vec<u8>) {
    let len = data.len();
    let depth = DEPTHS[rng.usize(..DEPTHS.len())];
    let a = pos(rng, len);
    let b = rng.usize(a..=len);
    let (open, close): (Vec<u8>, Vec<u8>) = match (kind, rng.u32(0..4)) {
        (Nest::Json, 0 | 1) => (b"[".repeat(depth), b"]".repeat(depth)),
        (Nest::Json, 2) => (b"{\"a\":".repeat(depth), b"}".repeat(depth)),
        (Nest::Json, _) => (b"{\"text\":[".repeat(depth), b"]}".repeat(depth)),
        (Nest::Yaml, 0) => (b"[".repeat(depth), b"]".repeat(depth)),
        (Nest::Yaml, 1) => (b"{a: ".repeat(depth), b"}".repeat(depth)),
        (Nest::Yaml, 2) => {
            // Block mappings, each level indented once more.
            let mut s = Vec::new();
            for d in 0..depth.min(2000) {
                s.extend(std::iter::repeat_n(b' ', d));
                s.extend_from_slice(b"a:\n");
            }
            (s, Vec::new())
        }
        (Nest::Yaml, _) => {
            // Aliases of aliases: each level names the previous one several times.
            let levels = rng.usize(2..=9);
            let mut s = b"x0: &x0 [a, a, a, a, a, a, a, a]\n".to_vec();
            for l in 1..levels {
                s.extend_from_slice(format!("x{l}: &x{l} [*x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}]\n", p = l - 1).as_bytes());
            }
            (s, Vec::new())
        }
        (Nest::Binary, _) => {
            let b = data.get(a).copied().unwrap_or(0);
            (std::iter::repeat_n(b, depth.min(4096)).collect(), Vec::new())
        }
    };
    if open.len() + close.len() + len > MAX_LEN {
        return;
    }
    data.splice(b..b, close);
    data.splice(a..a, open);
}
