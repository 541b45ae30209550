// SentencePiece tokenizer.model files: the protobuf ModelProto and the
// encoder that Tokenizer::from_sentencepiece wraps.
//
// Written from the file format and the documented behaviour of the
// SentencePiece library (tested against Debian's python3-sentencepiece):
//   - ModelProto is read with a small protobuf wire-format reader;
//   - the normalizer applies the precompiled character map (a double-array
//     trie of UTF-8 prefixes plus their replacements, e.g. nmt_nfkc), then
//     the whitespace rules (remove_extra_whitespaces, add_dummy_prefix,
//     escape_whitespaces: ' ' becomes U+2581); user-defined symbols pass
//     through unnormalized; each byte of invalid UTF-8 becomes U+FFFD;
//   - BPE merges the pair of adjacent symbols whose merged piece scores
//     highest (leftmost first on ties); Unigram takes the Viterbi path over
//     all vocabulary pieces (user-defined symbols always win; an uncovered
//     character is <unk>);
//   - runs of unknown pieces become one <unk>, or their UTF-8 bytes as
//     <0xNN> pieces when byte_fallback is on.
// Errors name the file: "tokenizer.model: ...".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lm::sentencepiece {

enum class PieceType : uint8_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class ModelType : uint8_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct Piece {
  std::string text;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

// The parts of ModelProto (sentencepiece_model.proto) that encoding and
// decoding use, with the proto's defaults.
struct ModelProto {
  std::vector<Piece> pieces;
  // trainer_spec
  ModelType model_type = ModelType::kUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t pad_id = -1;
  std::string unk_surface = " \xE2\x81\x87 ";
  // normalizer_spec
  std::string normalizer_name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  // denormalizer_spec: only whether it would change decoded text.
  bool has_denormalizer = false;
};

// Parses a serialized ModelProto. Throws lm::Error(kFormat) when it is not one.
ModelProto parse_model_proto(const std::byte* data, size_t size);

// Encodes text as the SentencePiece library does (without BOS/EOS). Throws
// lm::Error(kFormat) for an inconsistent model and lm::Error(kUnsupported)
// for model types and options it does not implement (WORD and CHAR models,
// treat_whitespace_as_suffix, a denormalizer).
class Encoder {
 public:
  explicit Encoder(const ModelProto& proto);
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  ~Encoder();

  // `text` may hold any bytes.
  std::vector<int32_t> encode(std::string_view text) const;
  // The normalized text the model sees (U+2581 for spaces when escaping).
  std::string normalize(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lm::sentencepiece
