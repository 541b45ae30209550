// Tokenizer tests: the story tokenizer against the Hugging Face reference
// outputs in shared/golden/tokenizer.json, plus small hand-written
// tokenizer.json files for what the story tokenizer does not exercise (byte
// fallback, added-token options, no decoder) and for the load errors.
#include "tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "error.h"
#include "test_support.h"
#include "tokenizer_fixtures.h"

#include "count_allocations.h"

namespace lm {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const Tokenizer& story_tokenizer() {
  static const Tokenizer tokenizer =
      Tokenizer::from_json(test::read_file(test::story_model_dir() / "tokenizer.json"));
  return tokenizer;
}

json story_json() { return test::read_json(test::story_model_dir() / "tokenizer.json"); }

// The kind of the lm::Error that `load` throws; fails the test if none.
template <typename F>
ErrorKind error_kind(F&& load, std::string* message = nullptr) {
  try {
    load();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no lm::Error thrown";
  return ErrorKind::kState;
}

ErrorKind load_error(const std::string& text, std::string* message = nullptr) {
  return error_kind([&] { Tokenizer::from_json(text); }, message);
}

// ------------------------------------------------------------ golden cases ---

TEST(TokenizerGolden, AllCasesMatchHuggingFace) {
  const json golden = test::read_json(test::golden_path("tokenizer.json"));
  const Tokenizer& tok = story_tokenizer();
  const json& cases = golden.at("cases");
  ASSERT_EQ(cases.size(), 39u);
  ASSERT_EQ(golden.at("count").get<size_t>(), cases.size());
  for (const json& c : cases) {
    const std::string text = c.at("text");
    SCOPED_TRACE("case " + c.at("id").get<std::string>() + ": " + text.substr(0, 60));
    const Ids ids = c.at("ids");
    const Ids ids_no_special = c.at("ids_no_special");

    EXPECT_EQ(tok.encode(text, true), ids);
    EXPECT_EQ(tok.encode(text, false), ids_no_special);

    // HF reports an added token as the text it matched, which includes the
    // normalizer's '▁'; every other token is its vocab piece.
    const std::vector<std::string> tokens = c.at("tokens_no_special");
    ASSERT_EQ(tokens.size(), ids_no_special.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string piece(tok.id_to_token(ids_no_special[i]));
      if (tokens[i] != piece) {
        EXPECT_TRUE(tok.is_special(ids_no_special[i])) << "token " << i;
        EXPECT_EQ(tokens[i], "\u2581" + piece) << "token " << i;
      }
    }

    EXPECT_EQ(tok.decode(ids, true), c.at("decode").at("skip_special").get<std::string>());
    EXPECT_EQ(tok.decode(ids, false), c.at("decode").at("keep_special").get<std::string>());
    EXPECT_EQ(tok.decode(ids_no_special, true),
              c.at("decode_of_ids_no_special").at("skip_special").get<std::string>());
    EXPECT_EQ(tok.decode(ids_no_special, false),
              c.at("decode_of_ids_no_special").at("keep_special").get<std::string>());
  }
}

TEST(TokenizerStory, VocabularyAndSpecialTokens) {
  const Tokenizer& tok = story_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 2048);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.token_to_id("<unk>"), 0);
  EXPECT_EQ(tok.token_to_id("<|end_story|>"), 2);
  EXPECT_EQ(tok.token_to_id("\u2581"), 80);
  EXPECT_EQ(tok.token_to_id("no such piece"), std::nullopt);
  EXPECT_EQ(tok.id_to_token(80), "\u2581");
  EXPECT_EQ(tok.id_to_token(1), "<|start_story|>");
  EXPECT_EQ(tok.id_to_token(-1), "");
  EXPECT_EQ(tok.id_to_token(2048), "");
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_TRUE(tok.is_special(2));
  EXPECT_FALSE(tok.is_special(80));
  EXPECT_FALSE(tok.is_special(5000));
  EXPECT_EQ(tok.encode(""), Ids{1});
  EXPECT_EQ(tok.encode("", false), Ids{});
}

TEST(TokenizerStory, DecodeRejectsIdsOutsideTheVocab) {
  const Tokenizer& tok = story_tokenizer();
  for (const int32_t bad : {-1, 2048, 1 << 30}) {
    const Ids ids{80, bad};
    EXPECT_EQ(error_kind([&] { tok.decode(ids); }), ErrorKind::kInvalidArgument) << bad;
  }
  EXPECT_EQ(tok.decode(Ids{}), "");
}

TEST(TokenizerStory, InvalidUtf8IsReadAsReplacementCharacter) {
  const Tokenizer& tok = story_tokenizer();
  // One U+FFFD per maximal ill-formed subsequence: "\xE2\x82" is one, "\xFF" another.
  EXPECT_EQ(tok.encode("Tom\xFFhi", false), tok.encode("Tom\uFFFDhi", false));
  EXPECT_EQ(tok.encode("a\xE2\x82", false), tok.encode("a\uFFFD", false));
  const Ids ids = tok.encode("Tom\xFF\xFEhi", false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 1);  // two U+FFFD, fused into one <unk>
}

