//! Hugging Face `tokenizer.json` loading and parallel batch encoding.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::error::{Result, TokeniseError};
use crate::megatron::MegatronDtype;

/// End-of-document tokens tried, in order, when `eos_token` is not set.
///
/// GPT-2/GPT-NeoX/Qwen use `<|endoftext|>`, Llama 3 `<|end_of_text|>`, Llama 2/Mistral/T5 `</s>`,
/// Gemma `<eos>`, BERT-style models `[SEP]`.
const EOS_CANDIDATES: &[&str] = &["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "[SEP]"];

/// Beginning-of-document tokens tried, in order, when `bos_token` is not set. GPT-2 has no
/// separate BOS and uses `<|endoftext|>` for both, hence its place at the end.
const BOS_CANDIDATES: &[&str] = &[
    "<|begin_of_text|>",
    "<s>",
    "<bos>",
    "[CLS]",
    "<|endoftext|>",
];

/// Tokenisation parameters, as set in the pipeline spec.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TokeniseParams {
    /// Path of a Hugging Face `tokenizer.json`.
    #[serde(alias = "tokenizer_path", alias = "tokenizer_file")]
    pub tokenizer: String,
    /// Prepend the BOS token to every document.
    pub add_bos: bool,
    /// Append the EOS token to every document (document separator for pre-training).
    #[serde(alias = "append_eod", alias = "append_eos")]
    pub add_eos: bool,
    /// Cap on the tokens per document, BOS/EOS included; the text's tokens are cut at the end and
    /// BOS/EOS are kept. `None`: no cap.
    #[serde(alias = "max_length")]
    pub max_tokens: Option<usize>,
    /// BOS token; `None` detects it from the vocabulary.
    pub bos_token: Option<String>,
    /// EOS token; `None` detects it from the vocabulary.
    #[serde(alias = "eod_token")]
    pub eos_token: Option<String>,
    /// Run the tokenizer file's own post-processor (e.g. BERT's `[CLS] … [SEP]` template).
    pub add_special_tokens: bool,
}

impl Default for TokeniseParams {
    fn default() -> Self {
        Self {
            tokenizer: String::new(),
            add_bos: false,
            add_eos: true,
            max_tokens: None,
            bos_token: None,
            eos_token: None,
            add_special_tokens: false,
        }
    }
}

/// A loaded tokenizer with Millrace's document framing (BOS/EOS, length cap) applied.
///
/// Cheap to share across threads (`&Tokeniser` is `Sync`); batch calls parallelise over
/// documents on the global rayon pool.
#[derive(Clone)]
pub struct Tokeniser {
    inner: Tokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    max_tokens: Option<usize>,
    add_special_tokens: bool,
    vocab_size: usize,
}

impl std::fmt::Debug for Tokeniser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokeniser")
            .field("vocab_size", &self.vocab_size)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("max_tokens", &self.max_tokens)
            .field("add_special_tokens", &self.add_special_tokens)
            .finish_non_exhaustive()
    }
}

impl Tokeniser {
    /// Loads `params.tokenizer` and applies `params`.
    pub fn new(params: &TokeniseParams) -> Result<Self> {
        if params.tokenizer.is_empty() {
            return Err(TokeniseError::InvalidParams(
                "`tokenizer` (path) is not set".into(),
            ));
        }
        Self::from_file(&params.tokenizer, params)
    }

