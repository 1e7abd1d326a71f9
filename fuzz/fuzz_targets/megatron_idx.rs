//! The Megatron `.idx` reader over arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = millrace_tokenise::megatron::read_idx(data);
});
