//! Loading of the fixture files that Millrace's tests and benches read: the repository root, and
//! JSONL fixtures, plain or zstd-compressed (`*.jsonl.zst`), decoded into `serde_json::Value`s or
//! any `Deserialize` type.
//!
//! Dev-only: list it under `[dev-dependencies]`, never as a normal dependency. Every function
//! panics, naming the file (and the line, for JSON), when a fixture is missing or malformed, since
//! a test cannot go on without its data.
//!
//! Fixture paths are the caller's: a crate's own data sits under its manifest directory, e.g.
//! `read_jsonl::<Value>(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus.jsonl.zst"))`.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// The workspace root (the folder holding `crates/`, `pipelines/`, `tests/`), canonicalised.
#[track_caller]
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .unwrap_or_else(|e| panic!("repository root {}: {e}", root.display()))
}

/// Whether `path` is zstd-compressed, by its extension (`.zst`).
fn is_zst(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "zst")
}

/// The decompressed bytes of the zstd file at `path`.
#[track_caller]
pub fn read_zst(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut bytes = Vec::new();
    zstd::stream::read::Decoder::new(file)
        .and_then(|mut d| d.read_to_end(&mut bytes))
        .unwrap_or_else(|e| panic!("decompress {}: {e}", path.display()));
    bytes
}

/// The UTF-8 text of the file at `path`, decompressed first when its name ends in `.zst`.
#[track_caller]
pub fn read_text(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    if is_zst(path) {
        String::from_utf8(read_zst(path))
            .unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", path.display()))
    } else {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

/// Every record of the JSONL file at `path` (plain, or zstd when its name ends in `.zst`), in file
/// order, each line decoded as a `T` (`serde_json::Value` for untyped access). Blank lines are
/// skipped; a line that is not a valid `T` panics with the file and line number.
#[track_caller]
pub fn read_jsonl<T: DeserializeOwned>(path: impl AsRef<Path>) -> Vec<T> {
    let path = path.as_ref();
    read_text(path)
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!("{}:{}: invalid JSON record: {e}", path.display(), i + 1)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn repo_root_holds_the_workspace() {
        let root = repo_root();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("crates/millrace-test-fixtures").is_dir());
    }

    #[test]
    fn plain_and_zstd_jsonl_read_the_same_records() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Doc {
            id: String,
            n: u32,
        }
        let dir = tempfile::tempdir().unwrap();
        let body = "{\"id\":\"a\",\"n\":1}\n\n  \n{\"id\":\"b\",\"n\":2}\r\n";
        let plain = dir.path().join("docs.jsonl");
        let zst = dir.path().join("docs.jsonl.zst");
        std::fs::write(&plain, body).unwrap();
        std::fs::write(&zst, zstd::encode_all(body.as_bytes(), 3).unwrap()).unwrap();

        assert_eq!(read_zst(&zst), body.as_bytes());
        assert_eq!(read_text(&zst), body);
        assert_eq!(read_text(&plain), body);
        let want = vec![
            Doc {
                id: "a".into(),
                n: 1,
            },
            Doc {
                id: "b".into(),
                n: 2,
            },
        ];
        assert_eq!(read_jsonl::<Doc>(&plain), want);
        assert_eq!(read_jsonl::<Doc>(&zst), want);
        let values: Vec<Value> = read_jsonl(&zst);
        assert_eq!(values[1]["id"], "b");
    }

    #[test]
    #[should_panic(expected = "bad.jsonl:2: invalid JSON record")]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.jsonl");
        std::fs::write(&p, "{}\n{\"id\": \n").unwrap();
        let _: Vec<Value> = read_jsonl(&p);
    }

    #[test]
    #[should_panic(expected = "open")]
    fn a_missing_fixture_panics_with_its_path() {
        read_zst("/nonexistent/fixture.jsonl.zst");
    }
}

/// Parquet data files under a table root (local disk), outside `_`-prefixed directories: what a
/// Delta table's log must list, no more.
pub fn table_data_files(root: impl AsRef<Path>) -> usize {
    let mut n = 0;
    let mut dirs = vec![root.as_ref().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.starts_with('_') {
                continue;
            }
            if p.is_dir() {
                dirs.push(p);
            } else if name.ends_with(".parquet") {
                n += 1;
            }
        }
    }
    n
}

/// A Delta table as the Python `deltalake` package reads it (`tests/e2e/check_delta.py`, an
/// independent reader): the txn version of each of `apps` and the rows at each version in `at`
/// are among its fields.
pub fn read_delta_table(uri: impl AsRef<std::ffi::OsStr>, apps: &[&str], at: &[i64]) -> serde_json::Value {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(repo_root().join("tests/e2e/check_delta.py")).arg(uri.as_ref());
    for a in apps {
        cmd.arg("--app").arg(a);
    }
    for v in at {
        cmd.arg("--at").arg(v.to_string());
    }
    let out = cmd.output().expect("python3 runs");
    assert!(out.status.success(), "deltalake could not read {:?}: {}", uri.as_ref(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("check_delta.py prints JSON")
}
