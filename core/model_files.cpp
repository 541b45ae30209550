#include "model_files.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "config.h"
#include "error.h"
#include "safetensors.h"
#include "tokenizer.h"

namespace lm {

void Blob::Free::operator()(std::byte* p) const { std::free(p); }

void Blob::shrink(size_t n) {
  if (n >= size_) return;
  // A failed realloc leaves the block as it was, which still holds the bytes.
  if (auto* p = static_cast<std::byte*>(std::realloc(data_.get(), n == 0 ? 1 : n))) {
    (void)data_.release();
    data_.reset(p);
  }
  size_ = n;
}

Blob Blob::allocate(size_t size) {
  Blob b;
  // (Rounding a size this close to SIZE_MAX up would wrap to a tiny block.)
  if (size > SIZE_MAX - 63)
    throw Error(ErrorKind::kResourceLimit, "out of memory: cannot allocate " + std::to_string(size) + " bytes");
  const size_t rounded = (size + 63) / 64 * 64;
  auto* p = static_cast<std::byte*>(std::aligned_alloc(64, rounded == 0 ? 64 : rounded));
  if (!p) throw Error(ErrorKind::kResourceLimit, "out of memory: cannot allocate " + std::to_string(size) + " bytes");
  b.data_.reset(p);
  b.size_ = size;
  return b;
}

namespace {
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File open_or_throw(const std::filesystem::path& path) {
  File f(std::fopen(path.string().c_str(), "rb"));
  if (!f) throw Error(ErrorKind::kIo, path.string() + ": cannot open (" + std::strerror(errno) + ")");
  // fopen() opens a directory too, and ftell() then gives LONG_MAX as its size.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(ErrorKind::kIo, path.string() + ": not a regular file");
  return f;
}

size_t file_size_or_throw(std::FILE* f, const std::filesystem::path& path) {
  if (std::fseek(f, 0, SEEK_END) != 0) throw Error(ErrorKind::kIo, path.string() + ": cannot seek");
  const long size = std::ftell(f);
  if (size < 0) throw Error(ErrorKind::kIo, path.string() + ": cannot tell size");
  std::rewind(f);
  return static_cast<size_t>(size);
}
}  // namespace

Blob Blob::read_file(const std::filesystem::path& path) {
  File f = open_or_throw(path);
  const size_t size = file_size_or_throw(f.get(), path);
  Blob b = allocate(size);
  if (size && std::fread(b.data(), 1, size, f.get()) != size)
    throw Error(ErrorKind::kIo, path.string() + ": read failed");
  return b;
}

std::string read_text_file(const std::filesystem::path& path, size_t max_bytes) {
  File f = open_or_throw(path);
  const size_t size = file_size_or_throw(f.get(), path);
  if (size > max_bytes)
    throw Error(ErrorKind::kResourceLimit, path.string() + ": the file has " + std::to_string(size) +
                                               " bytes; at most " + std::to_string(max_bytes) + " are accepted");
  std::string s(size, '\0');
  if (size && std::fread(s.data(), 1, size, f.get()) != size) throw Error(ErrorKind::kIo, path.string() + ": read failed");
  return s;
}

ModelFiles read_model_dir(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw Error(ErrorKind::kIo, dir.string() + ": not a directory");
  ModelFiles files;
  // The JSON files' size bounds are checked before reading them whole.
  files.config_json = read_text_file(dir / "config.json", kMaxConfigJsonBytes);
  if (std::filesystem::exists(dir / "tokenizer.json") || !std::filesystem::exists(dir / "tokenizer.model"))
    files.tokenizer_json = read_text_file(dir / "tokenizer.json", kMaxTokenizerJsonBytes);
  else
    files.tokenizer_model = Blob::read_file(dir / "tokenizer.model");
  if (std::filesystem::exists(dir / "generation_config.json"))
    files.generation_config_json = read_text_file(dir / "generation_config.json", kMaxConfigJsonBytes);
  if (std::filesystem::exists(dir / "tokenizer_config.json"))
    files.tokenizer_config_json = read_text_file(dir / "tokenizer_config.json", kMaxTokenizerJsonBytes);
  const auto index = dir / "model.safetensors.index.json";
  std::vector<std::string> names;
  if (std::filesystem::exists(dir / "model.safetensors") || !std::filesystem::exists(index)) {
    names.push_back("model.safetensors");
  } else {
    names = parse_safetensors_index(read_text_file(index, kMaxIndexJsonBytes));
  }
  for (const auto& name : names) {
    // Shard names come from a file: keep them inside the model folder.
    if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name == ".." || name.empty())
      throw Error(ErrorKind::kFormat, "model.safetensors.index.json: invalid shard file name '" + name + "'");
    files.shards.push_back({name, Blob::read_file(dir / name)});
  }
  return files;
}

}  // namespace lm