TEST(TokenizerStory, StreamingByDecodeDifferenceKeepsSpaces) {
  // The generator emits decode(prompt + generated) minus decode(prompt); the
  // Strip decoder removes only the very first space, so words stay apart.
  const Tokenizer& tok = story_tokenizer();
  const Ids all = tok.encode("Once upon a time there was a dog.", false);
  std::string streamed;
  for (size_t n = 1; n <= all.size(); ++n) {
    const std::string before = tok.decode(std::span(all.data(), n - 1));
    const std::string after = tok.decode(std::span(all.data(), n));
    ASSERT_EQ(after.compare(0, before.size(), before), 0);
    streamed += after.substr(before.size());
  }
  EXPECT_EQ(streamed, "Once upon a time there was a dog.");
}

TEST(TokenizerStory, LongInputRoundTripsQuickly) {
  const Tokenizer& tok = story_tokenizer();
  std::string text;
  while (text.size() < 50000) {
    text += "Once upon a time, there was a little girl named Lily. She liked to play outside with Ben. ";
  }
  const auto start = std::chrono::steady_clock::now();
  const Ids ids = tok.encode(text, false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);  // about 10 ms in a Release build
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ(tok.decode(ids), text);

  // One unbroken 20000-character word: no pre-tokenizer, so BPE sees it whole.
  const std::string word(20000, 'a');
  const Ids word_ids = tok.encode(word, false);
  EXPECT_EQ(tok.decode(word_ids), word);
}

TEST(TokenizerStory, NonNormalizedAddedTokenIsMatchedOnRawText) {
  // Llama-2 style: with normalized=false the token matches anywhere in the raw
  // text, and the text after it is normalized on its own (so it gets a '▁').
  json j = story_json();
  for (json& token : j.at("added_tokens")) token["normalized"] = false;
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  const Tokenizer& story = story_tokenizer();
  Ids expected{1};
  for (const int32_t id : story.encode("Once upon a time", false)) expected.push_back(id);
  EXPECT_EQ(tok.encode("<|start_story|>Once upon a time", false), expected);
  // In the middle of a word too, unlike the normalized version.
  const Ids middle = tok.encode("dog<|end_story|>", false);
  ASSERT_FALSE(middle.empty());
  EXPECT_EQ(middle.back(), 2);
  EXPECT_NE(story.encode("dog<|end_story|>", false).back(), 2);
}

TEST(TokenizerStory, RandomTextNeverBreaksEncodeOrDecode) {
  // Even rounds: fragments that stress the added-token split, UTF-8 repair
  // and unk fusion. Odd rounds: fragments the vocab spells exactly, so the
  // text must come back unchanged.
  const std::vector<std::string> tricky = {"<|start_story|>",
                                           "<|end_story|>",
                                           "<unk>",
                                           "<|",
                                           "|>",
                                           " ",
                                           "  ",
                                           "\u2581",
                                           "a",
                                           "Once",
                                           "\xFF",
                                           "\xE2\x82",
                                           "\xF0\x9F",
                                           "\U0001F600",
                                           "\u00E9",
                                           "\t",
                                           "\n",
                                           "<",
                                           "e"};
  const std::vector<std::string> clean = {" ",  "  ", "a",    "Once", "\n",    "<",
                                          "|>", "e",  "dog.", "!",    "\"Hi\""};
  const Tokenizer& tok = story_tokenizer();
  uint32_t state = 12345;
  const auto next = [&state] { return state = state * 1664525u + 1013904223u; };
  for (int round = 0; round < 600; ++round) {
    const auto& fragments = round % 2 == 0 ? tricky : clean;
    std::string text;
    const int length = static_cast<int>(next() % 12);
    for (int k = 0; k < length; ++k) text += fragments[(next() >> 8) % fragments.size()];
    SCOPED_TRACE(testing::PrintToString(text));
    for (const int32_t id : tok.encode(text, true)) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    const Ids ids = tok.encode(text, false);
    for (const int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    const std::string decoded = tok.decode(ids, false);
    if (round % 2 == 1) {
      EXPECT_EQ(decoded, text);
    }
  }
}

TEST(TokenizerErrors, TruncatedOrCorruptedFilesOnlyThrowLmError) {
  const std::string text = test::read_file(test::story_model_dir() / "tokenizer.json");
  uint32_t state = 99;
  for (int round = 0; round < 60; ++round) {
    state = state * 1664525u + 1013904223u;
    std::string broken = text;
    if (round % 2 == 0) {
      broken.resize(state % text.size());
    } else {
      broken[state % text.size()] = "{}[]\":,0x\xFF"[(state >> 20) % 11];
    }
    try {
      Tokenizer::from_json(broken);
    } catch (const Error& e) {
      EXPECT_TRUE(e.kind() == ErrorKind::kFormat || e.kind() == ErrorKind::kUnsupported) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an lm::Error: " << e.what();
    }
  }
}

// ----------------------------------------------- hand-written tokenizers ---

// A SentencePiece-style tokenizer like the story one, with <0xNN> byte tokens.
json byte_fallback_json(bool all_bytes = true) {
  json vocab = json::object();
  vocab["<unk>"] = 0;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    if (all_bytes || b != 0x80) vocab[name] = 1 + b;
  }
  vocab["\u2581"] = 257;
  vocab["a"] = 258;
  vocab["b"] = 259;
  vocab["\u2581a"] = 260;
  vocab["ab"] = 261;
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}}})},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\u2581"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
      {"pre_tokenizer", nullptr},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        // The newer pair form of merges.
        {"merges", json::array({json::array({"\u2581", "a"}), json::array({"a", "b"})})}}},
      {"post_processor", nullptr},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
  };
}

