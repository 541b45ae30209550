// Unicode properties and normalization over the generated tables (see
// unicode.h and scripts/gen_unicode_tables.py for their layout).
#include "unicode.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lm::unicode {

namespace tables {
// Defined in the generated unicode_tables.cpp.
extern const char kVersion[];
extern const uint32_t kCategoryRuns[];
extern const size_t kCategoryRunsSize;
extern const uint32_t kWordRuns[];
extern const size_t kWordRunsSize;
extern const uint32_t kWhiteSpaceRuns[];
extern const size_t kWhiteSpaceRunsSize;
extern const uint32_t kCombiningRuns[];
extern const size_t kCombiningRunsSize;
extern const uint32_t kCanonicalIndex[];  // pairs: code point, pool start << 5 | length
extern const size_t kCanonicalIndexSize;
extern const uint32_t kCanonicalPool[];
extern const size_t kCanonicalPoolSize;
extern const uint32_t kCompositions[];  // triples: first, second, composite; sorted
extern const size_t kCompositionsSize;
}  // namespace tables

namespace {

// The value of the run holding `c` in a table of `first << shift | value`.
uint32_t run_value(const uint32_t* runs, size_t size, char32_t c, int shift) {
  const uint32_t key = (static_cast<uint32_t>(c) << shift) | ((1u << shift) - 1);
  const uint32_t* it = std::upper_bound(runs, runs + size, key);
  if (it == runs) return 0;
  return it[-1] & ((1u << shift) - 1);
}

// Hangul syllables decompose and compose algorithmically (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

// Valid UTF-8 only.
char32_t decode_at(std::string_view s, size_t& i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  size_t len = 1;
  char32_t cp = lead;
  if (lead >= 0xF0) {
    len = 4, cp = lead & 0x07;
  } else if (lead >= 0xE0) {
    len = 3, cp = lead & 0x0F;
  } else if (lead >= 0xC0) {
    len = 2, cp = lead & 0x1F;
  }
  for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}


// The full canonical decomposition of `c` from the table (not Hangul), or
// nullptr when it has none.
const uint32_t* table_decomposition(char32_t c, size_t& length) {
  if (c < 0xC0) return nullptr;
  // The index holds (code point, pool start << 5 | length) pairs sorted by code point.
  size_t lo = 0;
  size_t hi = tables::kCanonicalIndexSize / 2;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    const uint32_t key = tables::kCanonicalIndex[2 * mid];
    if (key == c) {
      const uint32_t packed = tables::kCanonicalIndex[2 * mid + 1];
      length = packed & 31;
      return tables::kCanonicalPool + (packed >> 5);
    }
    if (key < c) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return nullptr;
}

bool is_hangul_syllable(char32_t c) { return c >= kSBase && c < kSBase + kSCount; }

// Appends the full canonical decomposition of `c`.
void decompose(char32_t c, std::vector<char32_t>& out) {
  if (is_hangul_syllable(c)) {
    const char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  size_t length = 0;
  if (const uint32_t* first = table_decomposition(c, length)) {
    out.insert(out.end(), first, first + length);
  } else {
    out.push_back(c);
  }
}

// The primary composite of the pair, or 0.
char32_t compose(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (is_hangul_syllable(first) && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  size_t lo = 0;
  size_t hi = tables::kCompositionsSize / 3;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    const uint32_t a = tables::kCompositions[3 * mid];
    const uint32_t b = tables::kCompositions[3 * mid + 1];
    if (a == first && b == second) return tables::kCompositions[3 * mid + 2];
    if (a < first || (a == first && b < second)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return 0;
}

// Whether `c` is the second of some canonical composition pair.
bool composes_with_previous(char32_t c) {
  if ((c >= kVBase && c < kVBase + kVCount) || (c > kTBase && c < kTBase + kTCount)) return true;
  static const std::vector<char32_t> seconds = [] {
    std::vector<char32_t> all;
    for (size_t i = 0; i < tables::kCompositionsSize / 3; ++i) all.push_back(tables::kCompositions[3 * i + 1]);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return all;
  }();
  return std::binary_search(seconds.begin(), seconds.end(), c);
}

// Decomposes `text` and puts runs of non-starters in canonical order.
std::vector<char32_t> decomposed(std::string_view text) {
  std::vector<char32_t> cps;
  cps.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) decompose(decode_at(text, i), cps);
  // A stable insertion sort by combining class within each run of non-starters.
  for (size_t i = 1; i < cps.size(); ++i) {
    const int cc = combining_class(cps[i]);
    if (cc == 0) continue;
    size_t j = i;
    const char32_t c = cps[i];
    while (j > 0) {
      const int prev = combining_class(cps[j - 1]);
      if (prev == 0 || prev <= cc) break;
      cps[j] = cps[j - 1];
      --j;
    }
    cps[j] = c;
  }
  return cps;
}

}  // namespace

size_t utf8_sequence_at(std::string_view s, size_t i, size_t& bad) {
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return 1;
  size_t trailing = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    trailing = 1;
  } else if (lead == 0xE0) {
    trailing = 2, low = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    trailing = 2;
  } else if (lead == 0xED) {
    trailing = 2, high = 0x9F;  // no surrogates
  } else if (lead == 0xF0) {
    trailing = 3, low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    trailing = 3;
  } else if (lead == 0xF4) {
    trailing = 3, high = 0x8F;  // nothing above U+10FFFF
  } else {
    bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= trailing; ++k) {
    if (i + k >= s.size()) {
      bad = k;
      return 0;
    }
    const auto byte = static_cast<unsigned char>(s[i + k]);
    if (byte < (k == 1 ? low : 0x80) || byte > (k == 1 ? high : 0xBF)) {
      bad = k;
      return 0;
    }
  }
  return trailing + 1;
}

bool is_valid_utf8(std::string_view s) {
  size_t bad = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_at(s, i, bad);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

void append_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

Category category(char32_t c) {
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return Category::kLetter;
    if (c >= '0' && c <= '9') return Category::kNumber;
  }
  return static_cast<Category>(run_value(tables::kCategoryRuns, tables::kCategoryRunsSize, c, 3));
}

bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return run_value(tables::kWhiteSpaceRuns, tables::kWhiteSpaceRunsSize, c, 1) != 0;
}

