// UTF-8 text helpers of the tokenizer pipeline.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "unicode.h"

namespace lm::tok {

// `s` with each invalid UTF-8 sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);

// Rewrites `text` in place as Rust's String::from_utf8_lossy does: each
// maximal ill-formed subsequence becomes one U+FFFD. Allocates only when the
// text outgrows its capacity.
void make_valid_utf8(std::string& text);

// Literal, non-overlapping, left to right; an empty pattern matches nothing
// (as HF's string Pattern). In place: allocates only when `text` outgrows its
// capacity.
void replace_all(std::string& text, std::string_view pattern, std::string_view content);

// The following helpers assume valid UTF-8.
inline size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

inline char32_t code_point_at(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t len = utf8_length(lead);
  if (len == 1) return lead;
  char32_t cp = lead & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

// Start of the character that ends at `end` (end > 0).
inline size_t previous_char_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Rust's char::is_whitespace / regex \s: the Unicode White_Space property.
inline bool is_unicode_whitespace(char32_t c) { return unicode::is_whitespace(c); }

// Regex \w, which only the single_word option of added tokens consults.
inline bool is_word_char(char32_t c) { return unicode::is_word(c); }

}  // namespace lm::tok
