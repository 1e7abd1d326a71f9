//! Megatron-LM shard format: exact bytes, round trips, rolling, and an independent Python reader.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use millrace_tokenise::{
    MegatronDtype, ShardName, ShardParams, ShardRoller, ShardWriter, TokeniseError, TokeniseParams,
    Tokeniser, read_idx,
};

fn le16(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn exact_bytes_of_a_tiny_shard() {
    let mut w = ShardWriter::new(Vec::new(), MegatronDtype::Uint16).unwrap();
    w.add_document(&[1, 2, 3]).unwrap();
    w.add_document(&[]).unwrap();
    w.add_document(&[65535, 7]).unwrap();
    let (bin, idx) = w.finish().unwrap();
    assert_eq!(bin, le16(&[1, 2, 3, 65535, 7]));

    let mut want = b"MMIDIDX\x00\x00".to_vec();
    want.extend(1u64.to_le_bytes()); // version
    want.push(8); // uint16
    want.extend(3u64.to_le_bytes()); // sequences
    want.extend(4u64.to_le_bytes()); // document indices (docs + 1)
    for l in [3i32, 0, 2] {
        want.extend(l.to_le_bytes());
    }
    for p in [0i64, 6, 6] {
        want.extend(p.to_le_bytes());
    }
    for d in [0i64, 1, 2, 3] {
        want.extend(d.to_le_bytes());
    }
    assert_eq!(idx, want);
}

#[test]
fn round_trip_both_dtypes() {
    for (dtype, max_id) in [
        (MegatronDtype::Uint16, 65_535u32),
        (MegatronDtype::Int32, 2_000_000),
    ] {
        let docs: Vec<Vec<u32>> = (0..200u32)
            .map(|d| {
                (0..(d * 13) % 97)
                    .map(|i| (d * 7919 + i * 104_729) % (max_id + 1))
                    .collect()
            })
            .collect();
        let mut w = ShardWriter::new(Vec::new(), dtype).unwrap();
        for d in &docs {
            w.add_document(d).unwrap();
        }
        let tokens: usize = docs.iter().map(Vec::len).sum();
        assert_eq!(w.tokens(), tokens as u64);
        assert_eq!(w.bin_bytes(), (tokens * dtype.size()) as u64);
        let (bin, idx) = w.finish().unwrap();
        let index = read_idx(&idx).unwrap();
        assert_eq!(index.dtype, dtype);
        assert_eq!(index.len(), docs.len());
        assert_eq!(
            index.document_indices,
            (0..=docs.len() as i64).collect::<Vec<_>>()
        );
        for (i, d) in docs.iter().enumerate() {
            assert_eq!(&index.sequence(&bin, i).unwrap(), d);
        }
        assert!(index.sequence(&bin, docs.len()).is_err());
        assert!(
            index
                .sequence(&bin[..bin.len() - 1], docs.len() - 1)
                .is_err()
        );
    }
}

#[test]
fn rejects_ids_that_do_not_fit() {
    let mut w = ShardWriter::new(Vec::new(), MegatronDtype::Uint16).unwrap();
    w.add_document(&[5]).unwrap();
    let err = w.add_document(&[1, 70_000]).unwrap_err();
    assert!(matches!(
        err,
        TokeniseError::TokenOutOfRange { id: 70_000, .. }
    ));
    let (bin, idx) = w.finish().unwrap();
    assert_eq!(bin, le16(&[5]), "rejected document must leave no bytes");
    assert_eq!(read_idx(&idx).unwrap().len(), 1);
    assert!(ShardWriter::new(Vec::new(), MegatronDtype::Float32).is_err());
    let mut w = ShardWriter::new(Vec::new(), MegatronDtype::Int32).unwrap();
    assert!(matches!(
        w.add_document(&[u32::MAX]),
        Err(TokeniseError::TokenOutOfRange { .. })
    ));
}

#[test]
fn read_idx_rejects_corruption() {
    let mut w = ShardWriter::new(Vec::new(), MegatronDtype::Int32).unwrap();
    w.add_document(&[1, 2]).unwrap();
    w.add_document(&[3]).unwrap();
    let (_, idx) = w.finish().unwrap();
    assert!(read_idx(&idx).is_ok());

    let mut bad = idx.clone();
    bad[0] = b'X';
    assert!(read_idx(&bad).is_err(), "magic");
    let mut bad = idx.clone();
    bad[9] = 2;
    assert!(read_idx(&bad).is_err(), "version");
    let mut bad = idx.clone();
    bad[17] = 99;
    assert!(read_idx(&bad).is_err(), "dtype code");
    assert!(read_idx(&idx[..idx.len() - 1]).is_err(), "truncated");
    assert!(read_idx(&idx[..20]).is_err(), "header only");
    let mut bad = idx.clone();
    bad[18..26].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(
        read_idx(&bad).is_err(),
        "absurd count must not allocate or panic"
    );
    let mut bad = idx.clone();
    let ptr1 = 34 + 2 * 4 + 8; // second pointer
    bad[ptr1..ptr1 + 8].copy_from_slice(&4i64.to_le_bytes());
    assert!(read_idx(&bad).is_err(), "non-contiguous pointers");
    // Megatron's multimodal layout appends one mode byte per sequence: accepted.
    let mut mm = idx.clone();
    mm.extend([0u8, 0]);
    assert!(read_idx(&mm).is_ok());
}

struct FailingWriter;
impl Write for FailingWriter {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_error_poisons_the_writer() {
    let mut w = ShardWriter::new(FailingWriter, MegatronDtype::Uint16).unwrap();
    assert!(matches!(
        w.add_document(&[1]),
        Err(TokeniseError::ShardIo(_))
    ));
    assert!(matches!(
        w.add_document(&[1]),
        Err(TokeniseError::WriterPoisoned)
    ));
    assert!(matches!(w.finish(), Err(TokeniseError::WriterPoisoned)));
}

#[test]
fn roller_rolls_at_the_target_without_splitting_documents() {
    let params = ShardParams {
        prefix: "train".into(),
        target_tokens: 10,
        dtype: None,
    };
    let mut opened = Vec::new();
    let mut roller = ShardRoller::new(&params, 3, 0, 50_257, |n: &ShardName| {
        opened.push(n.stem());
        Ok(Vec::<u8>::new())
    })
    .unwrap();
    assert_eq!(roller.dtype(), MegatronDtype::Uint16);
    let mut done = Vec::new();
    for len in [4usize, 4, 2, 1, 25, 3, 9, 1] {
        let ids: Vec<u32> = (0..len as u32).collect();
        done.extend(roller.push(&ids).unwrap());
    }
    done.extend(roller.finish().unwrap());
    let shape: Vec<(u32, u64, u64)> = done
        .iter()
        .map(|s| (s.name.index, s.documents, s.tokens))
        .collect();
    // 4+4+2 = 10 fills shard 0; 1 then 25 (oversize, alone); 3; 9 → 3+9 > 10 so new; 9+1 = 10.
    assert_eq!(
        shape,
        vec![(0, 3, 10), (1, 1, 1), (2, 1, 25), (3, 1, 3), (4, 2, 10)]
    );
    assert_eq!(done[0].name.bin_file_name(), "train_000003_00000.bin");
    assert_eq!(done[4].name.idx_file_name(), "train_000003_00004.idx");
    for s in &done {
        let index = read_idx(&s.idx).unwrap();
        assert_eq!(index.len() as u64, s.documents);
        assert_eq!(s.bin.len() as u64, s.tokens * 2);
    }
    assert_eq!(opened.len(), 5);

    let empty = ShardRoller::new(&params, 0, 0, 100, |_: &ShardName| Ok(Vec::<u8>::new())).unwrap();
    assert!(empty.finish().unwrap().is_none(), "no documents, no shard");
    let zero = ShardParams {
        target_tokens: 0,
        ..params.clone()
    };
    assert!(ShardRoller::new(&zero, 0, 0, 100, |_: &ShardName| Ok(Vec::<u8>::new())).is_err());
    let narrow = ShardParams {
        dtype: Some(MegatronDtype::Uint16),
        ..params
    };
    assert!(
        ShardRoller::new(&narrow, 0, 0, 100_000, |_: &ShardName| Ok(Vec::<u8>::new())).is_err()
    );
}

#[test]
fn shard_params_deserialise() {
    let p: ShardParams =
        serde_json::from_str(r#"{"max_tokens_per_file": 5, "dtype": "int32"}"#).unwrap();
    assert_eq!(
        p,
        ShardParams {
            target_tokens: 5,
            dtype: Some(MegatronDtype::Int32),
            ..Default::default()
        }
    );
}

fn fixture_texts() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tokenise_docs.jsonl.zst");
    millrace_test_fixtures::read_jsonl::<serde_json::Value>(path)
        .into_iter()
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect()
}

/// Writes shards into `dir` through the roller and returns the expected-ids JSON entries.
fn write_shards(
    dir: &Path,
    docs: &[Vec<u32>],
    params: &ShardParams,
    vocab: usize,
) -> Vec<serde_json::Value> {
    let mut roller = ShardRoller::new(params, 0, 0, vocab, |n: &ShardName| {
        std::fs::File::create(dir.join(format!("{}.bin.tmp", n.stem())))
            .map(std::io::BufWriter::new)
    })
    .unwrap();
    let dtype_name = match roller.dtype() {
        MegatronDtype::Uint16 => "uint16",
        MegatronDtype::Int32 => "int32",
        other => panic!("unexpected dtype {other:?}"),
    };
    let mut finished = Vec::new();
    let mut per_shard: Vec<Vec<Vec<u32>>> = vec![Vec::new()];
    for d in docs {
        if let Some(s) = roller.push(d).unwrap() {
            finished.push(s);
            per_shard.push(Vec::new());
        }
        per_shard.last_mut().unwrap().push(d.clone());
    }
    finished.extend(roller.finish().unwrap());
    assert_eq!(finished.len(), per_shard.len());
    let mut out = Vec::new();
    for (shard, docs) in finished.into_iter().zip(per_shard) {
        // Publish the way the engine does: idx written, then the .bin renamed into place.
        drop(shard.bin);
        let stem = dir.join(shard.name.stem());
        std::fs::write(stem.with_extension("idx"), &shard.idx).unwrap();
        std::fs::rename(
            dir.join(format!("{}.bin.tmp", shard.name.stem())),
            stem.with_extension("bin"),
        )
        .unwrap();
        assert_eq!(shard.documents as usize, docs.len());
        out.push(serde_json::json!({"prefix": stem.display().to_string(), "dtype": dtype_name, "docs": docs}));
    }
    out
}

#[test]
fn python_numpy_reader_agrees() {
    let probe = Command::new("python3")
        .args(["-c", "import numpy"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "SKIP python_numpy_reader_agrees: numpy is not importable: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIP python_numpy_reader_agrees: python3 cannot run: {e}");
            return;
        }
    }
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tok = Tokeniser::new(&TokeniseParams {
        tokenizer: crate_dir
            .join("tests/data/gpt2-bytelevel-bpe.tokenizer.json")
            .display()
            .to_string(),
        ..Default::default()
    })
    .unwrap();
    let texts = fixture_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let docs = tok.encode_batch(&refs).unwrap();
    let total: usize = docs.iter().map(Vec::len).sum();

    let dir = tempfile::tempdir().unwrap();
    let target = (total / 5) as u64;
    let mut shards = write_shards(
        dir.path(),
        &docs,
        &ShardParams {
            prefix: "gpt2".into(),
            target_tokens: target,
            dtype: None,
        },
        tok.vocab_size(),
    );
    assert!(
        shards.len() >= 5,
        "expected several uint16 shards, got {}",
        shards.len()
    );
    // Large-vocabulary path: int32, with ids above 65,535.
    let wide: Vec<Vec<u32>> = docs
        .iter()
        .take(50)
        .map(|d| d.iter().map(|&i| i * 3 + 1).collect())
        .collect();
    shards.extend(write_shards(
        dir.path(),
        &wide,
        &ShardParams {
            prefix: "wide".into(),
            target_tokens: 20_000,
            dtype: None,
        },
        200_000,
    ));
    let expected = dir.path().join("expected.json");
    std::fs::write(
        &expected,
        serde_json::to_vec(&serde_json::json!({ "shards": shards })).unwrap(),
    )
    .unwrap();

    let out = Command::new("python3")
        .arg(crate_dir.join("scripts/verify_megatron.py"))
        .arg(&expected)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "verify_megatron.py failed: {stdout}");
    assert!(stdout.starts_with("OK "), "{stdout}");

    // The checker must notice a wrong id, or passing means nothing.
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&expected).unwrap()).unwrap();
    let first = spec["shards"][0]["docs"][0][0].as_u64().unwrap();
    spec["shards"][0]["docs"][0][0] = serde_json::json!(first ^ 1);
    std::fs::write(&expected, serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(crate_dir.join("scripts/verify_megatron.py"))
        .arg(&expected)
        .output()
        .unwrap();
    assert!(!out.status.success(), "checker accepted a wrong id");
}

/// The `.idx` fuzz target's committed inputs (fuzz/corpus/megatron_idx/): read or refused, never a
/// panic; the well-formed one reads back its three documents.
#[test]
fn fuzz_corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/megatron_idx");
    let mut docs = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        if let Ok(i) = read_idx(&std::fs::read(e.unwrap().path()).unwrap()) {
            docs += i.len();
        }
    }
    assert_eq!(docs, 3);
}
