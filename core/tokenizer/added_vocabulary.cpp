#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/text.h"

namespace lm::tok {

void AddedVocabulary::build(const Normalizer* normalizer) {
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const AddedToken& token = tokens_[i];
      if (token.special != (pass == 0)) continue;
      const auto index = static_cast<int32_t>(i);
      if (!token.normalized) {
        raw_.add(token.content, index);
        continue;
      }
      std::string pattern = token.content;
      if (normalizer != nullptr) normalizer->normalize(pattern);
      normalized_.add(pattern, index);
    }
  }
}

void AddedVocabulary::split(std::string_view text, const PatternMatcher& matcher, std::vector<Piece>& out) const {
  size_t start_offset = 0;
  size_t search_from = 0;
  while (auto match = matcher.find(text, search_from)) {
    search_from = match->end;
    size_t start = match->start;
    size_t stop = match->end;
    const AddedToken& token = tokens_[static_cast<size_t>(match->value)];
    if (token.single_word) {
      const bool word_before =
          start > 0 && is_word_char(code_point_at(text, previous_char_start(text, start)));
      const bool word_after = stop < text.size() && is_word_char(code_point_at(text, stop));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      // Spaces already taken by the previous token (its rstrip) stay there.
      // (HF trims all of text[..start]; stopping at start_offset gives the
      // same result without rescanning, so many matches stay linear.)
      while (start > start_offset) {
        const size_t prev = previous_char_start(text, start);
        if (!is_unicode_whitespace(code_point_at(text, prev))) break;
        start = prev;
      }
      start = std::max(start, start_offset);
    }
    if (token.rstrip) {
      // A match inside the spaces the previous token's rstrip took (HF
      // still emits it) takes the same spaces: all of them up to
      // start_offset, so the scan can start there.
      stop = std::max(stop, start_offset);
      while (stop < text.size() && is_unicode_whitespace(code_point_at(text, stop))) {
        stop += utf8_length(static_cast<unsigned char>(text[stop]));
      }
    }
    if (start_offset < start) out.push_back(Piece{text.substr(start_offset, start - start_offset)});
    out.push_back(Piece{text.substr(start, stop - start), token.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back(Piece{text.substr(start_offset)});
}

AddedToken parse_added_token(const Json& j, const std::string& where) {
  if (!j.is_object()) fail_format(where + " must be an object");
  AddedToken token;
  token.content = as_string(require(j, "content", where), where + ".content");
  token.id = as_token_id(require(j, "id", where), where + ".id");
  token.special = optional_bool(j, "special", false, where);
  token.single_word = optional_bool(j, "single_word", false, where);
  token.lstrip = optional_bool(j, "lstrip", false, where);
  token.rstrip = optional_bool(j, "rstrip", false, where);
  token.normalized = optional_bool(j, "normalized", true, where);
  return token;
}

}  // namespace lm::tok