constexpr int32_t byte_id(int b) { return 1 + b; }

TEST(TokenizerByteFallback, UnknownCharactersBecomeByteTokens) {
  const Tokenizer tok = Tokenizer::from_json(byte_fallback_json().dump());
  EXPECT_EQ(tok.bos_id(), std::nullopt);
  // "😀" is F0 9F 98 80; "▁a" merges first (rank 0), so "ab" cannot.
  const Ids ids = tok.encode("a\U0001F600b");
  EXPECT_EQ(ids, (Ids{260, byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80), 259}));
  EXPECT_EQ(tok.decode(ids), "a\U0001F600b");
  EXPECT_EQ(tok.encode("ab", false), (Ids{260, 259}));
  EXPECT_EQ(tok.encode("bab", false), (Ids{257, 259, 261}));
}

TEST(TokenizerByteFallback, DecodeOfBrokenBytesGivesOneReplacementPerByte) {
  const Tokenizer tok = Tokenizer::from_json(byte_fallback_json().dump());
  EXPECT_EQ(tok.decode(Ids{260, byte_id(0xF0), byte_id(0x9F)}), "a\uFFFD\uFFFD");
  EXPECT_EQ(tok.decode(Ids{byte_id(0xC3), byte_id(0xA9), 259}), "\u00E9b");
  EXPECT_EQ(tok.decode(Ids{byte_id(0xC3), 259, byte_id(0xA9)}), "\uFFFDb\uFFFD");
  // Special <unk>: kept or skipped.
  EXPECT_EQ(tok.decode(Ids{258, 0, 259}, false), "a<unk>b");
  EXPECT_EQ(tok.decode(Ids{258, 0, 259}, true), "ab");
}

TEST(TokenizerByteFallback, MissingByteTokenFallsBackToUnk) {
  // Without <0x80>, "😀" cannot be spelled in bytes and is <unk>; "é" (C3 A9)
  // still can. HF appends the byte tokens before flushing the pending <unk>,
  // so "😀é" comes out as bytes first.
  const Tokenizer tok = Tokenizer::from_json(byte_fallback_json(false).dump());
  EXPECT_EQ(tok.encode("\U0001F600\U0001F600a", false), (Ids{257, 0, 258}));
  EXPECT_EQ(tok.encode("\U0001F600\u00E9", false), (Ids{257, byte_id(0xC3), byte_id(0xA9), 0}));
}

TEST(TokenizerByteFallback, StablePrefixExcludesAnOpenByteRun) {
  const Tokenizer tok = Tokenizer::from_json(byte_fallback_json().dump());
  const Ids ids{260, byte_id(0xF0), byte_id(0x9F), 0, byte_id(0x98)};
  // The run F0 9F (<unk> skipped) 98 may still become a character.
  EXPECT_EQ(tok.stable_prefix_length(ids), 1u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{260, 259}), 2u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{260, 0}), 2u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{260, 0, byte_id(0xC3)}), 2u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{}), 0u);
  EXPECT_EQ(error_kind([&] { tok.stable_prefix_length(Ids{260, -5}); }), ErrorKind::kInvalidArgument);
  // The story tokenizer has no byte tokens: everything is stable at once.
  const Ids story_ids = story_tokenizer().encode("Once upon a time");
  EXPECT_EQ(story_tokenizer().stable_prefix_length(story_ids), story_ids.size());
}

