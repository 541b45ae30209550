// lm-logits: a test tool that prints raw logits, for comparing the forward
// pass with an independent reference (tests/reference/llama_reference.py).
//
//   lm-logits --model DIR --ids 1,80,147 [--steps N] [--batch B] [--threads N]
//             [--weights auto|f32|bf16|q8] [--context N]
//
// Runs the prompt ids through Model::forward (prefill in chunks of B), then
// N - 1 greedy steps, and prints one JSON object:
//   {"prompt_ids": [...], "greedy": [N ids], "logits": [[vocab floats] x N]}
// where logits[0] follows the prompt and logits[i] follows greedy[i - 1];
// greedy[i] = argmax(logits[i]). Floats are printed exactly (9 significant digits).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "kv_cache.h"
#include "model.h"
#include "model_files.h"
#include "ops.h"
#include "thread_pool.h"

namespace {

constexpr const char* kUsage =
    "usage: lm-logits --model DIR --ids 1,80,147 [--steps N] [--batch B] [--threads N] "
    "[--weights auto|f32|bf16|q8] [--context N]\n";

struct UsageError {
  std::string message;
};

int to_int(const std::string& flag, const std::string& s) {
  try {
    size_t used = 0;
    const int v = std::stoi(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw UsageError{flag + ": not an integer: '" + s + "'"};
  }
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::string item;
  for (size_t i = 0; i <= text.size(); ++i) {
    const char ch = i < text.size() ? text[i] : ',';
    if (ch == ',' || ch == '[' || ch == ']' || ch == ' ') {
      if (!item.empty()) ids.push_back(to_int("--ids", item));
      item.clear();
    } else {
      item += ch;
    }
  }
  return ids;
}

int run(int argc, char** argv) {
  std::string model_dir, weights = "auto";
  std::vector<int32_t> ids;
  int steps = 1, batch = 128, threads = 1, context = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
      return argv[++i];
    };
    if (flag == "--model") model_dir = value();
    else if (flag == "--ids") ids = parse_ids(value());
    else if (flag == "--steps") steps = to_int(flag, value());
    else if (flag == "--batch") batch = to_int(flag, value());
    else if (flag == "--threads") threads = to_int(flag, value());
    else if (flag == "--context") context = to_int(flag, value());
    else if (flag == "--weights") weights = value();
    else throw UsageError{"unknown option '" + flag + "'"};
  }
  if (model_dir.empty() || ids.empty()) throw UsageError{"--model and --ids are required"};
  if (steps < 1 || batch < 1 || threads < 1) throw UsageError{"--steps, --batch and --threads must be >= 1"};

  lm::LoadOptions load;
  if (weights == "f32") load.weight_format = lm::WeightFormat::kF32;
  else if (weights == "bf16") load.weight_format = lm::WeightFormat::kBF16;
  else if (weights == "q8") load.weight_format = lm::WeightFormat::kQ8;
  else if (weights != "auto") throw UsageError{"--weights must be auto, f32, bf16 or q8"};
  const std::shared_ptr<const lm::Model> model = lm::Model::load(lm::read_model_dir(model_dir), load);
  const lm::ModelConfig& c = model->config();

  const int needed = static_cast<int>(ids.size()) + steps - 1;
  lm::KvCache cache(c, context > 0 ? context : needed);
  lm::RunState state(c, batch, cache.context_length());
  std::unique_ptr<lm::ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<lm::ThreadPool>(threads);

  std::vector<int32_t> greedy;
  std::string out = "{\"prompt_ids\":[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "],\"logits\":[";
  int pos = 0;
  std::vector<int32_t> pending = ids;
  char number[32];
  for (int step = 0; step < steps; ++step) {
    for (size_t i = 0; i < pending.size(); i += static_cast<size_t>(batch)) {
      const size_t n = std::min(pending.size() - i, static_cast<size_t>(batch));
      model->forward({pending.data() + i, n}, pos, cache, state, pool.get());
      pos += static_cast<int>(n);
    }
    const float* logits = state.logits.data();
    out += step ? ",[" : "[";
    for (int v = 0; v < c.vocab_size; ++v) {
      std::snprintf(number, sizeof number, "%s%.9g", v ? "," : "", static_cast<double>(logits[v]));
      out += number;
    }
    out += "]";
    const int32_t next = lm::argmax(logits, c.vocab_size);
    greedy.push_back(next);
    pending.assign(1, next);
  }
  out += "],\"greedy\":[";
  for (size_t i = 0; i < greedy.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(greedy[i]);
  }
  out += "]}\n";
  std::cout << out;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "lm-logits: " << e.message << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "lm-logits: " << e.what() << "\n";
    return 1;
  }
}
