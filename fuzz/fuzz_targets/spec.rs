//! The spec parser and `${VAR}` interpolation: any text gives a spec or located diagnostics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first line doubles as every variable's value, so values with YAML syntax are tried too.
    let value = text.lines().next().unwrap_or("").to_string();
    let _ = millrace_spec::interpolate(text, &|_| Some(value.clone()));
    let _ = millrace_spec::load_str(text, "fuzz.yaml", &[]);
});