// Found by fuzzing (fuzz/regressions/tokenizer_json): stable_prefix_length
// checked only the trailing ids it walked over, so a bad id earlier on went
// unnoticed (decode() refuses it); and it stopped at an id without a piece,
// which decode() skips, so "stable" text could still change: ids "<0x76>",
// hole, "<0xEE>" decode to two U+FFFD, not to the "v" of the prefix.
TEST(TokenizerByteFallback, StablePrefixChecksEveryIdAndSeesThroughHoles) {
  const Tokenizer tok = Tokenizer::from_json(byte_fallback_json().dump());
  EXPECT_EQ(error_kind([&] { tok.stable_prefix_length(Ids{-5, 260}); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(error_kind([&] { tok.stable_prefix_length(Ids{tok.vocab_size(), 259}); }), ErrorKind::kInvalidArgument);

  json j = byte_fallback_json();
  j["added_tokens"].push_back({{"id", 300}, {"content", "<x>"}, {"special", true}});  // ids 262..299: no piece
  const Tokenizer holes = Tokenizer::from_json(j.dump());
  ASSERT_EQ(holes.vocab_size(), 301);
  const Ids ids{260, byte_id(0x76), 270, byte_id(0xEE)};
  const size_t k = holes.stable_prefix_length(ids);
  EXPECT_EQ(k, 1u);
  const std::string all = holes.decode(ids);
  EXPECT_EQ(all, "a\uFFFD\uFFFD");
  EXPECT_EQ(all.compare(0, holes.decode(Ids(ids.begin(), ids.begin() + static_cast<long>(k))).size(),
                        holes.decode(Ids(ids.begin(), ids.begin() + static_cast<long>(k)))),
            0);
}

TEST(TokenizerByteFallback, DecodeIntoReplacesTheBuffer) {
  const Tokenizer tok = Tokenizer::from_json(byte_fallback_json().dump());
  std::string out = "old text";
  tok.decode_into(Ids{260, 259}, true, out);
  EXPECT_EQ(out, "ab");
  tok.decode_into(Ids{258, 0}, false, out);
  EXPECT_EQ(out, "a<unk>");
  tok.decode_into(Ids{}, true, out);
  EXPECT_EQ(out, "");
}

// No normalizer, no decoder; added tokens with lstrip/rstrip and single_word.
json options_json() {
  return {
      {"added_tokens",
       {{{"id", 5}, {"content", "<m>"}, {"lstrip", true}, {"rstrip", true}, {"normalized", false}},
        {{"id", 10}, {"content", "xx"}, {"single_word", true}, {"normalized", false}},
        {{"id", 11}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer", nullptr},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"vocab", {{"<unk>", 0}, {" ", 1}, {"a", 2}, {"b", 3}, {"c", 4}, {"<m>", 5}, {"x", 6}, {"ab", 7}}},
        {"merges", {"a b"}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", json::array()},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {11}}, {"tokens", {"<s>"}}}}}}}},
  };
}

TEST(TokenizerAddedTokens, LstripAndRstripTakeTheSurroundingSpaces) {
  const Tokenizer tok = Tokenizer::from_json(options_json().dump());
  EXPECT_EQ(tok.vocab_size(), 12);
  EXPECT_EQ(tok.bos_id(), 11);
  EXPECT_EQ(tok.encode("ab  <m> c"), (Ids{11, 7, 5, 4}));
  EXPECT_EQ(tok.encode("ab<m>c", false), (Ids{7, 5, 4}));
  // Unknown characters without fuse_unk: one <unk> each.
  EXPECT_EQ(tok.encode("a??", false), (Ids{2, 0, 0}));
}

TEST(TokenizerAddedTokens, SingleWordMatchesOnlyWholeWords) {
  const Tokenizer tok = Tokenizer::from_json(options_json().dump());
  EXPECT_EQ(tok.encode("xx axx xx", false), (Ids{10, 1, 2, 6, 6, 1, 10}));
  EXPECT_EQ(tok.encode("xx_ xx", false), (Ids{6, 6, 0, 1, 10}));
  EXPECT_EQ(tok.encode("xx\u00E9 (xx)", false), (Ids{6, 6, 0, 1, 0, 10, 0}));
}

TEST(TokenizerAddedTokens, WithoutDecoderPiecesAreJoinedWithSpaces) {
  const Tokenizer tok = Tokenizer::from_json(options_json().dump());
  EXPECT_EQ(tok.decode(Ids{11, 10, 1, 2}, false), "<s> xx   a");
  EXPECT_EQ(tok.decode(Ids{11, 10, 1, 2}, true), "xx   a");
  // Ids 8 and 9 are holes in the id range: nothing to decode.
  EXPECT_EQ(tok.decode(Ids{2, 8, 9, 3}), "a b");
  EXPECT_EQ(tok.id_to_token(8), "");
}

// ------------------------------------------------------------ load errors ---

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  std::string message;
  json j = story_json();
  j["model"]["type"] = "Unigram";
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("model type 'Unigram'"), std::string::npos) << message;

  j = story_json();
  j["model"]["type"] = "WordPiece";
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("'WordPiece'"), std::string::npos) << message;

  j = story_json();
  j["normalizer"]["normalizers"].push_back({{"type", "NFKC"}});
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("normalizer type 'NFKC'"), std::string::npos) << message;

  j = story_json();
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("pre_tokenizer type 'BertPreTokenizer'"), std::string::npos) << message;

  j = story_json();
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("decoder type 'WordPiece'"), std::string::npos) << message;

  j = story_json();
  j["post_processor"] = {{"type", "RobertaProcessing"}};
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("post_processor type 'RobertaProcessing'"), std::string::npos) << message;

  j = story_json();
  j["normalizer"]["normalizers"][1]["pattern"] = {{"Regex", "\\s+"}};
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("Regex"), std::string::npos) << message;
}

