// Tokenizer, byte-level BPE and the other tokenizer.json components real
// models add to the SentencePiece-style ones (tokenizer_test.cpp): the
// ByteLevel pre-tokenizer and decoder, the GPT-2 / Llama-3 / Qwen2 split
// regexes, Split behaviors, Digits, Metaspace, NFC, and the streaming rules.
// tests/js/tokenizer-reference.test.js compares all of it with Hugging Face
// `tokenizers` on many more texts; these pin the rules down by hand.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "error.h"
#include "tokenizer.h"
#include "tokenizer_fixtures.h"

namespace lm {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;
using Pieces = std::vector<std::string>;

const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json byte_level_pre(bool add_prefix_space = false, bool use_regex = true) {
  return {
      {"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

json split_then_bytes(const char* regex, const char* behavior = "Isolated", bool invert = false) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", behavior}, {"invert", invert}},
            byte_level_pre(false, false)}}};
}

// The bytes of a byte-level piece.
std::string piece_bytes(std::string_view piece) {
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    bool found = false;
    for (int b = 0; b < 256 && !found; ++b) {
      const std::string c = test::byte_level_char(static_cast<unsigned char>(b));
      if (piece.substr(i).starts_with(c)) {
        out += static_cast<char>(b);
        i += c.size();
        found = true;
      }
    }
    if (!found) return std::string(piece);  // an added token
  }
  return out;
}

// The pieces `pre_tokenizer` cuts `text` into, seen through a vocab that has
// each expected piece whole (and ignore_merges): a wrong cut shows as bytes.
Pieces pieces_of(const json& pre_tokenizer, const std::string& text, const Pieces& expected) {
  const Tokenizer tok = Tokenizer::from_json(test::byte_level_json(pre_tokenizer, expected).dump());
  Pieces out;
  for (const int32_t id : tok.encode(text, false)) out.push_back(piece_bytes(tok.id_to_token(id)));
  return out;
}

void expect_split(const json& pre_tokenizer, const std::string& text, const Pieces& expected) {
  EXPECT_EQ(pieces_of(pre_tokenizer, text, expected), expected) << testing::PrintToString(text);
}

TEST(TokenizerByteLevel, Gpt2RegexSplitsLikeGpt2) {
  const json pre = byte_level_pre();
  expect_split(pre, "Hello world's  123!!\n\n", {"Hello", " world", "'s", " ", " 123", "!!", "\n\n"});
  expect_split(pre, "a  b", {"a", " ", " b"});
  expect_split(pre, "x \n y", {"x", " \n", " y"});
  expect_split(pre, "'S 'll 're", {"'", "S", " '", "ll", " '", "re"});  // case-sensitive
  expect_split(pre, "trailing  ", {"trailing", "  "});
  expect_split(pre, "\u00A0x", {"\u00A0", "x"});  // only U+0020 joins the next word
  expect_split(pre, "na\u00EFve caf\u00E9", {"na\u00EFve", " caf\u00E9"});
  expect_split(pre, "\u0663\u0664 \u00BD", {"\u0663\u0664", " \u00BD"});
  expect_split(pre, "a\U0001F600\U0001F600 b", {"a", "\U0001F600\U0001F600", " b"});
  expect_split(pre, "x1y", {"x", "1", "y"});
  expect_split(pre, "", {});
  // The same regex in a Split, as some files write it.
  expect_split(split_then_bytes(kGpt2Regex), "Hello world's  123", {"Hello", " world", "'s", " ", " 123"});
}

TEST(TokenizerByteLevel, Llama3RegexSplitsLikeLlama3) {
  const json pre = split_then_bytes(kLlama3Regex);
  expect_split(pre, "HELLO'S 12345 (x)\n\n  y", {"HELLO", "'S", " ", "123", "45", " (", "x", ")\n\n", " ", " y"});
  expect_split(pre, "a\n\n b", {"a", "\n\n", " b"});
  expect_split(pre, "x \r\n  \ty", {"x", " \r\n", "  ", "\ty"});
  expect_split(pre, "don't DON'T", {"don", "'t", " DON", "'T"});
  expect_split(pre, "'\u017Ft", {"'\u017F", "t"});  // LONG S folds to s
  expect_split(pre, "(word) 1234567", {"(word", ")", " ", "123", "456", "7"});
  expect_split(pre, "\n\nword", {"\n\n", "word"});
  expect_split(pre, "  ", {"  "});
}

