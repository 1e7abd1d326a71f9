//! Ids must equal the Python `tokenizers` 0.23.3 output stored by `scripts/make_fixture.py`.

use std::path::PathBuf;

use millrace_tokenise::{TokeniseParams, Tokeniser};
use serde::Deserialize;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    millrace_test_fixtures::read_jsonl(data(name))
}

#[derive(Deserialize)]
struct Doc {
    id: String,
    text: String,
}

#[derive(Deserialize)]
struct Expected {
    id: String,
    ids: Vec<u32>,
    ids_special: Option<Vec<u32>>,
}

fn plain(path: PathBuf) -> TokeniseParams {
    TokeniseParams {
        tokenizer: path.display().to_string(),
        add_eos: false,
        ..Default::default()
    }
}

fn check(tokenizer_file: &str, expected_file: &str) {
    let docs: Vec<Doc> = read_jsonl("tokenise_docs.jsonl.zst");
    let expected: Vec<Expected> = read_jsonl(expected_file);
    assert_eq!(docs.len(), expected.len());
    assert!(docs.len() >= 300, "fixture too small: {}", docs.len());
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();

    let tok = Tokeniser::new(&plain(data(tokenizer_file))).unwrap();
    let got = tok.encode_batch(&texts).unwrap();
    let counts = tok.count_tokens(&texts).unwrap();
    let mut mismatches = Vec::new();
    for ((doc, exp), (ids, count)) in docs.iter().zip(&expected).zip(got.iter().zip(&counts)) {
        assert_eq!(doc.id, exp.id);
        if ids != &exp.ids {
            mismatches.push(doc.id.clone());
        }
        assert_eq!(*count, exp.ids.len(), "count of {}", doc.id);
    }
    assert!(
        mismatches.is_empty(),
        "{tokenizer_file}: {} docs differ: {mismatches:?}",
        mismatches.len()
    );
    let total: usize = expected.iter().map(|e| e.ids.len()).sum();
    assert!(
        total > 100_000,
        "fixture suspiciously small ({total} tokens)"
    );

    // The file's own post-processor (BERT's [CLS] … [SEP]) through add_special_tokens.
    let special = Tokeniser::new(&TokeniseParams {
        add_special_tokens: true,
        ..plain(data(tokenizer_file))
    })
    .unwrap();
    let mut checked = 0;
    for (doc, exp) in docs.iter().zip(&expected) {
        if let Some(want) = &exp.ids_special {
            assert_eq!(
                &special.encode(&doc.text).unwrap(),
                want,
                "{tokenizer_file} special {}",
                doc.id
            );
            checked += 1;
        }
    }
    assert!(checked >= 20);
}

#[test]
fn gpt2_matches_hugging_face() {
    check(
        "gpt2-bytelevel-bpe.tokenizer.json",
        "expected_gpt2.jsonl.zst",
    );
}

#[test]
fn bert_matches_hugging_face() {
    check(
        "bert-wordpiece-minilm.tokenizer.json",
        "expected_bert.jsonl.zst",
    );
}

#[test]
fn bert_file_truncation_and_padding_are_off() {
    let tok = Tokeniser::new(&plain(data("bert-wordpiece-minilm.tokenizer.json"))).unwrap();
    let long = "word ".repeat(500);
    assert_eq!(
        tok.encode(&long).unwrap().len(),
        500,
        "the file's truncation to 128 must be off"
    );
    assert_eq!(
        tok.encode("hello").unwrap().len(),
        1,
        "the file's padding to 128 must be off"
    );
    assert!(tok.inner().get_truncation().is_none() && tok.inner().get_padding().is_none());
}