TEST(TokenizerErrors, MalformedJsonIsAFormatError) {
  const std::string text = test::read_file(test::story_model_dir() / "tokenizer.json");
  std::string message;
  EXPECT_EQ(load_error(text.substr(0, text.size() / 2), &message), ErrorKind::kFormat);
  EXPECT_NE(message.find("tokenizer.json: invalid JSON"), std::string::npos) << message;
  EXPECT_EQ(load_error(""), ErrorKind::kFormat);
  EXPECT_EQ(load_error("[1, 2, 3]"), ErrorKind::kFormat);
  EXPECT_EQ(load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}"),
            ErrorKind::kFormat);
  EXPECT_EQ(load_error("{\"model\": \"\xFF\"}"), ErrorKind::kFormat);  // invalid UTF-8 in JSON
}

// Bounds checked before the work they limit: the text size before parsing,
// the number of merges before reading them.
TEST(TokenizerErrors, OversizedTextAndTooManyMergesAreRefused) {
  std::string message;
  EXPECT_EQ(load_error(std::string(kMaxTokenizerJsonBytes + 1, ' '), &message), ErrorKind::kResourceLimit);
  EXPECT_NE(message.find("at most 67108864"), std::string::npos) << message;

  // 2^22 + 1 merges (zeros: the count is checked before any entry).
  std::string merges = "[";
  for (int i = 0; i <= (1 << 22); ++i) merges += i ? ",0" : "0";
  merges += "]";
  const std::string text = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": )" + merges + "}}";
  EXPECT_EQ(load_error(text, &message), ErrorKind::kFormat);
  EXPECT_NE(message.find("merges has 4194305 entries"), std::string::npos) << message;
}

// Ids index flat tables, so they are bounded before anything is sized by
// them: 2^31 (or 2^22) in the vocab or in added_tokens is a format error
// naming the field; the largest allowed id, 2^22 - 1, loads.
TEST(TokenizerErrors, HugeTokenIdsAreRefusedBeforeAllocating) {
  const auto with_id = [](const char* where, int64_t id) {
    json j = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", json::array()}}}};
    if (std::string(where) == "vocab") j["model"]["vocab"]["b"] = id;
    else j["added_tokens"] = {{{"id", id}, {"content", "<x>"}, {"special", true}}};
    return j.dump();
  };
  for (const char* where : {"vocab", "added_tokens"}) {
    for (int64_t id : {int64_t{1} << 31, int64_t{1} << 22, int64_t{1} << 40}) {
      std::string message;
      EXPECT_EQ(load_error(with_id(where, id), &message), ErrorKind::kFormat) << where << " " << id;
      EXPECT_NE(message.find("out of range"), std::string::npos) << message;
    }
  }
  const Tokenizer top = Tokenizer::from_json(with_id("vocab", (int64_t{1} << 22) - 1));
  EXPECT_EQ(top.vocab_size(), 1 << 22);
  EXPECT_EQ(top.decode(Ids{(1 << 22) - 1}), "b");
}

TEST(TokenizerErrors, DeepNestingIsRefusedWithoutCrashing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string message;
  EXPECT_EQ(load_error(deep, &message), ErrorKind::kFormat);
  EXPECT_NE(message.find("nested deeper"), std::string::npos) << message;
  // Brackets inside strings do not count.
  json j = story_json();
  j["version"] = std::string(1000, '[');
  EXPECT_NO_THROW(Tokenizer::from_json(j.dump()));
}

TEST(TokenizerErrors, BrokenStructureIsAFormatError) {
  std::string message;
  json j = story_json();
  j["model"].erase("vocab");
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kFormat);
  EXPECT_NE(message.find("vocab"), std::string::npos) << message;

  j = story_json();
  j.erase("model");
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["model"]["vocab"] = json::array({"a", "b"});
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["model"]["vocab"]["\u2581"] = -3;
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["model"]["vocab"]["\u2581"] = 1.5;
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["model"]["merges"].push_back("qq zz");
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kFormat);
  EXPECT_NE(message.find("not in the vocab"), std::string::npos) << message;

  j = story_json();
  j["model"]["merges"].push_back("a b c");
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["model"]["merges"].push_back(42);
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["added_tokens"][0].erase("content");
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["post_processor"]["special_tokens"]["<|start_story|>"]["ids"] = {99999};
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["decoder"]["decoders"][3]["content"] = "ab";
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["normalizer"] = "Prepend";
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);

  j = story_json();
  j["model"]["fuse_unk"] = "yes";
  EXPECT_EQ(load_error(j.dump()), ErrorKind::kFormat);
}

TEST(TokenizerErrors, UnkTokenMissingFromVocabFailsOnlyWhenNeeded) {
  // HF loads such a file and fails when an unknown character needs <unk>.
  json j = byte_fallback_json(false);
  j["model"]["unk_token"] = "<missing>";
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.encode("ab", false), (Ids{260, 259}));
  EXPECT_EQ(error_kind([&] { tok.encode("\U0001F600", false); }), ErrorKind::kFormat);
}

// ------------------------------------------------- decode vs a reference ---