bool is_word(char32_t c) {
  if (c < 0x80) {
    return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '_';
  }
  return run_value(tables::kWordRuns, tables::kWordRunsSize, c, 1) != 0;
}

int combining_class(char32_t c) {
  if (c < 0x300) return 0;
  return static_cast<int>(run_value(tables::kCombiningRuns, tables::kCombiningRunsSize, c, 8));
}

bool is_nfc_quick(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0xCC) {  // below U+0300
      i += static_cast<unsigned char>(text[i]) < 0x80 ? 1 : 2;
      continue;
    }
    const char32_t c = decode_at(text, i);
    if (combining_class(c) != 0 || composes_with_previous(c)) return false;
    size_t length = 0;
    if (table_decomposition(c, length) != nullptr) return false;
  }
  return true;
}

void nfd(std::string_view text, std::string& out) {
  for (const char32_t c : decomposed(text)) append_utf8(c, out);
}

void nfc(std::string_view text, std::string& out) {
  if (is_nfc_quick(text)) {
    out += text;
    return;
  }
  std::vector<char32_t> cps = decomposed(text);
  // Canonical composition (UAX #15): each character joins the last starter
  // unless a character between them blocks it.
  size_t size = 0;
  std::ptrdiff_t starter = -1;
  for (const char32_t c : cps) {
    const int cc = combining_class(c);
    if (starter >= 0) {
      const bool adjacent = static_cast<std::ptrdiff_t>(size) == starter + 1;
      const int last_cc = adjacent ? 0 : combining_class(cps[size - 1]);
      if (adjacent || (last_cc != 0 && last_cc < cc)) {
        if (const char32_t composite = compose(cps[static_cast<size_t>(starter)], c)) {
          cps[static_cast<size_t>(starter)] = composite;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<std::ptrdiff_t>(size);
    cps[size++] = c;
  }
  for (size_t i = 0; i < size; ++i) append_utf8(cps[i], out);
}

const char* version() { return tables::kVersion; }

}  // namespace lm::unicode
