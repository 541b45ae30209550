// The split regexes of byte-level BPE tokenizers (GPT-2, Llama-3, Qwen2).
//
// std::regex has no \p{L} / \p{N}, so the patterns real tokenizer.json files
// use are recognized by their exact text and matched by hand. Each is an
// alternation tried left to right at every position, and since every
// character is a letter, a number, white space or something else, a match
// always starts where the last one ended: the matches tile the text.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace lm::tok {

// A part of a piece, and whether the split pattern matched it.
struct Span {
  size_t start;
  size_t end;
  bool match;
};

enum class SplitRegex { kGpt2, kLlama3, kQwen2 };

// The regex whose source is exactly `pattern`, if it is one of the known ones.
std::optional<SplitRegex> known_split_regex(std::string_view pattern);

// The spans of `regex`'s matches in `text` (they cover it), appended to `out`.
void split_regex_spans(SplitRegex regex, std::string_view text, std::vector<Span>& out);

}  // namespace lm::tok