// A plain UTF-8 check, written independently of the tokenizer's.
bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    char32_t cp = lead;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1, cp = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, cp = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, cp = lead & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto byte = static_cast<unsigned char>(s[i + k]);
      if ((byte & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (byte & 0x3F);
    }
    const char32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (cp < smallest[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    chars.push_back(s.substr(i, n));
    i += n;
  }
  return chars;
}

// HF's decoders as HF writes them: each step rewrites the whole list.
void reference_chain(const json& decoder, std::vector<std::string>& tokens) {
  const std::string type = decoder.at("type");
  if (type == "Sequence") {
    for (const json& step : decoder.at("decoders")) reference_chain(step, tokens);
  } else if (type == "Replace") {
    const std::string from = decoder.at("pattern").at("String");
    const std::string to = decoder.at("content");
    for (std::string& token : tokens) {
      std::string replaced;
      for (size_t i = 0; i < token.size();) {
        if (!from.empty() && token.compare(i, from.size(), from) == 0) {
          replaced += to;
          i += from.size();
        } else {
          replaced += token[i++];
        }
      }
      token = replaced;
    }
  } else if (type == "ByteFallback") {
    std::vector<std::string> out;
    std::string bytes;
    const auto flush = [&] {
      if (valid_utf8(bytes)) {
        if (!bytes.empty()) out.push_back(bytes);
      } else {
        for (size_t i = 0; i < bytes.size(); ++i) out.push_back("\uFFFD");
      }
      bytes.clear();
    };
    for (const std::string& token : tokens) {
      if (token.size() == 6 && token.starts_with("<0x") && token[5] == '>' &&
          std::isxdigit(static_cast<unsigned char>(token[3])) && std::isxdigit(static_cast<unsigned char>(token[4]))) {
        bytes += static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16));
      } else {
        flush();
        out.push_back(token);
      }
    }
    flush();
    tokens = out;
  } else if (type == "Fuse") {
    std::string all;
    for (const std::string& token : tokens) all += token;
    tokens = {all};
  } else if (type == "Strip") {
    const std::string content = decoder.at("content");
    const size_t start = decoder.at("start");
    const size_t stop = decoder.at("stop");
    for (std::string& token : tokens) {
      const std::vector<std::string> chars = utf8_chars(token);
      size_t begin = 0;
      while (begin < start && begin < chars.size() && chars[begin] == content) ++begin;
      size_t end = chars.size();
      for (size_t n = 0; n < stop && end > begin && chars[end - 1] == content; ++n) --end;
      token.clear();
      for (size_t i = begin; i < end; ++i) token += chars[i];
    }
  } else {
    ADD_FAILURE() << "reference_chain: no " << type;
  }
}

std::string reference_decode(const Tokenizer& tok, const json& decoder, const Ids& ids, bool skip_special) {
  std::vector<std::string> tokens;
  for (const int32_t id : ids) {
    if (!(skip_special && tok.is_special(id))) tokens.emplace_back(tok.id_to_token(id));
  }
  std::string text;
  if (decoder.is_null()) {
    for (size_t i = 0; i < tokens.size(); ++i) text += (i > 0 ? " " : "") + tokens[i];
    return text;
  }
  reference_chain(decoder, tokens);
  for (const std::string& token : tokens) text += token;
  return text;
}

// The byte-fallback tokenizer with a few more pieces ('▁' inside and twice,
// a special and a non-special added token) and the given decoder.
json decode_test_json(const json& decoder) {
  json j = byte_fallback_json();
  j["model"]["vocab"]["\u2581\u2581"] = 262;
  j["model"]["vocab"]["b\u2581"] = 263;
  j["model"]["vocab"]["\u00E9"] = 264;
  j["model"]["vocab"]["aa"] = 265;
  j["added_tokens"].push_back({{"id", 266}, {"content", "<s>"}, {"special", true}});
  j["added_tokens"].push_back({{"id", 267}, {"content", "<x>"}, {"special", false}});
  j["decoder"] = decoder;
  return j;
}

json replace_step(const std::string& from, const std::string& to) {
  return {{"type", "Replace"}, {"pattern", {{"String", from}}}, {"content", to}};
}
json strip_step(const std::string& content, int start, int stop) {
  return {{"type", "Strip"}, {"content", content}, {"start", start}, {"stop", stop}};
}
json sequence(const json& steps) { return {{"type", "Sequence"}, {"decoders", steps}}; }
const json kByteFallback = {{"type", "ByteFallback"}};
const json kFuse = {{"type", "Fuse"}};

// Decoder chains that put each step before and after Fuse, nest, grow and
// shrink the text, and make or break byte tokens.
std::vector<json> decoder_chains() {
  return {
      byte_fallback_json()["decoder"],  // the Llama one: Replace, ByteFallback, Fuse, Strip
      sequence({replace_step("\u2581", " "), kByteFallback, strip_step(" ", 1, 1)}),  // no Fuse
      sequence({strip_step("\u2581", 0, 1), kByteFallback, kFuse,
                sequence({replace_step("\u2581", "<\u2581>"), replace_step("a", "")}), strip_step("<", 2, 1)}),
      sequence({kFuse, kByteFallback, replace_step("\u2581", " ")}),
      sequence({replace_step("a", "<0x41>"), replace_step("b", "<0xC3>"), kByteFallback, kFuse}),
      sequence({kByteFallback, kByteFallback, replace_step("\uFFFD", "?"), kFuse, strip_step("?", 1, 3)}),
      sequence({replace_step("\u2581\u2581", "\u2581"), kFuse, replace_step("aa", "a"), replace_step("a", "aa"),
                replace_step("", "x")}),
      sequence(json::array()),
      kByteFallback,
      nullptr,
  };
}

