//! The packaging metadata, checked without a release build: the Python sdist maturin makes from
//! pyproject.toml (sources only, nothing compiled) and the container image's Dockerfile (no Docker
//! daemon is assumed).

use std::path::{Path, PathBuf};
use std::process::Command;

use millrace_test_fixtures::repo_root;

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?} failed\nstdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literals in `include_str!("…")` / `include_bytes!("…")`, relative to the source file.
fn included_paths(src: &str) -> Vec<String> {
    let mut found = Vec::new();
    for mac in ["include_str!(\"", "include_bytes!(\""] {
        for (i, _) in src.match_indices(mac) {
            let rest = &src[i + mac.len()..];
            found.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    found
}

#[test]
fn maturin_sdist_carries_the_workspace_and_the_cargo_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sdist");
    // maturin is installed by scripts/setup; without it the packaging is unchecked, so fail.
    let log = Command::new("python3").current_dir(repo_root()).args(["-m", "maturin", "sdist", "--out"]).arg(&out).output().expect("python3");
    assert!(log.status.success(), "maturin sdist failed (scripts/setup installs maturin): {}", String::from_utf8_lossy(&log.stderr));
    let version = env!("CARGO_PKG_VERSION");
    let tarball = out.join(format!("millrace-{version}.tar.gz"));
    assert!(tarball.exists(), "{:?}", std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>());
    run(Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(dir.path()));
    let root = dir.path().join(format!("millrace-{version}"));
    for f in ["pyproject.toml", "Cargo.toml", "Cargo.lock", "crates/millrace-cli/Cargo.toml", "crates/millrace-cli/src/main.rs"] {
        assert!(root.join(f).is_file(), "the sdist lacks {f}");
    }
    assert!(std::fs::read_to_string(root.join("Cargo.toml")).unwrap().contains("[workspace]"), "the sdist's Cargo.toml is not the workspace manifest");

    let pkg_info = std::fs::read_to_string(root.join("PKG-INFO")).unwrap();
    let field = |k: &str| pkg_info.lines().find_map(|l| l.strip_prefix(&format!("{k}: "))).map(str::to_string);
    assert_eq!(field("Name").as_deref(), Some("millrace"), "{pkg_info}");
    assert_eq!(field("Version").as_deref(), Some(version), "{pkg_info}");
    assert_eq!(field("Requires-Python").as_deref(), Some(">=3.9"), "{pkg_info}");

    // A wheel built from the sdist (`pip install millrace-….tar.gz`) compiles these sources, so
    // every file they include at compile time must be in it, even from outside the crate.
    let mut files = Vec::new();
    rs_files(&root.join("crates"), &mut files);
    let mut checked = 0;
    for f in files.iter().filter(|f| !f.components().any(|c| c.as_os_str() == "tests" || c.as_os_str() == "benches")) {
        for inc in included_paths(&std::fs::read_to_string(f).unwrap()) {
            let p = f.parent().unwrap().join(&inc);
            assert!(p.is_file(), "{} includes {inc}, which the sdist lacks", f.strip_prefix(&root).unwrap().display());
            checked += 1;
        }
    }
    assert!(checked >= 4, "the `pipeline init` templates were not found among the included files ({checked})");

    // The workspace loads from the sdist alone (every member's manifest is there) and still
    // builds a `pipeline` binary, the wheel's script name.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let meta = run(Command::new(cargo).args(["metadata", "--no-deps", "--offline", "--format-version", "1", "--manifest-path"]).arg(root.join("crates/millrace-cli/Cargo.toml")));
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let cli = meta["packages"].as_array().unwrap().iter().find(|p| p["name"] == "millrace-cli").expect("millrace-cli in the sdist's workspace");
    assert_eq!(cli["version"], version);
    assert!(cli["targets"].as_array().unwrap().iter().any(|t| t["name"] == "pipeline" && t["kind"][0] == "bin"), "{}", cli["targets"]);
}

/// One Dockerfile instruction: the keyword (upper case) and its arguments, continuations joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (k, rest) = cur.split_once(char::is_whitespace).unwrap_or((&cur, ""));
        out.push((k.to_ascii_uppercase(), rest.trim().to_string()));
        cur.clear();
    }
    assert!(cur.is_empty(), "the Dockerfile ends in a continuation: {cur}");
    out
}

#[test]
fn dockerfile_builds_in_a_named_stage_and_runs_pipeline_as_a_non_root_user() {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let ins = instructions(&text);
    let known = ["FROM", "RUN", "COPY", "ADD", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "ENV", "ARG", "LABEL", "EXPOSE", "VOLUME", "HEALTHCHECK", "SHELL", "STOPSIGNAL", "ONBUILD"];
    for (k, _) in &ins {
        assert!(known.contains(&k.as_str()), "unknown Dockerfile instruction {k}");
    }
    let froms: Vec<usize> = ins.iter().enumerate().filter(|(_, (k, _))| k == "FROM").map(|(i, _)| i).collect();
    assert!(froms.len() >= 2 && froms[0] == 0, "a builder stage and a runtime stage, FROM first: {froms:?}");
    let builder = &ins[froms[0]].1;
    assert!(builder.to_ascii_lowercase().ends_with(" as builder"), "the first stage is named builder: {builder}");
    let last = *froms.last().unwrap();
    let (build, runtime) = (&ins[froms[0]..froms[1]], &ins[last..]);
    assert!(
        build.iter().any(|(k, a)| k == "RUN" && a.contains("cargo build --release") && a.contains("--bin pipeline")),
        "the builder runs a release build of the pipeline binary"
    );
    assert!(!runtime[0].1.to_ascii_lowercase().contains(" as builder"), "the final stage is not the builder");
    assert!(runtime.iter().any(|(k, a)| k == "COPY" && a.contains("--from=builder") && a.contains("pipeline")), "the runtime copies the binary from the builder");
    assert!(runtime.iter().any(|(k, a)| k == "COPY" && a.split_whitespace().next_back() == Some("pipelines")), "the bundled pipelines are copied in");
    let users: Vec<&str> = runtime.iter().filter(|(k, _)| k == "USER").map(|(_, a)| a.as_str()).collect();
    let user = users.last().unwrap_or_else(|| panic!("the runtime stage sets no USER and would run as root"));
    let name = user.split(':').next().unwrap();
    assert!(name != "root" && name != "0", "the runtime runs as root: USER {user}");
    let entry = runtime.iter().rev().find(|(k, _)| k == "ENTRYPOINT").expect("ENTRYPOINT in the runtime stage");
    let entry: Vec<String> = serde_json::from_str(&entry.1).unwrap_or_else(|e| panic!("ENTRYPOINT is not exec form ({e}): {}", entry.1));
    assert_eq!(entry, ["pipeline"]);

    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore.lines().map(|l| l.trim().trim_end_matches('/')).collect();
    for p in ["target", ".git", "out", "tmp"] {
        assert!(ignored.contains(&p), ".dockerignore keeps {p} in the build context");
    }
}

#[test]
fn dockerfile_parser_sees_continuations_and_comments() {
    let ins = instructions("# c\nFROM a AS builder\nRUN x \\\n  && y\n\nuser 1000\n");
    assert_eq!(ins, [("FROM".into(), "a AS builder".into()), ("RUN".into(), "x  && y".into()), ("USER".into(), "1000".into())]);
}
