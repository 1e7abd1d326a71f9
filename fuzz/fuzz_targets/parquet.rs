//! The parquet reader over arbitrary bytes: rows, rejects or an error naming the file; never a panic
//! that escapes the reader.
#![no_main]
use millrace_spec::{Compression, Format};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libFuzzer's panic hook aborts on every panic, even one the reader catches: arrow's and
    // parquet's decoders panic on some malformed footers, and the reader's decoder guard turns that
    // into a read error of the file, as intended. A panic that escapes the reader still aborts,
    // because libfuzzer-sys runs each input under catch_unwind and aborts on an unwound panic.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = millrace_connectors::source::fuzzing::read(Format::Parquet, Compression::None, data);
});
