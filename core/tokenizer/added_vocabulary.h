// Added tokens: special and added tokens matched inside the text before the
// model sees it, exactly as Hugging Face's AddedVocabulary does (normalized or
// not, single_word, lstrip, rstrip).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"

namespace lm::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// Finds added-token patterns like HF's aho-corasick with LeftmostLongest:
// the match starting first, the longest of those, then searching on after it.
// A byte trie suffices: added tokens are few and short.
class PatternMatcher {
 public:
  struct Match {
    size_t start;
    size_t end;
    int32_t value;
  };

  // The first pattern added keeps a duplicate.
  void add(std::string_view pattern, int32_t value) {
    if (pattern.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    size_t node = 0;
    for (const char c : pattern) {
      const auto byte = static_cast<unsigned char>(c);
      size_t child = find_child(node, byte);
      if (child == 0) {
        child = nodes_.size();
        nodes_[node].children.emplace_back(byte, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    if (nodes_[node].value < 0) nodes_[node].value = value;
    first_bytes_[static_cast<unsigned char>(pattern[0])] = true;
  }

  std::optional<Match> find(std::string_view text, size_t from) const {
    if (nodes_.empty()) return std::nullopt;
    for (size_t start = from; start < text.size(); ++start) {
      if (!first_bytes_[static_cast<unsigned char>(text[start])]) continue;
      std::optional<Match> longest;
      size_t node = 0;
      for (size_t i = start; i < text.size(); ++i) {
        node = find_child(node, static_cast<unsigned char>(text[i]));
        if (node == 0) break;
        if (nodes_[node].value >= 0) longest = Match{start, i + 1, nodes_[node].value};
      }
      if (longest) return longest;
    }
    return std::nullopt;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, size_t>> children;
    int32_t value = -1;
  };

  // 0 (the root, never a child) when absent.
  size_t find_child(size_t node, unsigned char byte) const {
    for (const auto& [b, child] : nodes_[node].children) {
      if (b == byte) return child;
    }
    return 0;
  }

  std::vector<Node> nodes_;
  std::array<bool, 256> first_bytes_{};
};

// A piece of text, or an added token (id >= 0) found in it.
struct Piece {
  std::string_view text;
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  // Registers a token from "added_tokens" (as HF's add_tokens does): a token
  // whose content the model already has takes the model's id, a repeated
  // content updates the earlier entry, an empty content is ignored.
  void add(AddedToken token, const TokenIds& model_vocab) {
    if (token.content.empty()) return;
    if (auto it = by_content_.find(token.content); it != by_content_.end()) {
      token.id = tokens_[it->second].id;
      tokens_[it->second] = std::move(token);
      return;
    }
    if (auto model_id = find_id(model_vocab, token.content)) token.id = *model_id;
    by_content_.emplace(token.content, tokens_.size());
    tokens_.push_back(std::move(token));
  }

  // Builds the two matchers; normalized tokens are matched by their
  // normalized content. Special tokens go first, as in HF (this only decides
  // which of two identical patterns wins).
  void build(const Normalizer* normalizer);

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const PatternMatcher& raw() const { return raw_; }
  const PatternMatcher& normalized() const { return normalized_; }

  std::optional<int32_t> id_of(std::string_view content) const {
    const auto it = by_content_.find(content);
    if (it == by_content_.end()) return std::nullopt;
    return tokens_[it->second].id;
  }

  // HF's AddedVocabulary::find_matches: split `text` into the added tokens
  // found by `matcher` and the text between them, honouring single_word,
  // lstrip and rstrip. Empty in-between pieces are left out.
  void split(std::string_view text, const PatternMatcher& matcher, std::vector<Piece>& out) const;

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> by_content_;
  PatternMatcher raw_;
  PatternMatcher normalized_;
};

// One entry of tokenizer.json's "added_tokens".
AddedToken parse_added_token(const Json& j, const std::string& where);

}  // namespace lm::tok