#[test]
fn default_framing_gpt2() {
    let params = TokeniseParams {
        tokenizer: data("gpt2-bytelevel-bpe.tokenizer.json")
            .display()
            .to_string(),
        ..Default::default()
    };
    let tok = Tokeniser::new(&params).unwrap();
    assert_eq!(tok.eos_id(), Some(50256));
    assert_eq!(tok.bos_id(), None);
    assert_eq!(tok.vocab_size(), 50257);
    assert_eq!(
        tok.megatron_dtype(),
        millrace_tokenise::MegatronDtype::Uint16
    );
    // "Hello world" is [15496, 995] in GPT-2.
    assert_eq!(tok.encode("Hello world").unwrap(), vec![15496, 995, 50256]);
    assert_eq!(tok.encode("").unwrap(), vec![50256]);

    let both = Tokeniser::new(&TokeniseParams {
        add_bos: true,
        max_tokens: Some(3),
        ..params.clone()
    })
    .unwrap();
    assert_eq!(both.bos_id(), Some(50256));
    assert_eq!(
        both.encode("Hello world").unwrap(),
        vec![50256, 15496, 50256]
    );
    assert_eq!(both.count("Hello world again").unwrap(), 3);
    assert_eq!(
        both.encode_batch_opt(&[None, Some("Hello")]).unwrap(),
        vec![None, Some(vec![50256, 15496, 50256])]
    );
}

#[test]
fn default_framing_bert_detects_cls_sep() {
    let path = data("bert-wordpiece-minilm.tokenizer.json")
        .display()
        .to_string();
    let tok = Tokeniser::new(&TokeniseParams {
        tokenizer: path,
        add_bos: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(tok.bos_id(), Some(101));
    assert_eq!(tok.eos_id(), Some(102));
    let ids = tok.encode("hello world").unwrap();
    assert_eq!(ids.first(), Some(&101));
    assert_eq!(ids.last(), Some(&102));
}

#[test]
fn bad_params_are_typed_errors() {
    use millrace_tokenise::TokeniseError;
    let path = data("gpt2-bytelevel-bpe.tokenizer.json")
        .display()
        .to_string();
    let p = TokeniseParams {
        tokenizer: path.clone(),
        eos_token: Some("</nope>".into()),
        ..Default::default()
    };
    assert!(matches!(
        Tokeniser::new(&p),
        Err(TokeniseError::UnknownSpecialToken { role: "eos", .. })
    ));
    let p = TokeniseParams {
        tokenizer: path.clone(),
        max_tokens: Some(1),
        ..Default::default()
    };
    assert!(matches!(
        Tokeniser::new(&p),
        Err(TokeniseError::InvalidParams(_))
    ));
    let p = TokeniseParams {
        tokenizer: "/nonexistent/tokenizer.json".into(),
        ..Default::default()
    };
    assert!(matches!(
        Tokeniser::new(&p),
        Err(TokeniseError::ReadTokenizer { .. })
    ));
    assert!(matches!(
        Tokeniser::from_bytes(b"{not json", &TokeniseParams::default()),
        Err(TokeniseError::ParseTokenizer { .. })
    ));
    assert!(matches!(
        Tokeniser::new(&TokeniseParams::default()),
        Err(TokeniseError::InvalidParams(_))
    ));
}

#[test]
fn unigram_without_eos_needs_explicit_choice() {
    // A minimal Unigram model: no EOS-like token, so the default add_eos must fail loudly,
    // and work once add_eos is off.
    let json = r#"{
      "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
      "normalizer": null,
      "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true},
      "post_processor": null, "decoder": null,
      "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": false,
                "vocab": [["<unk>", 0.0], ["\u2581a", -1.0], ["b", -2.0], ["\u2581", -3.0], ["a", -3.0]]}
    }"#;
    let err = Tokeniser::from_bytes(json.as_bytes(), &TokeniseParams::default()).unwrap_err();
    assert!(matches!(
        err,
        millrace_tokenise::TokeniseError::MissingSpecialToken { role: "eos" }
    ));
    let tok = Tokeniser::from_bytes(
        json.as_bytes(),
        &TokeniseParams {
            add_eos: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(tok.encode("ab a").unwrap(), vec![1, 2, 1]);
}

#[test]
fn params_deserialise_with_defaults_and_aliases() {
    let p: TokeniseParams =
        serde_json::from_str(r#"{"tokenizer": "t.json", "append_eod": false, "max_length": 9}"#)
            .unwrap();
    assert_eq!(
        p,
        TokeniseParams {
            tokenizer: "t.json".into(),
            add_eos: false,
            max_tokens: Some(9),
            ..Default::default()
        }
    );
    assert!(serde_json::from_str::<TokeniseParams>(r#"{"tokenizr": "x"}"#).is_err());
}