TEST(TokenizerByteLevel, Qwen2RegexTakesOneDigitAtATime) {
  const json pre = split_then_bytes(kQwen2Regex);
  expect_split(pre, "x 12345", {"x", " ", "1", "2", "3", "4", "5"});
  expect_split(pre, "It's", {"It", "'s"});
}

TEST(TokenizerByteLevel, SplitBehaviorsAndInvert) {
  const auto with = [](const char* behavior, bool invert) {
    return json{{"type", "Sequence"},
                {"pretokenizers",
                 {{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}},
                  byte_level_pre(false, false)}}};
  };
  expect_split(with("Removed", false), "a-b--c", {"a", "b", "c"});
  expect_split(with("Isolated", false), "a-b--c", {"a", "-", "b", "-", "-", "c"});
  expect_split(with("MergedWithPrevious", false), "a-b--c", {"a-", "b-", "-", "c"});
  expect_split(with("MergedWithNext", false), "a-b--c", {"a", "-b", "-", "-c"});
  expect_split(with("Contiguous", false), "a-b--c", {"a", "-", "b", "--", "c"});
  expect_split(with("Removed", true), "a-b--c", {"-", "-", "-"});
  // Digits: single numbers, or runs of them.
  const json digits = {{"type", "Sequence"},
                       {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level_pre()}}};
  expect_split(digits, "ab123 4", {"ab", "1", "2", "3", " ", "4"});
  const json runs = {{"type", "Sequence"},
                     {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", false}}, byte_level_pre()}}};
  expect_split(runs, "ab123 4", {"ab", "123", " ", "4"});
}

TEST(TokenizerByteLevel, AddPrefixSpaceAppliesToEachPieceBetweenAddedTokens) {
  const Tokenizer tok = Tokenizer::from_json(
      test::byte_level_json(byte_level_pre(true), {" hi", " there", " x"}, {"<|im_start|>"}).dump());
  const int32_t im_start = *tok.token_to_id("<|im_start|>");
  EXPECT_EQ(tok.encode("hi<|im_start|>there x", false),
            (Ids{*tok.token_to_id(test::byte_level(" hi")), im_start, *tok.token_to_id(test::byte_level(" there")),
                 *tok.token_to_id(test::byte_level(" x"))}));
  EXPECT_EQ(tok.decode(tok.encode("hi<|im_start|>there", false), false), " hi<|im_start|> there");
  EXPECT_EQ(tok.decode(tok.encode("hi<|im_start|>there", false), true), " hi there");
}

TEST(TokenizerByteLevel, DecodeJoinsBytesAcrossTokensAndRepairsTheRest) {
  const Tokenizer tok = Tokenizer::from_json(test::byte_level_json(byte_level_pre(), {}, {"<|end|>"}).dump());
  const int32_t end = *tok.token_to_id("<|end|>");
  EXPECT_EQ(tok.decode(Ids{0xC3, 0xA9}), "\u00E9");
  EXPECT_EQ(tok.decode(Ids{0xC3}), "\uFFFD");
  EXPECT_EQ(tok.decode(Ids{0xC3, end, 0xA9}, true), "\u00E9");  // the skipped special does not split it
  EXPECT_EQ(tok.decode(Ids{0xC3, end, 0xA9}, false), "\uFFFD<|end|>\uFFFD");
  // One U+FFFD per maximal ill-formed subsequence, as Rust's from_utf8_lossy.
  EXPECT_EQ(tok.decode(Ids{0xE2, 0x82, 'A'}), "\uFFFDA");
  EXPECT_EQ(tok.decode(Ids{0xFF, 0xFE}), "\uFFFD\uFFFD");
  EXPECT_EQ(tok.decode(Ids{0xED, 0xA0, 0x80}), "\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(tok.decode(Ids{0xF0, 0x9F, 0x98, 0x80}), "\U0001F600");
  EXPECT_EQ(tok.encode("\U0001F600", false), (Ids{0xF0, 0x9F, 0x98, 0x80}));
  std::string out = "stale";
  tok.decode_into(Ids{'a', 0xC3}, true, out);
  EXPECT_EQ(out, "a\uFFFD");
}

TEST(TokenizerByteLevel, AnAddedTokenOutsideTheAlphabetDecodesAsItsText) {
  json j = test::byte_level_json(byte_level_pre(), {});
  j["added_tokens"].push_back({{"id", 256}, {"content", "<tool call>"}, {"special", false}, {"normalized", false}});
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.encode("a<tool call>b", false), (Ids{'a', 256, 'b'}));
  EXPECT_EQ(tok.decode(Ids{'a', 256, 'b'}), "a<tool call>b");
}

TEST(TokenizerByteLevel, StablePrefixHoldsBackAnIncompleteCharacter) {
  const Tokenizer tok =
      Tokenizer::from_json(test::byte_level_json(byte_level_pre(), {"a\xE2", "\x82\xAC"}, {"<|end|>"}).dump());
  const int32_t end = *tok.token_to_id("<|end|>");
  const int32_t a_lead = *tok.token_to_id(test::byte_level("a\xE2"));
  const int32_t tail = *tok.token_to_id(test::byte_level("\x82\xAC"));
  EXPECT_EQ(tok.stable_prefix_length(Ids{'x', 0xC3}), 1u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{'x', 0xC3, 0xA9}), 3u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{'x', 0xE2, 0x82}), 1u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{'x', 0xE2, 0x82, 0xAC}), 4u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{'x', 0xF0, end, 0x9F, 0x98}), 1u);  // specials are transparent
  EXPECT_EQ(tok.stable_prefix_length(Ids{'x', a_lead}), 1u);                 // "a" waits with its E2
  EXPECT_EQ(tok.stable_prefix_length(Ids{'x', a_lead, tail}), 3u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{0xFF}), 1u);        // never valid: final at once
  EXPECT_EQ(tok.stable_prefix_length(Ids{0xE2, 'A'}), 2u);  // already broken
  EXPECT_EQ(tok.stable_prefix_length(Ids{}), 0u);
  EXPECT_THROW(tok.stable_prefix_length(Ids{'x', 999}), Error);

  // The property streaming relies on: the stable prefix's text never changes.
  std::mt19937 rng(3);
  const std::vector<int32_t> choices = {'a', ' ', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xFF,
                                        end, a_lead, tail};
  for (int round = 0; round < 300; ++round) {
    Ids ids(rng() % 12);
    for (int32_t& id : ids) id = choices[rng() % choices.size()];
    for (size_t n = 0; n <= ids.size(); ++n) {
      const size_t stable = tok.stable_prefix_length(std::span(ids).first(n));
      ASSERT_LE(stable, n);
      const std::string fixed = tok.decode(std::span(ids).first(stable));
      for (size_t m = n; m <= ids.size(); ++m) {
        ASSERT_TRUE(tok.decode(std::span(ids).first(m)).starts_with(fixed)) << testing::PrintToString(ids) << n;
      }
    }
  }
}

