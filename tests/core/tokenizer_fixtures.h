// Builders for tokenizer test inputs: serialized SentencePiece ModelProtos,
// their double-array character maps, and byte-level BPE tokenizer.json
// files. Header-only; used by tokenizer_test.cpp, tokenizer_byte_level_test.cpp
// and sentencepiece_test.cpp.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lm::test {

// --------------------------------------------------------- protobuf ---

class ProtoWriter {
 public:
  void varint(uint64_t value) {
    while (value >= 0x80) {
      out_ += static_cast<char>((value & 0x7F) | 0x80);
      value >>= 7;
    }
    out_ += static_cast<char>(value);
  }
  void key(uint32_t field, uint32_t wire) { varint(uint64_t{field} << 3 | wire); }
  void bytes(uint32_t field, std::string_view value) {
    key(field, 2);
    varint(value.size());
    out_ += value;
  }
  void uint(uint32_t field, uint64_t value) {
    key(field, 0);
    varint(value);
  }
  // proto int32: negative values take ten bytes.
  void int32(uint32_t field, int32_t value) { uint(field, static_cast<uint64_t>(static_cast<int64_t>(value))); }
  void float32(uint32_t field, float value) {
    key(field, 5);
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// A SentencePiece piece type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
struct SpmPiece {
  std::string text;
  float score = 0.0f;
  int type = 1;
};

struct SpmModel {
  std::vector<SpmPiece> pieces;
  int model_type = 2;  // 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t pad_id = -1;
  std::optional<std::string> unk_surface;
  bool treat_whitespace_as_suffix = false;
  std::string charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  std::string denormalizer_charsmap;

  // The usual first pieces: <unk>, <s>, </s>.
  static SpmModel with_specials() {
    SpmModel m;
    m.pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
    return m;
  }
  void add_bytes() {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) pieces.push_back({std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">", 0, 6});
    byte_fallback = true;
  }
  int32_t id(std::string_view text) const {
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i].text == text) return static_cast<int32_t>(i);
    }
    throw std::invalid_argument("no piece " + std::string(text));
  }

  std::string serialize() const {
    ProtoWriter model;
    for (const SpmPiece& p : pieces) {
      ProtoWriter piece;
      piece.bytes(1, p.text);
      piece.float32(2, p.score);
      piece.uint(3, static_cast<uint64_t>(p.type));
      model.bytes(1, piece.str());
    }
    ProtoWriter trainer;
    trainer.bytes(2, "test");  // model_prefix: a field the reader skips
    trainer.uint(3, static_cast<uint64_t>(model_type));
    trainer.uint(4, pieces.size());
    trainer.uint(24, treat_whitespace_as_suffix);
    trainer.uint(35, byte_fallback);
    trainer.int32(40, unk_id);
    trainer.int32(41, bos_id);
    trainer.int32(42, eos_id);
    trainer.int32(43, pad_id);
    if (unk_surface) trainer.bytes(44, *unk_surface);
    trainer.float32(10, 0.9995f);
    model.bytes(2, trainer.str());
    ProtoWriter normalizer;
    normalizer.bytes(1, charsmap.empty() ? "identity" : "test");
    normalizer.bytes(2, charsmap);
    normalizer.uint(3, add_dummy_prefix);
    normalizer.uint(4, remove_extra_whitespaces);
    normalizer.uint(5, escape_whitespaces);
    model.bytes(3, normalizer.str());
    if (!denormalizer_charsmap.empty()) {
      ProtoWriter denormalizer;
      denormalizer.bytes(2, denormalizer_charsmap);
      model.bytes(5, denormalizer.str());
    }
    return model.str();
  }
};

