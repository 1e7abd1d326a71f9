//! Renders the report and screenshots it with headless Chromium via `scripts/screenshot.sh`.
//! Skipped (with a clear message) when no `chromium` is installed.
//! Set `MILLRACE_REPORT_OUT=<dir>` to keep `report.html` and `report.png` for inspection.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium_available() -> bool {
    ["chromium", "chromium-browser", "google-chrome"].iter().any(|b| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {b}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// Width and height from the PNG IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24, "PNG too short");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    (w, h)
}

#[test]
fn screenshot_of_realistic_report() {
    if !chromium_available() {
        println!("SKIPPED screenshot_of_realistic_report: chromium not installed (apt-get install -y chromium)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let out: PathBuf = std::env::var_os("MILLRACE_REPORT_OUT").map(PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&out).expect("out dir");
    let html_path = out.join("report.html");
    let png_path = out.join("report.png");
    let _ = std::fs::remove_file(&png_path);
    std::fs::write(&html_path, millrace_report::render_html(&common::realistic_report())).expect("write html");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/screenshot.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(&html_path)
        .arg(&png_path)
        .status()
        .expect("run screenshot.sh");
    assert!(status.success(), "screenshot.sh failed: {status}");

    let bytes = std::fs::read(&png_path).expect("png written");
    let (w, h) = png_size(&bytes);
    assert_eq!((w, h), (1280, 2400), "window size");
    // A blank 1280x2400 page compresses to a few kB; a rendered report with text and
    // charts is far larger.
    assert!(bytes.len() > 100_000, "PNG suspiciously small: {} bytes", bytes.len());
    println!("screenshot: {} ({} bytes)", png_path.display(), bytes.len());
}
