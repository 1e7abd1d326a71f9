//! Helpers shared by the engine's test binaries: reading a sink's committed output and rejects back
//! from disk, as an independent reader would (the manifests, then the files they list).

#![allow(dead_code)]

use std::path::Path;

/// Ids of every row the sink's manifests list, read from the files themselves.
pub fn committed_ids(out: &Path) -> Vec<String> {
    let mut ids: Vec<String> = committed_rows(out).iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// Every row of a JSONL sink that its manifests list, read from the files themselves.
pub fn committed_rows(out: &Path) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    // Scale-out lanes keep their manifests in `_manifest/<lane>/`.
    let mut manifests = Vec::new();
    let mut dirs = vec![out.join("_manifest")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() { dirs.push(p) } else { manifests.push(p) }
        }
    }
    for path in manifests {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for f in m["files"].as_array().unwrap() {
            for l in std::fs::read_to_string(out.join(f["path"].as_str().unwrap())).unwrap().lines() {
                rows.push(serde_json::from_str(l).unwrap());
            }
        }
    }
    rows
}

/// Every reject record committed under `<out>/_rejects/`.
pub fn read_rejects(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_dir(out.join("_rejects"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|e| std::fs::read_to_string(e.path()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>())
        .collect()
}

/// A storage backend the suites run on: local disk always, S3 (moto) and Azure (Azurite) when
/// `scripts/test` has started them. With MILLRACE_REQUIRE_SERVICES=1 a missing service is a
/// failure, not a skip.
pub struct Backend {
    pub name: &'static str,
    pub root: String,
    pub storage_yaml: String,
}

pub fn backends() -> Vec<Backend> {
    let require = std::env::var("MILLRACE_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let run = uuid::Uuid::new_v4().to_string();
    let mut v = Vec::new();
    let dir = std::env::temp_dir().join(format!("millrace-conf-{run}"));
    v.push(Backend { name: "local", root: dir.to_string_lossy().to_string(), storage_yaml: String::new() });
    match std::env::var("MILLRACE_TEST_S3_ENDPOINT") {
        Ok(ep) => v.push(Backend {
            name: "s3",
            root: format!("s3://millrace-test/{run}"),
            storage_yaml: format!(
                "storage:\n  s3:\n    endpoint: {ep}\n    allow_http: true\n    region: us-east-1\n    access_key_id: test\n    secret_access_key: test\n    virtual_hosted_style_request: false\n"
            ),
        }),
        Err(_) => assert!(!require, "MILLRACE_TEST_S3_ENDPOINT is not set but services are required"),
    }
    match std::env::var("MILLRACE_TEST_AZURITE") {
        Ok(_) => v.push(Backend {
            name: "azure",
            root: format!("az://millrace-test/{run}"),
            storage_yaml: "storage:\n  azure:\n    use_emulator: true\n".into(),
        }),
        Err(_) => assert!(!require, "MILLRACE_TEST_AZURITE is not set but services are required"),
    }
    v
}

/// A TCP proxy in front of the S3 server that can go down: while down it drops every open
/// connection and refuses new ones, as an unreachable service would.
pub async fn outage_proxy(target: std::net::SocketAddr, down: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::net::SocketAddr {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if down.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let down = down.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(target).await else { return };
                let cut = async {
                    while !down.load(Ordering::SeqCst) {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = cut => {}
                }
            });
        }
    });
    addr
}


/// The independent reader's view of a sink on S3 (tests/e2e/check_exactly_once.py with pyarrow):
/// rows, unique ids, duplicated ids and unlisted files.
pub fn check_exactly_once(kind: &str, url: &str, s3_endpoint: &str) -> serde_json::Value {
    let py = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/check_exactly_once.py"))
        .args([kind, url, s3_endpoint])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    serde_json::from_slice(&py.stdout).unwrap()
}