// A precompiled character map for `rules` (UTF-8 key -> replacement): a
// double-array trie in the darts-clone layout SentencePiece uses, then the
// NUL-terminated replacements.
inline std::string build_charsmap(const std::vector<std::pair<std::string, std::string>>& rules) {
  struct Node {
    std::map<unsigned char, std::unique_ptr<Node>> children;
    std::optional<uint32_t> value;
  };
  Node root;
  std::string strings;
  for (const auto& [key, replacement] : rules) {
    Node* node = &root;
    for (const char c : key) {
      auto& child = node->children[static_cast<unsigned char>(c)];
      if (!child) child = std::make_unique<Node>();
      node = child.get();
    }
    node->value = static_cast<uint32_t>(strings.size());
    strings += replacement;
    strings += '\0';
  }
  std::vector<uint32_t> units(1 << 14, 0);
  std::vector<bool> used(units.size(), false);
  used[0] = true;
  // Places the children (and leaf) of the node whose unit is at `pos`.
  const auto place = [&](auto&& self, const Node& node, size_t pos) -> void {
    std::vector<uint32_t> labels;
    if (node.value) labels.push_back(0);
    for (const auto& [label, child] : node.children) labels.push_back(label);
    if (labels.empty()) return;
    uint32_t offset = 1;
    for (;; ++offset) {
      bool fits = true;
      for (const uint32_t label : labels) {
        const size_t index = pos ^ offset ^ label;
        if (index >= units.size() || used[index]) fits = false;
      }
      if (fits) break;
    }
    units[pos] |= (offset << 10) | (node.value ? (1u << 8) : 0u);
    for (const uint32_t label : labels) used[pos ^ offset ^ label] = true;
    if (node.value) units[pos ^ offset] = (1u << 31) | *node.value;
    for (const auto& [label, child] : node.children) {
      const size_t index = pos ^ offset ^ label;
      units[index] = label;
      self(self, *child, index);
    }
  };
  place(place, root, 0);
  size_t size = units.size();
  while (size > 1 && !used[size - 1]) --size;
  std::string blob;
  const auto put32 = [&blob](uint32_t v) {
    for (int i = 0; i < 4; ++i) blob += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  put32(static_cast<uint32_t>(size * 4));
  for (size_t i = 0; i < size; ++i) put32(units[i]);
  return blob + strings;
}

// ------------------------------------------------------- byte level ---

// GPT-2's byte-to-character map, UTF-8 encoded.
inline std::string byte_level_char(unsigned char b) {
  const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  uint32_t c = b;
  if (!printable) {
    c = 256;
    for (unsigned other = 0; other < b; ++other) {
      const bool p = (other >= 0x21 && other <= 0x7E) || (other >= 0xA1 && other <= 0xAC) || (other >= 0xAE);
      if (!p) ++c;
    }
  }
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

inline std::string byte_level(std::string_view text) {
  std::string out;
  for (const char c : text) out += byte_level_char(static_cast<unsigned char>(c));
  return out;
}

// A byte-level BPE tokenizer.json: the 256 byte characters (ids 0-255 in
// byte order), then `words` (plain text, stored byte-level encoded) as whole
// pieces that only ignore_merges reaches, then `added` tokens (special,
// normalized false). `pre_tokenizer` is the JSON of the pre-tokenizer.
inline nlohmann::json byte_level_json(const nlohmann::json& pre_tokenizer, const std::vector<std::string>& words,
                                      const std::vector<std::string>& added = {}) {
  nlohmann::json vocab = nlohmann::json::object();
  int next = 0;
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(static_cast<unsigned char>(b))] = next++;
  for (const std::string& word : words) {
    if (!vocab.contains(byte_level(word))) vocab[byte_level(word)] = next++;
  }
  nlohmann::json added_tokens = nlohmann::json::array();
  for (const std::string& content : added) {
    added_tokens.push_back({{"id", next++},
                            {"content", content},
                            {"single_word", false},
                            {"lstrip", false},
                            {"rstrip", false},
                            {"normalized", false},
                            {"special", true}});
  }
  return {
      {"version", "1.0"},
      {"added_tokens", added_tokens},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre_tokenizer},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", true},
        {"vocab", vocab},
        {"merges", nlohmann::json::array()}}},
  };
}

}  // namespace lm::test
