// The fuzz targets' bodies, shared by the libFuzzer programs (fuzz/fuzz_*.cpp,
// built with clang by scripts/fuzz.sh) and by the GoogleTest that replays the
// checked-in corpus and every past finding (tests/fuzz/replay_test.cpp), so a
// crash found once stays tested in the ordinary build.
//
// Each target feeds bytes to one core/ entry point and catches lm::Error only:
// any other exception, a sanitizer report, a hang or an allocation past
// libFuzzer's -malloc_limit_mb is a finding. So is a broken documented
// promise, reported by throwing Violation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lm {
class Tokenizer;
}

namespace lm::fuzz {

struct Violation : std::logic_error {
  using std::logic_error::logic_error;
};

// Separates the files of a multi-file input (config | tokenizer | shards...).
inline constexpr std::string_view kSeparator = "\n@@LMFUZZ@@\n";
std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t max_parts);

// (a) SafetensorsFile::parse on each part, Checkpoint::add of the good ones,
//     parse_safetensors_index on each part's text.
void safetensors(const uint8_t* data, size_t size);
// (b) ModelConfig::from_json on part 0, apply_generation_config on part 1,
//     ChatTemplate::from_tokenizer_config on part 2 (tokenizer_config.json).
void config(const uint8_t* data, size_t size);
// (c) Tokenizer::from_json, then encode / decode / stable_prefix_length on what loaded.
void tokenizer_json(const uint8_t* data, size_t size);
// (c') Tokenizer::from_sentencepiece (tokenizer.model), then the same.
void sentencepiece(const uint8_t* data, size_t size);
// (d) encode / decode / stable_prefix_length / TextStream on a fixed tokenizer
//     (the story tokenizer): byte 0 picks the operation, the rest is text or ids.
void tokenizer_ops(const Tokenizer& tokenizer, const uint8_t* data, size_t size);
// (e) Model::load of config | tokenizer | shards (raw mode, first byte odd) or
//     of a tiny model generated from the bytes, mutated (structured mode);
//     then a few bounded generations.
void model(const uint8_t* data, size_t size);

// The tokenizer tokenizer_ops runs on: $LM_FUZZ_TOKENIZER, else the story
// model's, looked for as the tests do: models/story under `source_dir`,
// $LM_SHARED_DIR/models/story, ../shared/models/story. Throws
// std::runtime_error saying where it looked.
std::string story_tokenizer_path(const std::string& source_dir);

}  // namespace lm::fuzz
