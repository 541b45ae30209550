// Unicode character properties and NFC / NFD normalization for the tokenizer.
//
// The data comes from the Unicode Character Database of Debian's unicode-data
// package: scripts/gen_unicode_tables.py turns it into C++ tables at build
// time (CMakeLists.txt), so nothing here is hand-copied data. Text is UTF-8;
// the normalization functions expect valid UTF-8 (the tokenizer repairs its
// input first).
#pragma once

#include <string>
#include <string_view>

namespace lm::unicode {

// The major general category (the first letter of the two-letter one).
enum class Category : unsigned char {
  kOther,        // C: controls, format, surrogates, private use, unassigned
  kLetter,       // L
  kMark,         // M
  kNumber,       // N
  kPunctuation,  // P
  kSymbol,       // S
  kSeparator,    // Z
};

Category category(char32_t c);
inline bool is_letter(char32_t c) { return category(c) == Category::kLetter; }  // regex \p{L}
inline bool is_number(char32_t c) { return category(c) == Category::kNumber; }  // regex \p{N}, Rust is_numeric
// The White_Space property: regex \s (Rust and Oniguruma alike), Rust's char::is_whitespace.
bool is_whitespace(char32_t c);
// Regex \w: Alphabetic, marks, decimal numbers, connector punctuation, Join_Control.
bool is_word(char32_t c);
// Canonical combining class (0 for starters).
int combining_class(char32_t c);

// The length of the well-formed UTF-8 sequence at s[i], or 0 when it is
// ill-formed; then `bad` is the length of the maximal ill-formed subsequence
// there, which a decoder replaces by one U+FFFD (the Unicode / WHATWG rule,
// as Python and TextDecoder do).
size_t utf8_sequence_at(std::string_view s, size_t i, size_t& bad);
// Whether `s` is entirely well-formed UTF-8 (no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// The UTF-8 encoding of code point `c`, appended to `out`.
void append_utf8(char32_t c, std::string& out);

// Unicode normalization forms C and D, appended to `out`.
void nfc(std::string_view text, std::string& out);
void nfd(std::string_view text, std::string& out);
// Whether nfc() would leave `text` unchanged (a fast check for the common case).
bool is_nfc_quick(std::string_view text);

// The Unicode version of the tables, e.g. "15.0.0".
const char* version();

}  // namespace lm::unicode