// Random ids for the byte-fallback vocab: lone and broken bytes, whole
// characters as bytes, special and added tokens, and other pieces.
Ids random_byte_vocab_ids(std::mt19937& rng, size_t length) {
  static const int kBytes[] = {0x41, 0x20, 0x3C, 0x0A, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0,
                               0x9F, 0x98, 0x80, 0xFF, 0xC0, 0xED, 0xA0, 0xF4, 0x90, 0xE0};
  static const std::vector<std::vector<int>> kChars = {
      {0xC3, 0xA9}, {0xE2, 0x82, 0xAC}, {0xF0, 0x9F, 0x98, 0x80}, {0x7A}, {0xF4, 0x8F, 0xBF, 0xBF}};
  static const int32_t kAdded[] = {0, 266, 267};
  Ids ids;
  while (ids.size() < length) {
    const unsigned r = rng() % 100;
    if (r < 35) {
      ids.push_back(byte_id(kBytes[rng() % std::size(kBytes)]));
    } else if (r < 50) {
      for (const int b : kChars[rng() % kChars.size()]) ids.push_back(byte_id(b));
    } else if (r < 62) {
      ids.push_back(kAdded[rng() % std::size(kAdded)]);
    } else {
      ids.push_back(257 + static_cast<int32_t>(rng() % 9));  // 257..265
    }
  }
  return ids;
}

size_t random_length(std::mt19937& rng) { return rng() % 4 == 0 ? rng() % 3 : rng() % 40; }

TEST(TokenizerDecode, MatchesAReferenceChainOnRandomIds) {
  std::mt19937 rng(2024);
  std::string out = "stale";
  for (const json& decoder : decoder_chains()) {
    SCOPED_TRACE(decoder.dump());
    const Tokenizer tok = Tokenizer::from_json(decode_test_json(decoder).dump());
    for (int round = 0; round < 1000; ++round) {
      const Ids ids = random_byte_vocab_ids(rng, random_length(rng));
      for (const bool skip : {true, false}) {
        const std::string expected = reference_decode(tok, decoder, ids, skip);
        ASSERT_EQ(tok.decode(ids, skip), expected) << testing::PrintToString(ids) << " skip " << skip;
        tok.decode_into(ids, skip, out);
        ASSERT_EQ(out, expected);
      }
    }
  }
  // Story vocab: any ids.
  const Tokenizer& story = story_tokenizer();
  const json decoder = story_json().at("decoder");
  for (int round = 0; round < 1000; ++round) {
    Ids ids(random_length(rng));
    for (int32_t& id : ids) id = static_cast<int32_t>(rng() % static_cast<unsigned>(story.vocab_size()));
    for (const bool skip : {true, false}) {
      story.decode_into(ids, skip, out);
      ASSERT_EQ(out, reference_decode(story, decoder, ids, skip)) << testing::PrintToString(ids);
    }
  }
}

TEST(TokenizerDecode, ByteFallbackRunsAfterEachOther) {
  // The first ByteFallback spells "<0x41>" out of byte tokens; the second reads it.
  const json decoder = sequence({kByteFallback, kByteFallback, kFuse});
  const Tokenizer tok = Tokenizer::from_json(decode_test_json(decoder).dump());
  Ids ids;
  for (const char c : std::string("<0x41>")) ids.push_back(byte_id(c));
  EXPECT_EQ(tok.decode(ids), "A");
  EXPECT_EQ(reference_decode(tok, decoder, ids, true), "A");
  // After Fuse, a whole text that is one byte token.
  const Tokenizer fused = Tokenizer::from_json(decode_test_json(sequence({kFuse, kByteFallback})).dump());
  EXPECT_EQ(fused.decode(Ids{byte_id(0x41)}), "A");
  EXPECT_EQ(fused.decode(Ids{byte_id(0xC3)}), "\uFFFD");
  EXPECT_EQ(fused.decode(Ids{byte_id(0xC3), byte_id(0xA9)}), "<0xC3><0xA9>");
}

