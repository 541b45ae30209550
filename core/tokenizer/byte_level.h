// ByteLevel: bytes as printable characters (GPT-2's byte-to-character map),
// shared by the ByteLevel pre-tokenizer and decoder.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace lm::tok {

// GPT-2's byte-to-character map: printable Latin-1 bytes stand for
// themselves, the other 68 bytes for U+0100 onwards in byte order.
struct ByteLevelAlphabet {
  std::array<std::string, 256> utf8;  // byte -> its character, UTF-8
  std::array<int16_t, 324> byte_of;   // character (below U+0144) -> byte, -1 if none

  ByteLevelAlphabet();

  int byte(char32_t c) const { return c < byte_of.size() ? byte_of[c] : -1; }
};

// The one alphabet (built on first use).
const ByteLevelAlphabet& byte_level_alphabet();

// Every byte of `text` as its character.
std::string byte_level_encode(std::string_view text);

// HF's ByteLevel decoder on one token: its characters' bytes, or when one of
// them is outside the alphabet, the token's own UTF-8. Appends to `out`.
void byte_level_decode(std::string_view token, std::string& out);

}  // namespace lm::tok
