// lm-story: the native command-line program over core/.
//
//   lm-story --model <dir> --prompt "Once upon a time" --max-tokens 200
//            --temperature 0.8 --top-k 40 --top-p 0.9 --seed 42 [--json]
//   lm-story --model <dir> --tokenize "text"      -> [1, 80, ...]
//   lm-story --model <dir> --detokenize "1,80,147" -> text
//
// Errors: one line on stderr naming the file and the problem, exit code 1
// (2 for a bad command line).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.h"
#include "generator.h"
#include "model.h"
#include "model_files.h"
#include "simd.h"
#include "thread_pool.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kUsage = R"(usage: lm-story [--model DIR|owner/name] [options]
  --prompt TEXT            prompt (default "Once upon a time")
  --max-tokens N           tokens to generate (default 256)
  --temperature T          0 = greedy (default 0.8)
  --top-k K                0 = off (default 40)
  --top-p P                in (0, 1] (default 0.9)
  --repetition-penalty R   1 = off (default 1)
  --seed S                 random seed (default: random, printed to stderr)
  --stop TEXT              stop string (repeatable)
  --ignore-eos             do not stop at the end-of-story token
  --context N              KV cache length (default min(model max, 2048))
  --threads N              worker threads (default 1)
  --weights auto|f32|bf16|q8  weight storage (default auto: as stored; q8: int8, quantized at load)
  --chat                   treat --prompt as a user message, formatted with the model's chat template
  --system TEXT            a system message before it (with --chat)
  --json                   one JSON line per token, then a summary line
  --tokenize TEXT          print the ids of TEXT (with BOS) as a JSON array
  --detokenize IDS         print the text of IDS ("1,80,147" or "[1,80,147]")
--temperature, --top-k, --top-p and --repetition-penalty default to the model's
generation_config.json values when it sets them.
Model files are looked up in: --model, models/story/, ../shared/models/story/,
then downloaded from the Hugging Face repo raincandy-u/TinyStories-656K.
)";

struct UsageError {
  std::string message;
};

struct Args {
  std::string model;
  std::string prompt = "Once upon a time";
  lm::GenerationOptions gen;
  bool seed_given = false;
  // Sampling flags given on the command line (the others take the model's defaults).
  bool temperature_given = false, top_k_given = false, top_p_given = false, penalty_given = false;
  bool json = false;
  bool chat = false;
  std::optional<std::string> system;
  int context = 0;
  int threads = 1;
  std::string weights = "auto";
  std::optional<std::string> tokenize, detokenize;
};

template <class T>
T parse_number(const std::string& flag, const std::string& value) {
  try {
    size_t used = 0;
    T out;
    if constexpr (std::is_same_v<T, float>) out = std::stof(value, &used);
    else if constexpr (std::is_same_v<T, uint64_t>) out = std::stoull(value, &used);
    else out = static_cast<T>(std::stoll(value, &used));
    if (used != value.size()) throw std::invalid_argument(value);
    return out;
  } catch (const std::exception&) {
    throw UsageError{flag + ": not a number: '" + value + "'"};
  }
}