TEST(TokenizerDecode, GrowingSequenceDecodesLikeTheReference) {
  // As the streaming generator does: the same buffer, one more id each time.
  std::mt19937 rng(7);
  const json decoder = byte_fallback_json()["decoder"];
  const Tokenizer tok = Tokenizer::from_json(decode_test_json(decoder).dump());
  Ids ids = random_byte_vocab_ids(rng, 3000);
  ids.resize(3000);
  const Tokenizer& story = story_tokenizer();
  Ids story_ids(3000);
  for (int32_t& id : story_ids) id = static_cast<int32_t>(rng() % static_cast<unsigned>(story.vocab_size()));
  std::string out;
  std::string story_out;
  for (size_t n = 0; n <= ids.size(); ++n) {
    tok.decode_into(std::span(ids).first(n), true, out);
    story.decode_into(std::span(story_ids).first(n), true, story_out);
    if (n % 37 == 0 || n == ids.size()) {
      const Ids prefix(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(n));
      ASSERT_EQ(out, reference_decode(tok, decoder, prefix, true)) << n;
      const Ids story_prefix(story_ids.begin(), story_ids.begin() + static_cast<ptrdiff_t>(n));
      ASSERT_EQ(story_out, reference_decode(story, story_json().at("decoder"), story_prefix, true)) << n;
    }
  }
}

TEST(TokenizerDecode, DecodeIntoAndStablePrefixDoNotAllocate) {
  std::mt19937 rng(11);
  std::vector<Tokenizer> tokenizers;
  std::vector<Ids> sequences;
  for (const json& decoder : decoder_chains()) {
    tokenizers.push_back(Tokenizer::from_json(decode_test_json(decoder).dump()));
    sequences.push_back(random_byte_vocab_ids(rng, 500));
  }
  tokenizers.push_back(Tokenizer::from_json(story_json().dump()));
  sequences.push_back(story_tokenizer().encode(
      "Once upon a time, there was a little girl named Lily. She liked to play outside with Ben. "
      "One day, they found a big red ball in the park. \"Can we play with it?\" asked Ben."));
  // Byte-level BPE (bytes, broken characters and a special token) ...
  tokenizers.push_back(Tokenizer::from_json(
      test::byte_level_json({{"type", "ByteLevel"}, {"add_prefix_space", false}}, {" upon"}, {"<|end|>"}).dump()));
  Ids byte_ids;
  for (int i = 0; i < 500; ++i) byte_ids.push_back(static_cast<int32_t>(rng() % 258));
  sequences.push_back(byte_ids);
  // ... and a SentencePiece model with byte pieces.
  test::SpmModel spm = test::SpmModel::with_specials();
  spm.add_bytes();
  for (const char* piece : {"\u2581", "a", "b", "\u2581a", "ab"}) spm.pieces.push_back({piece, -1.0f, 1});
  const std::string spm_bytes = spm.serialize();
  tokenizers.push_back(
      Tokenizer::from_sentencepiece(reinterpret_cast<const std::byte*>(spm_bytes.data()), spm_bytes.size()));
  Ids spm_ids;
  for (int i = 0; i < 500; ++i) spm_ids.push_back(static_cast<int32_t>(rng() % spm.pieces.size()));
  sequences.push_back(spm_ids);
  std::string out;
  size_t stable_sum = 0;
  const auto pass = [&] {
    for (size_t t = 0; t < tokenizers.size(); ++t) {
      const std::span<const int32_t> ids = sequences[t];
      for (size_t n = 0; n <= ids.size(); ++n) {
        for (const bool skip : {true, false}) tokenizers[t].decode_into(ids.first(n), skip, out);
        stable_sum += tokenizers[t].stable_prefix_length(ids.first(n));
      }
    }
  };
  out.reserve(1 << 16);
  pass();  // warm-up: this thread's decoder scratch grows to the longest byte run
  allocations = 0;
  counting = true;
  pass();
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  EXPECT_GT(stable_sum, 0u);
}

TEST(TokenizerDecode, ConcurrentDecodesAreIndependent) {
  const Tokenizer tok = Tokenizer::from_json(decode_test_json(byte_fallback_json()["decoder"]).dump());
  std::mt19937 rng(5);
  std::vector<Ids> inputs;
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) {
    inputs.push_back(random_byte_vocab_ids(rng, 1 + rng() % 60));
    expected.push_back(tok.decode(inputs.back()));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string out;
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          const size_t k = (i * 7 + static_cast<size_t>(t) * 13 + static_cast<size_t>(round)) % inputs.size();
          tok.decode_into(inputs[k], true, out);
          if (out != expected[k]) ++mismatches;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TokenizerAddedTokens, ManyStrippingMatchesEncodeInLinearTime) {
  // A tab token with lstrip and rstrip. Its first match takes all the tabs
  // after it; HF still emits each later match among them (as an empty piece),
  // and finding what each one takes must not rescan all the tabs.
  json j = options_json();
  j["added_tokens"].push_back(
      {{"id", 12}, {"content", "\t"}, {"lstrip", true}, {"rstrip", true}, {"normalized", false}});
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.encode("a\t\tb \tc", false), (Ids{2, 12, 12, 3, 12, 4}));
  const std::string tabs(200000, '\t');
  const auto start = std::chrono::steady_clock::now();
  const Ids ids = tok.encode(tabs + "<m>" + tabs + "ab", false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);  // a few ms; quadratic took minutes
  Ids expected(200000, 12);
  expected.push_back(5);
  expected.insert(expected.end(), 200000, 12);
  expected.push_back(7);
  EXPECT_EQ(ids, expected);
}

}  // namespace
}  // namespace lm
