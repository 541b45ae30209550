// lm-tokenize: encodes and decodes with a tokenizer file alone, no model.
//
//   lm-tokenize TOKENIZER_FILE < request.json > result.json
//
// TOKENIZER_FILE is a Hugging Face tokenizer.json or a SentencePiece
// tokenizer.model (told apart by the name ending in .json). The request is
//   {"texts_hex": ["48690a", ...], "decode": [[1, 2, 3], ...]}
// (texts as hex UTF-8 bytes, so any bytes pass), and the result is
//   {"vocab_size": N, "bos_id": id or null,
//    "encodings": [{"ids": [...], "ids_no_special": [...]}, ...],
//    "decodes": [{"skip_hex": "...", "keep_hex": "..."}, ...]}
// with the decoded texts as hex too. Errors go to stderr as
// "lm-tokenize: <kind>: <message>" with exit status 1 (2 for usage).
// tests/js/tokenizer-reference.test.js compares it with the reference
// implementations.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.h"
#include "tokenizer.h"

namespace {

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string from_hex(const std::string& hex) {
  if (hex.size() % 2 != 0) throw lm::Error(lm::ErrorKind::kInvalidArgument, "odd-length hex text");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = hex_value(hex[i]);
    const int low = hex_value(hex[i + 1]);
    if (high < 0 || low < 0) throw lm::Error(lm::ErrorKind::kInvalidArgument, "bad hex text");
    out += static_cast<char>(high * 16 + low);
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw lm::Error(lm::ErrorKind::kIo, "cannot read " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lm-tokenize TOKENIZER_FILE < request.json\n");
    return 2;
  }
  try {
    const std::string path = argv[1];
    const std::string data = read_file(path);
    const lm::Tokenizer tokenizer =
        path.ends_with(".json")
            ? lm::Tokenizer::from_json(data)
            : lm::Tokenizer::from_sentencepiece(reinterpret_cast<const std::byte*>(data.data()), data.size());
    const std::string request_text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const nlohmann::json request = nlohmann::json::parse(request_text);

    nlohmann::json result;
    result["vocab_size"] = tokenizer.vocab_size();
    const auto bos = tokenizer.bos_id();
    result["bos_id"] = bos ? nlohmann::json(*bos) : nlohmann::json(nullptr);
    result["encodings"] = nlohmann::json::array();
    for (const auto& hex : request.value("texts_hex", nlohmann::json::array())) {
      const std::string text = from_hex(hex.get<std::string>());
      result["encodings"].push_back(
          {{"ids", tokenizer.encode(text, true)}, {"ids_no_special", tokenizer.encode(text, false)}});
    }
    result["decodes"] = nlohmann::json::array();
    for (const auto& ids_json : request.value("decode", nlohmann::json::array())) {
      const std::vector<int32_t> ids = ids_json.get<std::vector<int32_t>>();
      result["decodes"].push_back({{"skip_hex", to_hex(tokenizer.decode(ids, true))},
                                   {"keep_hex", to_hex(tokenizer.decode(ids, false))}});
    }
    std::cout << result.dump() << "\n";
    return 0;
  } catch (const lm::Error& e) {
    std::fprintf(stderr, "lm-tokenize: %s: %s\n", lm::error_kind_name(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lm-tokenize: %s\n", e.what());
  }
  return 1;
}
