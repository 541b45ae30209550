#include "tokenizer/split_regex.h"

#include "tokenizer/text.h"
#include "unicode.h"

namespace lm::tok {
namespace {

// GPT-2's (also ByteLevel's own when use_regex is set).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama-3's: case-insensitive contractions, a letter run may take one leading
// non-letter, numbers in groups of up to three, newlines kept together.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2's: Llama-3's with single digits.
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class RegexMatcher {
 public:
  // The spans of `regex`'s matches in `text` (they cover it).
  static void spans(SplitRegex regex, std::string_view text, std::vector<Span>& out) {
    RegexMatcher m(text);
    for (size_t i = 0; i < m.chars_.size();) {
      const size_t end = m.match_at(regex, i);
      out.push_back(Span{m.offset(i), m.offset(end), true});
      i = end;
    }
  }

 private:
  enum class Class : uint8_t { kLetter, kNumber, kSpace, kOther };
  struct Char {
    size_t offset;
    char32_t cp;
    Class cls;
  };

  explicit RegexMatcher(std::string_view text) : size_(text.size()) {
    chars_.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      const char32_t cp = code_point_at(text, i);
      Class cls = Class::kOther;
      if (unicode::is_whitespace(cp)) {
        cls = Class::kSpace;
      } else if (unicode::is_letter(cp)) {
        cls = Class::kLetter;
      } else if (unicode::is_number(cp)) {
        cls = Class::kNumber;
      }
      chars_.push_back(Char{i, cp, cls});
      i += utf8_length(static_cast<unsigned char>(text[i]));
    }
  }

  size_t offset(size_t k) const { return k < chars_.size() ? chars_[k].offset : size_; }
  Class cls(size_t k) const { return chars_[k].cls; }
  bool is(size_t k, char32_t c) const { return k < chars_.size() && chars_[k].cp == c; }
  bool is_cr_lf(size_t k) const { return is(k, '\r') || is(k, '\n'); }

  // The end of the run of `c` characters from k.
  size_t run_end(size_t k, Class c) const {
    while (k < chars_.size() && chars_[k].cls == c) ++k;
    return k;
  }

  // 's 't 're 've 'm 'll 'd: the match length at k, 0 if none. Ignoring case
  // (Unicode simple case folding), U+017F LATIN SMALL LETTER LONG S is an s too.
  size_t contraction(size_t k, bool ignore_case) const {
    if (!is(k, '\'') || k + 1 >= chars_.size()) return 0;
    const auto folded = [&](size_t at) -> char32_t {
      if (at >= chars_.size()) return 0;
      char32_t c = chars_[at].cp;
      if (ignore_case) {
        if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        if (c == 0x17F) c = 's';
      }
      return c;
    };
    const char32_t a = folded(k + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    const char32_t b = folded(k + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

  // \s+(?!\S)|\s+ at white space k: the whole run at the end of the text,
  // else all of it but the last character (which goes with the next word),
  // else the one character.
  size_t whitespace_end(size_t k) const {
    const size_t end = run_end(k, Class::kSpace);
    if (end == chars_.size()) return end;
    return end - k >= 2 ? end - 1 : end;
  }

  size_t match_at(SplitRegex regex, size_t i) const {
    if (regex == SplitRegex::kGpt2) {
      if (const size_t len = contraction(i, false)) return i + len;
      // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
      const size_t j = i + (is(i, ' ') ? 1 : 0);
      if (j < chars_.size() && cls(j) != Class::kSpace) return run_end(j, cls(j));
      return whitespace_end(i);
    }
    if (const size_t len = contraction(i, true)) return i + len;
    const Class first = cls(i);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (first == Class::kLetter) return run_end(i, Class::kLetter);
    if (first != Class::kNumber && !is_cr_lf(i) && i + 1 < chars_.size() && cls(i + 1) == Class::kLetter) {
      return run_end(i + 1, Class::kLetter);
    }
    // \p{N}{1,3} (Qwen2: \p{N})
    if (first == Class::kNumber) {
      const size_t limit = regex == SplitRegex::kLlama3 ? 3 : 1;
      size_t j = i;
      while (j < chars_.size() && j - i < limit && cls(j) == Class::kNumber) ++j;
      return j;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    size_t j = i + (is(i, ' ') ? 1 : 0);
    if (j < chars_.size() && cls(j) == Class::kOther) {
      j = run_end(j, Class::kOther);
      while (is_cr_lf(j)) ++j;
      return j;
    }
    // Here chars_[i] is white space. \s*[\r\n]+: up to the last CR/LF of the run.
    const size_t end = run_end(i, Class::kSpace);
    for (size_t k = end; k > i; --k) {
      if (is_cr_lf(k - 1)) return k;
    }
    return whitespace_end(i);
  }

  std::vector<Char> chars_;
  size_t size_;
};

}  // namespace

std::optional<SplitRegex> known_split_regex(std::string_view pattern) {
  if (pattern == kGpt2Pattern) return SplitRegex::kGpt2;
  if (pattern == kLlama3Pattern) return SplitRegex::kLlama3;
  if (pattern == kQwen2Pattern) return SplitRegex::kQwen2;
  return std::nullopt;
}

void split_regex_spans(SplitRegex regex, std::string_view text, std::vector<Span>& out) {
  RegexMatcher::spans(regex, text, out);
}

}  // namespace lm::tok