TEST(TokenizerByteLevel, NfcNormalizerMakesComposedAndDecomposedTheSame) {
  json j = test::byte_level_json(split_then_bytes(kQwen2Regex), {"caf\u00E9", " caf\u00E9"});
  j["normalizer"] = {{"type", "NFC"}};
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.encode("cafe\u0301 caf\u00E9", false), tok.encode("caf\u00E9 caf\u00E9", false));
  EXPECT_EQ(tok.encode("cafe\u0301", false).size(), 1u);
  j["normalizer"] = {{"type", "NFD"}};
  const Tokenizer nfd = Tokenizer::from_json(j.dump());
  EXPECT_EQ(nfd.decode(nfd.encode("caf\u00E9", false)), "cafe\u0301");
}

TEST(TokenizerByteLevel, PostProcessorSequenceAddsTheTemplateBos) {
  json j = test::byte_level_json(split_then_bytes(kLlama3Regex), {}, {"<|begin_of_text|>"});
  const json bos = {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}};
  const json sequence = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  const json special = {{"id", "<|begin_of_text|>"}, {"ids", {256}}, {"tokens", {"<|begin_of_text|>"}}};
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}},
        {{"type", "TemplateProcessing"},
         {"single", {bos, sequence}},
         {"pair", json::array()},
         {"special_tokens", {{"<|begin_of_text|>", special}}}}}}};
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.bos_id(), 256);
  EXPECT_EQ(tok.encode("hi"), (Ids{256, 'h', 'i'}));
  EXPECT_EQ(tok.encode("hi", false), (Ids{'h', 'i'}));
  EXPECT_EQ(tok.decode(Ids{256, 'h', 'i'}), "hi");
}

// A SentencePiece-style vocab in tokenizer.json with the Metaspace pre-tokenizer.
json metaspace_json(const json& pre_tokenizer, const json& decoder) {
  const json vocab = {{"<unk>", 0},      {"<s>", 1},         {"\u2581", 2}, {"\u2581Hello", 3},
                      {"Hello", 4}, {"\u2581world", 5}, {"x", 6}};
  const json model = {
      {"type", "BPE"}, {"unk_token", "<unk>"}, {"ignore_merges", true}, {"vocab", vocab}, {"merges", json::array()}};
  return {{"added_tokens", {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}},
          {"pre_tokenizer", pre_tokenizer},
          {"decoder", decoder},
          {"model", model}};
}

