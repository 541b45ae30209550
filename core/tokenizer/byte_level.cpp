#include "tokenizer/byte_level.h"

#include "tokenizer/text.h"
#include "unicode.h"

namespace lm::tok {

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of.fill(-1);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t c = printable ? static_cast<char32_t>(b) : next++;
    unicode::append_utf8(c, utf8[static_cast<size_t>(b)]);
    byte_of[c] = static_cast<int16_t>(b);
  }
}

const ByteLevelAlphabet& byte_level_alphabet() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

std::string byte_level_encode(std::string_view text) {
  const ByteLevelAlphabet& alphabet = byte_level_alphabet();
  std::string out;
  out.reserve(text.size() * 2);
  for (const char c : text) out += alphabet.utf8[static_cast<unsigned char>(c)];
  return out;
}

void byte_level_decode(std::string_view token, std::string& out) {
  const ByteLevelAlphabet& alphabet = byte_level_alphabet();
  for (size_t i = 0; i < token.size();) {
    if (alphabet.byte(code_point_at(token, i)) < 0) {
      out += token;
      return;
    }
    i += utf8_length(static_cast<unsigned char>(token[i]));
  }
  for (size_t i = 0; i < token.size();) {
    out += static_cast<char>(alphabet.byte(code_point_at(token, i)));
    i += utf8_length(static_cast<unsigned char>(token[i]));
  }
}

}  // namespace lm::tok