Args parse_args(int argc, char** argv) {
  Args a;
  a.gen.max_tokens = 256;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (flag == "--model") a.model = value();
    else if (flag == "--prompt") a.prompt = value();
    else if (flag == "--max-tokens") a.gen.max_tokens = parse_number<int>(flag, value());
    else if (flag == "--temperature") {
      a.gen.sampling.temperature = parse_number<float>(flag, value());
      a.temperature_given = true;
    } else if (flag == "--top-k") {
      a.gen.sampling.top_k = parse_number<int>(flag, value());
      a.top_k_given = true;
    } else if (flag == "--top-p") {
      a.gen.sampling.top_p = parse_number<float>(flag, value());
      a.top_p_given = true;
    } else if (flag == "--repetition-penalty") {
      a.gen.sampling.repetition_penalty = parse_number<float>(flag, value());
      a.penalty_given = true;
    }
    else if (flag == "--seed") {
      a.gen.sampling.seed = parse_number<uint64_t>(flag, value());
      a.seed_given = true;
    } else if (flag == "--stop") a.gen.stop.push_back(value());
    else if (flag == "--ignore-eos") a.gen.ignore_eos = true;
    else if (flag == "--context") a.context = parse_number<int>(flag, value());
    else if (flag == "--threads") a.threads = parse_number<int>(flag, value());
    else if (flag == "--weights") a.weights = value();
    else if (flag == "--json") a.json = true;
    else if (flag == "--chat") a.chat = true;
    else if (flag == "--system") a.system = value();
    else if (flag == "--tokenize") a.tokenize = value();
    else if (flag == "--detokenize") a.detokenize = value();
    else throw UsageError{"unknown option '" + flag + "'"};
  }
  if (a.weights != "auto" && a.weights != "f32" && a.weights != "bf16" && a.weights != "q8")
    throw UsageError{"--weights must be auto, f32, bf16 or q8"};
  return a;
}

bool has_model_files(const fs::path& dir) {
  return fs::exists(dir / "config.json") && fs::exists(dir / "tokenizer.json") &&
         (fs::exists(dir / "model.safetensors") || fs::exists(dir / "model.safetensors.index.json"));
}

// Downloads the story model's files from the Hugging Face hub into `dir`
// with curl. Fails fast (short connect timeout) where the hub is unreachable.
void download_story_model(const std::string& repo, const fs::path& dir) {
  fs::create_directories(dir);
  for (const char* file : {"config.json", "tokenizer.json", "model.safetensors"}) {
    const std::string url = "https://huggingface.co/" + repo + "/resolve/main/" + file;
    const fs::path part = dir / (std::string(file) + ".part");
    const std::string cmd = "curl -fsSL --connect-timeout 5 --max-time 600 -o '" + part.string() + "' '" + url +
                            "' 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      fs::remove(part);
      throw lm::Error(lm::ErrorKind::kIo, "could not download " + url +
                                              " (is huggingface.co reachable?); put config.json, tokenizer.json "
                                              "and model.safetensors in " + dir.string() + " or pass --model DIR");
    }
    fs::rename(part, dir / file);
  }
}

// --model, then models/story, then ../shared/models/story, then the hub.
fs::path resolve_model(const std::string& flag) {
  const std::string default_repo = "raincandy-u/TinyStories-656K";
  if (!flag.empty()) {
    if (fs::is_directory(flag)) return flag;
    const bool repo_id = flag.find('/') != std::string::npos && flag.find('/') == flag.rfind('/') &&
                         !fs::exists(flag) && flag.front() != '.' && flag.front() != '/';
    if (!repo_id) throw lm::Error(lm::ErrorKind::kIo, flag + ": no such model directory");
    const fs::path dir = fs::path("models") / flag.substr(flag.find('/') + 1);
    if (!has_model_files(dir)) download_story_model(flag, dir);
    return dir;
  }
  for (const fs::path& dir : {fs::path("models/story"), fs::path("../shared/models/story"),
                              fs::path(LM_SOURCE_DIR) / "models/story", fs::path(LM_SOURCE_DIR) / "../shared/models/story"})
    if (has_model_files(dir)) return dir;
  const fs::path dir = fs::path("models/story");
  download_story_model(default_repo, dir);
  return dir;
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::string cleaned;
  for (char ch : text) cleaned += (ch == '[' || ch == ']' || ch == ',') ? ' ' : ch;
  size_t i = 0;
  while (i < cleaned.size()) {
    while (i < cleaned.size() && std::isspace(static_cast<unsigned char>(cleaned[i]))) ++i;
    if (i == cleaned.size()) break;
    size_t j = i;
    while (j < cleaned.size() && !std::isspace(static_cast<unsigned char>(cleaned[j]))) ++j;
    ids.push_back(parse_number<int32_t>("--detokenize", cleaned.substr(i, j - i)));
    i = j;
  }
  return ids;
}