TEST(TokenizerMetaspace, PrependSchemesAndSplit) {
  const json decoder = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}};
  const auto with = [&](const char* scheme, bool split) {
    return Tokenizer::from_json(
        metaspace_json({{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", scheme}, {"split", split}},
                       decoder)
            .dump());
  };
  EXPECT_EQ(with("first", true).encode("Hello world", false), (Ids{3, 5}));
  EXPECT_EQ(with("first", false).encode("Hello", false), (Ids{3}));
  // "first": only the piece at the start of the text gets the prefix.
  EXPECT_EQ(with("first", false).encode("<s>Hello", false), (Ids{1, 4}));
  EXPECT_EQ(with("always", false).encode("<s>Hello", false), (Ids{1, 3}));
  EXPECT_EQ(with("never", true).encode("Hello world", false), (Ids{4, 5}));
  // The older add_prefix_space form.
  const Tokenizer old = Tokenizer::from_json(
      metaspace_json({{"type", "Metaspace"}, {"replacement", "\u2581"}, {"add_prefix_space", true}}, decoder).dump());
  EXPECT_EQ(old.encode("Hello world", false), (Ids{3, 5}));
}

TEST(TokenizerMetaspace, DecoderDropsTheFirstTokensReplacementCharacters) {
  const json pre = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}};
  const Tokenizer always = Tokenizer::from_json(
      metaspace_json(pre, {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}}).dump());
  EXPECT_EQ(always.decode(Ids{3, 5}), "Hello world");
  EXPECT_EQ(always.decode(Ids{2, 3}), " Hello");  // the first token is "▁" alone
  EXPECT_EQ(always.decode(Ids{1, 3}, false), "<s> Hello");
  const Tokenizer never = Tokenizer::from_json(
      metaspace_json(pre, {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "never"}}).dump());
  EXPECT_EQ(never.decode(Ids{3, 5}), " Hello world");
}

TEST(TokenizerByteLevelErrors, UnknownRegexesAndBadOptionsAreRefused) {
  const auto error_of = [](const json& j, std::string* message = nullptr) {
    try {
      Tokenizer::from_json(j.dump());
    } catch (const Error& e) {
      if (message) *message = e.what();
      return e.kind();
    }
    ADD_FAILURE() << "loaded";
    return ErrorKind::kState;
  };
  std::string message;
  EXPECT_EQ(error_of(test::byte_level_json(split_then_bytes(R"(\p{L}+|\p{N}+)"), {}), &message),
            ErrorKind::kUnsupported);
  EXPECT_NE(message.find("unsupported pre-tokenizer regex '\\p{L}+|\\p{N}+'"), std::string::npos) << message;
  EXPECT_EQ(error_of(test::byte_level_json(split_then_bytes(kLlama3Regex, "Sideways"), {})), ErrorKind::kFormat);
  EXPECT_EQ(error_of(test::byte_level_json({{"type", "Whitespace"}}, {}), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("pre_tokenizer type 'Whitespace'"), std::string::npos) << message;
  const json decoder = {{"type", "Metaspace"}, {"replacement", "\u2581"}};
  EXPECT_EQ(error_of(metaspace_json({{"type", "Metaspace"}, {"replacement", "ab"}}, decoder)), ErrorKind::kFormat);
  EXPECT_EQ(error_of(metaspace_json({{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "sometimes"}},
                                    decoder)),
            ErrorKind::kFormat);
  json j = test::byte_level_json(byte_level_pre(), {});
  j["normalizer"] = {{"type", "NFKC"}};
  EXPECT_EQ(error_of(j), ErrorKind::kUnsupported);
  j = test::byte_level_json(byte_level_pre(), {});
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {nullptr}}};
  EXPECT_EQ(error_of(j), ErrorKind::kFormat);
}

TEST(TokenizerByteLevel, LongInputsEncodeQuickly) {
  const Tokenizer tok = Tokenizer::from_json(test::byte_level_json(split_then_bytes(kLlama3Regex), {" upon"}).dump());
  std::string text;
  while (text.size() < 200000) text += "Once upon a time, 12345 caf\u00E9s \U0001F600\n\n  ";
  const auto start = std::chrono::steady_clock::now();
  const Ids ids = tok.encode(text, false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(tok.decode(ids), text);
}

}  // namespace
}  // namespace lm
