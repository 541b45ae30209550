// Unicode tables (generated from Debian's unicode-data) and NFC / NFD.
#include "unicode.h"

#include <gtest/gtest.h>

#include <string>

namespace lm::unicode {
namespace {

std::string nfc_of(const std::string& text) {
  std::string out;
  nfc(text, out);
  return out;
}

std::string nfd_of(const std::string& text) {
  std::string out;
  nfd(text, out);
  return out;
}

TEST(Unicode, TablesComeFromTheCharacterDatabase) {
  const std::string v = version();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v, "unknown");
  EXPECT_GE(std::stoi(v), 13);  // Debian bookworm ships 15.0.0
}

TEST(Unicode, MajorCategories) {
  EXPECT_EQ(category('a'), Category::kLetter);
  EXPECT_EQ(category('Z'), Category::kLetter);
  EXPECT_EQ(category(U'\u00E9'), Category::kLetter);   // é
  EXPECT_EQ(category(U'\u4E2D'), Category::kLetter);   // 中 (inside a "First/Last" range)
  EXPECT_EQ(category(U'\uAC00'), Category::kLetter);   // 가
  EXPECT_EQ(category(U'\u02B0'), Category::kLetter);   // modifier letter ʰ (Lm)
  EXPECT_EQ(category(U'\u01C5'), Category::kLetter);   // ǅ (Lt)
  EXPECT_EQ(category('7'), Category::kNumber);
  EXPECT_EQ(category(U'\u0663'), Category::kNumber);   // Arabic-Indic ٣ (Nd)
  EXPECT_EQ(category(U'\u2167'), Category::kNumber);   // Ⅷ (Nl)
  EXPECT_EQ(category(U'\u00BD'), Category::kNumber);   // ½ (No)
  EXPECT_EQ(category(U'\u00B2'), Category::kNumber);   // ² (No)
  EXPECT_EQ(category(U'\u0301'), Category::kMark);
  EXPECT_EQ(category('!'), Category::kPunctuation);
  EXPECT_EQ(category('_'), Category::kPunctuation);
  EXPECT_EQ(category('$'), Category::kSymbol);
  EXPECT_EQ(category(U'\U0001F600'), Category::kSymbol);  // 😀
  EXPECT_EQ(category(' '), Category::kSeparator);
  EXPECT_EQ(category(U'\u3000'), Category::kSeparator);
  EXPECT_EQ(category('\n'), Category::kOther);
  EXPECT_EQ(category(U'\u200D'), Category::kOther);    // ZWJ (Cf)
  EXPECT_EQ(category(0x0378), Category::kOther);        // unassigned
  EXPECT_EQ(category(0x10FFFF), Category::kOther);
  EXPECT_TRUE(is_letter(U'\U0001D538'));  // 𝔸
  EXPECT_TRUE(is_number(U'\U0001D7D8'));  // 𝟘
  EXPECT_FALSE(is_letter('1'));
  EXPECT_FALSE(is_number('a'));
}

TEST(Unicode, WhiteSpaceIsTheWhiteSpaceProperty) {
  for (const char32_t c : {U'\t', U'\n', U'\v', U'\f', U'\r', U' ', U'\u0085', U'\u00A0', U'\u1680', U'\u2000',
                           U'\u200A', U'\u2028', U'\u2029', U'\u202F', U'\u205F', U'\u3000'}) {
    EXPECT_TRUE(is_whitespace(c)) << static_cast<unsigned>(c);
  }
  for (const char32_t c : {U'a', U'\u200B', U'\u180E', U'\uFEFF', U'\u2581', U'\0'}) {
    EXPECT_FALSE(is_whitespace(c)) << static_cast<unsigned>(c);
  }
}

TEST(Unicode, WordCharactersAreRegexBackslashW) {
  for (const char32_t c : {U'a', U'Z', U'0', U'_', U'\u00E9', U'\u0301', U'\u4E2D', U'\u0663', U'\u200D', U'\u203F',
                           U'\u2167'}) {
    EXPECT_TRUE(is_word(c)) << static_cast<unsigned>(c);
  }
  for (const char32_t c : {U' ', U'-', U'(', U'\u00BD', U'\U0001F600', U'\u3000', U'\u2014'}) {
    EXPECT_FALSE(is_word(c)) << static_cast<unsigned>(c);
  }
}

TEST(Unicode, CombiningClasses) {
  EXPECT_EQ(combining_class('a'), 0);
  EXPECT_EQ(combining_class(U'\u0301'), 230);
  EXPECT_EQ(combining_class(U'\u0323'), 220);
  EXPECT_EQ(combining_class(U'\u031B'), 216);
  EXPECT_EQ(combining_class(U'\u3099'), 8);
}

TEST(Unicode, NfcComposesAndNfdDecomposes) {
  EXPECT_EQ(nfc_of("e\u0301"), "\u00E9");
  EXPECT_EQ(nfd_of("\u00E9"), "e\u0301");
  EXPECT_EQ(nfc_of("cafe\u0301 A\u030Angstro\u0308m"), "caf\u00E9 \u00C5ngstr\u00F6m");
  // Canonical order first: dot below (220) before circumflex (230), then composition.
  EXPECT_EQ(nfd_of("\u1EC7"), "e\u0323\u0302");
  EXPECT_EQ(nfc_of("e\u0302\u0323"), "\u1EC7");
  EXPECT_EQ(nfc_of("o\u031B\u0300\u0323"), "\u1EE3\u0300");  // ợ, then the grave (no composite)
  // Singletons and composition exclusions do not come back.
  EXPECT_EQ(nfc_of("\u212B"), "\u00C5");  // ANGSTROM SIGN
  EXPECT_EQ(nfc_of("\u2126"), "\u03A9");  // OHM SIGN
  EXPECT_EQ(nfc_of("\u0958"), "\u0915\u093C");
  // Hangul, algorithmically both ways.
  EXPECT_EQ(nfc_of("\u1100\u1161\u11A8"), "\uAC01");
  EXPECT_EQ(nfd_of("\uAC01"), "\u1100\u1161\u11A8");
  EXPECT_EQ(nfc_of("\uAC00\u11A8"), "\uAC01");
  // A blocked mark stays apart; an unblocked later one still composes.
  EXPECT_EQ(nfc_of("a\u0301\u0301"), "\u00E1\u0301");
  EXPECT_EQ(nfc_of("\u0301e"), "\u0301e");
  // Compatibility characters are left alone.
  EXPECT_EQ(nfc_of("\uFB01 \uFF21 \u00BD"), "\uFB01 \uFF21 \u00BD");
  // Text already in NFC is unchanged, including astral characters.
  const std::string mixed = "Hello, \u4E16\u754C! \U0001F468\u200D\U0001F469 \u00E9 \uAC00";
  EXPECT_EQ(nfc_of(mixed), mixed);
  EXPECT_TRUE(is_nfc_quick(mixed));
  EXPECT_FALSE(is_nfc_quick("e\u0301"));
  EXPECT_FALSE(is_nfc_quick("\u212B"));
  EXPECT_FALSE(is_nfc_quick("\u1100\u1161"));
}


TEST(Unicode, ValidatesUtf8LikeTheStandard) {
  for (const char* good : {"", "abc", "\u00e9", "\u20ac", "\U0001F600", "\xEF\xBF\xBD", "\xF4\x8F\xBF\xBF"})
    EXPECT_TRUE(is_valid_utf8(good)) << good;
  // Lone continuation, truncated sequences, overlong forms, surrogates, above U+10FFFF, 0xFF.
  for (const char* bad : {"\x80", "\xC3", "\xE2\x82", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                          "a\xFF", "\xF0\x9F\x98"})
    EXPECT_FALSE(is_valid_utf8(bad)) << testing::PrintToString(std::string(bad));
  size_t bad = 0;
  EXPECT_EQ(utf8_sequence_at("\xE2\x82\xAC", 0, bad), 3u);
  EXPECT_EQ(utf8_sequence_at("\xE2\x82x", 0, bad), 0u);
  EXPECT_EQ(bad, 2u);  // one U+FFFD for "\xE2\x82", as TextDecoder does
  EXPECT_EQ(utf8_sequence_at("\xED\xA0\x80", 0, bad), 0u);
  EXPECT_EQ(bad, 1u);
}

}  // namespace
}  // namespace lm::unicode
