// Tokenizer: Hugging Face tokenizer.json, encode and decode.
//
// Supported now: SentencePiece-style BPE as exported by transformers for
// Llama-family models: normalizers Sequence / Prepend / Replace, no
// pre-tokenizer, model BPE with ranked merges, byte_fallback (to <0xNN> tokens
// when the vocab has them, else <unk>), fuse_unk, added tokens (special or not,
// normalized or not, lstrip/rstrip/single_word), the TemplateProcessing
// post-processor, and decoders Sequence / Replace / ByteFallback / Fuse /
// Strip. Anything else is refused at load with an error naming the component.
// Output equals Hugging Face `tokenizers` (decode: 0.19-0.22 semantics).
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

class Tokenizer {
 public:
  // Parses tokenizer.json text. Throws lm::Error(kFormat) for malformed JSON
  // or structure, lm::Error(kUnsupported) naming the first unsupported
  // normalizer / pre-tokenizer / model / decoder / post-processor type.
  static Tokenizer from_json(std::string_view json_text);

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
