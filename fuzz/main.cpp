// One libFuzzer program per target: compiled once per target with
// LM_FUZZ_TARGET_<name> defined (fuzz/CMakeLists.txt).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>

#include "model_files.h"
#include "targets.h"
#include "tokenizer.h"

namespace {
#if defined(LM_FUZZ_TARGET_tokenizer_ops)
std::optional<lm::Tokenizer> story;
#endif
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
#if defined(LM_FUZZ_TARGET_tokenizer_ops)
  try {
    const std::string path = lm::fuzz::story_tokenizer_path(LM_SOURCE_DIR);
    story.emplace(lm::Tokenizer::from_json(lm::read_text_file(path)));
    std::fprintf(stderr, "fuzz_tokenizer_ops: %s (%d tokens)\n", path.c_str(), story->vocab_size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_tokenizer_ops: %s\n", e.what());
    std::exit(2);
  }
#endif
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
#if defined(LM_FUZZ_TARGET_safetensors)
  lm::fuzz::safetensors(data, size);
#elif defined(LM_FUZZ_TARGET_config)
  lm::fuzz::config(data, size);
#elif defined(LM_FUZZ_TARGET_tokenizer_json)
  lm::fuzz::tokenizer_json(data, size);
#elif defined(LM_FUZZ_TARGET_tokenizer_ops)
  lm::fuzz::tokenizer_ops(*story, data, size);
#elif defined(LM_FUZZ_TARGET_model)
  lm::fuzz::model(data, size);
#elif defined(LM_FUZZ_TARGET_sentencepiece)
  lm::fuzz::sentencepiece(data, size);
#else
#error "define LM_FUZZ_TARGET_<name>"
#endif
  return 0;
}