std::string json_string(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

int run(const Args& args) {
  const fs::path dir = resolve_model(args.model);
  lm::LoadOptions load;
  if (args.weights == "f32") load.weight_format = lm::WeightFormat::kF32;
  if (args.weights == "bf16") load.weight_format = lm::WeightFormat::kBF16;
  if (args.weights == "q8") load.weight_format = lm::WeightFormat::kQ8;
  const auto t_load = std::chrono::steady_clock::now();
  std::shared_ptr<const lm::Model> model = lm::Model::load(lm::read_model_dir(dir), load);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();

  if (args.tokenize) {
    std::cout << json(model->tokenizer().encode(*args.tokenize, true)).dump() << "\n";
    return 0;
  }
  if (args.detokenize) {
    std::cout << model->tokenizer().decode(parse_ids(*args.detokenize), true) << "\n";
    return 0;
  }

  lm::GenerationOptions gen = args.gen;
  const lm::SamplerOptions defaults = lm::default_generation_options(*model).sampling;
  if (!args.temperature_given) gen.sampling.temperature = defaults.temperature;
  if (!args.top_k_given) gen.sampling.top_k = defaults.top_k;
  if (!args.top_p_given) gen.sampling.top_p = defaults.top_p;
  if (!args.penalty_given) gen.sampling.repetition_penalty = defaults.repetition_penalty;
  if (!args.seed_given) gen.sampling.seed = (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  std::unique_ptr<lm::ThreadPool> pool;
  if (args.threads > 1) pool = std::make_unique<lm::ThreadPool>(args.threads);
  lm::Generator generator(model, lm::GeneratorConfig{args.context, 128}, pool.get());
  if (args.chat) {
    std::vector<lm::ChatMessage> messages;
    if (args.system) messages.push_back({"system", *args.system});
    messages.push_back({"user", args.prompt});
    generator.start_chat(messages, gen);
  } else {
    generator.start(args.prompt, gen);
  }

  if (!args.json) {
    if (!args.chat) std::cout << args.prompt << std::flush;
    generator.run([](const lm::TokenEvent& e) { std::cout << e.text << std::flush; });
    std::cout << "\n";
    const lm::GenerationStats& s = generator.stats();
    std::fprintf(stderr,
                 "[%s] seed %llu, load %.1f ms, prompt %d tokens at %.0f tok/s, %d tokens at %.1f tok/s, stop: %s\n",
                 lm::simd::backend_name(), static_cast<unsigned long long>(gen.sampling.seed), load_ms,
                 s.prompt_tokens, s.prefill_tokens_per_s(), s.generated_tokens, s.decode_tokens_per_s(),
                 lm::stop_reason_name(generator.stop_reason()));
    return 0;
  }
  generator.run([](const lm::TokenEvent& e) {
    std::cout << "{\"id\":" << e.id << ",\"text\":" << json_string(e.text) << "}\n" << std::flush;
  });
  const lm::GenerationStats& s = generator.stats();
  // Keys in the documented order (the npm CLI prints the same line).
  nlohmann::ordered_json done = {
      {"done", true},
      {"reason", lm::stop_reason_name(generator.stop_reason())},
      {"prompt_ids", std::vector<int32_t>(generator.prompt_ids().begin(), generator.prompt_ids().end())},
      {"ids", std::vector<int32_t>(generator.generated_ids().begin(), generator.generated_ids().end())},
      {"text", generator.text()},
      {"prefill_ms", s.prefill_ms},
      {"decode_tokens_per_s", s.decode_tokens_per_s()}};
  std::cout << done.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const UsageError& e) {
    std::cerr << "lm-story: " << e.message << "\n" << kUsage;
    return 2;
  } catch (const lm::Error& e) {
    std::cerr << "lm-story: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lm-story: " << e.what() << "\n";
    return 1;
  }
}