    /// Loads a `tokenizer.json` from `path`; `params.tokenizer` is ignored.
    pub fn from_file(path: impl AsRef<Path>, params: &TokeniseParams) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TokeniseError::ReadTokenizer {
            path: path.to_path_buf(),
            source,
        })?;
        Self::build(&bytes, &path.display().to_string(), params)
    }

    /// Parses a `tokenizer.json` held in memory; `params.tokenizer` is ignored.
    pub fn from_bytes(bytes: &[u8], params: &TokeniseParams) -> Result<Self> {
        Self::build(bytes, "<bytes>", params)
    }

    fn build(bytes: &[u8], origin: &str, params: &TokeniseParams) -> Result<Self> {
        let mut inner =
            Tokenizer::from_bytes(bytes).map_err(|source| TokeniseError::ParseTokenizer {
                origin: origin.to_string(),
                source,
            })?;
        // Files exported for inference often turn on truncation and padding (MiniLM's: 128/128).
        // For corpus building both would silently cut or inflate documents; the length cap is
        // applied by `max_tokens` instead, after framing, so BOS/EOS survive it.
        inner
            .with_truncation(None)
            .map_err(|source| TokeniseError::ParseTokenizer {
                origin: origin.to_string(),
                source,
            })?;
        inner.with_padding(None);

        let bos = resolve_special(
            &inner,
            "bos",
            params.add_bos,
            params.bos_token.as_deref(),
            BOS_CANDIDATES,
        )?;
        let eos = resolve_special(
            &inner,
            "eos",
            params.add_eos,
            params.eos_token.as_deref(),
            EOS_CANDIDATES,
        )?;
        let framing = usize::from(params.add_bos) + usize::from(params.add_eos);
        if let Some(max) = params.max_tokens
            && max <= framing
        {
            return Err(TokeniseError::InvalidParams(format!(
                "max_tokens = {max} leaves no room for text after {framing} BOS/EOS token(s)"
            )));
        }
        // The id range decides the shard dtype, so count added tokens and guard against files
        // whose added tokens sit above the base vocabulary.
        let max_added = inner.get_added_tokens_decoder().keys().copied().max();
        let vocab_size = inner
            .get_vocab_size(true)
            .max(max_added.map_or(0, |id| id as usize + 1));
        Ok(Self {
            inner,
            bos: if params.add_bos { bos } else { None },
            eos: if params.add_eos { eos } else { None },
            max_tokens: params.max_tokens,
            add_special_tokens: params.add_special_tokens,
            vocab_size,
        })
    }

    /// Number of ids the tokenizer can emit (added tokens included): every id is below this.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The Megatron `.bin` dtype for this vocabulary (Megatron's rule: uint16 below 65,500).
    pub fn megatron_dtype(&self) -> MegatronDtype {
        MegatronDtype::for_vocab_size(self.vocab_size)
    }

    /// BOS id that is prepended, if `add_bos`.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// EOS id that is appended, if `add_eos`.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// The underlying Hugging Face tokenizer (truncation and padding already off).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Encodes one document: `[BOS] tokens [EOS]`, capped at `max_tokens`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode_fast(text, self.add_special_tokens)
            .map_err(|source| TokeniseError::Encode { source })?;
        let ids = enc.get_ids();
        let text_len = self.text_budget(ids.len());
        let mut out = Vec::with_capacity(text_len + 2);
        out.extend(self.bos);
        out.extend_from_slice(&ids[..text_len]);
        out.extend(self.eos);
        Ok(out)
    }

    /// Number of ids `encode` would return for `text`.
    pub fn count(&self, text: &str) -> Result<usize> {
        let enc = self
            .inner
            .encode_fast(text, self.add_special_tokens)
            .map_err(|source| TokeniseError::Encode { source })?;
        Ok(self.text_budget(enc.len()) + self.framing())
    }

    /// Encodes documents in parallel across all rayon threads; output order matches input.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.par_iter().map(|t| self.encode(t)).collect()
    }

    /// As [`Tokeniser::encode_batch`] for nullable columns: `None` in, `None` out.
    pub fn encode_batch_opt(&self, texts: &[Option<&str>]) -> Result<Vec<Option<Vec<u32>>>> {
        texts
            .par_iter()
            .map(|t| t.map(|t| self.encode(t)).transpose())
            .collect()
    }

    /// Token counts (as `encode` would produce them) for each document, in parallel.
    pub fn count_tokens(&self, texts: &[&str]) -> Result<Vec<usize>> {
        texts.par_iter().map(|t| self.count(t)).collect()
    }

    /// As [`Tokeniser::count_tokens`] for nullable columns.
    pub fn count_tokens_opt(&self, texts: &[Option<&str>]) -> Result<Vec<Option<usize>>> {
        texts
            .par_iter()
            .map(|t| t.map(|t| self.count(t)).transpose())
            .collect()
    }

    fn framing(&self) -> usize {
        usize::from(self.bos.is_some()) + usize::from(self.eos.is_some())
    }

    /// How many of `n` text tokens fit under `max_tokens` (construction guarantees room).
    fn text_budget(&self, n: usize) -> usize {
        match self.max_tokens {
            Some(max) => n.min(max.saturating_sub(self.framing())),
            None => n,
        }
    }
}

fn resolve_special(
    tok: &Tokenizer,
    role: &'static str,
    wanted: bool,
    configured: Option<&str>,
    candidates: &[&str],
) -> Result<Option<u32>> {
    if let Some(token) = configured {
        // An explicit token must exist even when unused, so a typo in the spec is caught early.
        return tok.token_to_id(token).map(Some).ok_or_else(|| {
            TokeniseError::UnknownSpecialToken {
                role,
                token: token.to_string(),
            }
        });
    }
    let found = candidates.iter().find_map(|c| tok.token_to_id(c));
    match found {
        None if wanted => Err(TokeniseError::MissingSpecialToken { role }),
        other => Ok(other),
    }
}
