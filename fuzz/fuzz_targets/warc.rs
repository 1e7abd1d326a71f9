//! The web-archive reader over arbitrary bytes: rows, rejects or an error naming the file; never a panic.
#![no_main]
use millrace_spec::{Compression, Format};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = millrace_connectors::source::fuzzing::read(Format::Warc, Compression::None, data);
});
