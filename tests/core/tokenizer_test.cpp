// Tokenizer tests: the story tokenizer against the Hugging Face reference
// outputs in shared/golden/tokenizer.json, plus small hand-written
// tokenizer.json files for what the story tokenizer does not exercise (byte
// fallback, added-token options, no decoder) and for the load errors.
#include "tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "error.h"
#include "test_support.h"

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
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("pre_tokenizer type 'ByteLevel'"), std::string::npos) << message;

  j = story_json();
  j["decoder"] = {{"type", "Metaspace"}};
  EXPECT_EQ(load_error(j.dump(), &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("decoder type 'Metaspace'"), std::string::npos) << message;

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

}  // namespace
}  // namespace lm
