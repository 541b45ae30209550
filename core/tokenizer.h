// Tokenizer: Hugging Face tokenizer.json or SentencePiece tokenizer.model,
// encode and decode.
//
// tokenizer.json (output equals Hugging Face `tokenizers`; decode has the
// 0.19-0.22 semantics):
//   normalizers  Sequence, Prepend, Replace (literal), NFC, NFD
//   pre-tokenizers  Sequence, ByteLevel (add_prefix_space, use_regex),
//                Split (a literal, or the GPT-2 / Llama-3 / Qwen2 split regex;
//                any behavior, invert), Digits, Metaspace (replacement,
//                prepend_scheme or add_prefix_space, split)
//   models       BPE with ranked merges, byte_fallback (to <0xNN> tokens when
//                the vocab has them, else <unk>), fuse_unk, ignore_merges,
//                continuing_subword_prefix / end_of_word_suffix
//   added tokens special or not, normalized or not, lstrip/rstrip/single_word
//   post-processors  TemplateProcessing, ByteLevel, Sequence
//   decoders     Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace
// That covers the byte-level BPE of GPT-2, SmolLM, Llama-3 and Qwen2 and the
// SentencePiece-style BPE of Llama-2, TinyLlama and Mistral. Anything else
// (another regex, another component type) is refused at load with an
// lm::Error(kUnsupported) naming it.
//
// tokenizer.model (output equals the SentencePiece library): BPE and Unigram
// models, the precompiled normalization map (e.g. nmt_nfkc), the whitespace
// options, user-defined symbols, byte_fallback; see sentencepiece.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

// Longer tokenizer.json text is refused before parsing (the largest real ones,
// e.g. Gemma's, are about 35 MB).
inline constexpr size_t kMaxTokenizerJsonBytes = size_t{64} << 20;

class Tokenizer {
 public:
  // Parses tokenizer.json text. Throws lm::Error(kFormat) for malformed JSON
  // or structure, lm::Error(kUnsupported) naming the first unsupported
  // normalizer / pre-tokenizer / model / decoder / post-processor type.
  static Tokenizer from_json(std::string_view json_text);
  // Parses a SentencePiece tokenizer.model (a serialized ModelProto). Throws
  // lm::Error(kFormat) when it is not a valid one, lm::Error(kUnsupported) for
  // WORD / CHAR models, treat_whitespace_as_suffix or a denormalizer.
  // encode() then matches SentencePiece's: add_special_tokens prepends BOS
  // (trainer_spec.bos_id, if any), control pieces written in the text are
  // plain text, and invalid UTF-8 becomes one U+FFFD per byte. decode() with
  // skip_special_tokens matches SentencePiece's decode (<unk> reads " \u2047 ");
  // without it, control pieces show as their text. is_special() is true for
  // control pieces (<s>, </s>).
  static Tokenizer from_sentencepiece(const std::byte* data, size_t size);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // encode(text, add_special_tokens): the post-processor (BOS) applies only
  // when add_special_tokens is true. `text` is UTF-8 (invalid bytes are
  // treated as U+FFFD).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // decode(ids, skip_special_tokens). Ids outside [0, vocab_size()) throw
  // lm::Error(kInvalidArgument).
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const;
  // decode() into `out` (its old contents replaced), reusing its capacity.
  void decode_into(std::span<const int32_t> ids, bool skip_special_tokens, std::string& out) const;

  // For streaming: how many leading ids decode to text that appending more ids
  // cannot change. That is all of them except a trailing run the decoder holds
  // open: "<0xNN>" byte tokens (and special tokens among them) that may still
  // complete a UTF-8 character. Ids outside the vocabulary throw like decode().
  size_t stable_prefix_length(std::span<const int32_t> ids) const;

  int vocab_size() const;                                // highest id + 1
  std::string_view id_to_token(int32_t id) const;        // raw vocab piece ("" if none)
  std::optional<int32_t> token_to_id(std::string_view token) const;
  bool is_special(int32_t id) const;                     // an added token marked special
  // Id the post-processor prepends (e.g. BOS), if any.
  std::optional<int32_t> bos_id() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lm
