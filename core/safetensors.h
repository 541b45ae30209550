// SafetensorsFile: a parsed, validated .safetensors file over bytes it does not own.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header, then
// the data section. The header maps tensor names to {dtype, shape,
// data_offsets: [begin, end)} (offsets relative to the data section) plus an
// optional "__metadata__" string->string map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tensor.h"

namespace lm {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t begin = 0;  // byte offset of the first element, relative to the data section
  uint64_t end = 0;    // one past the last byte
};

class SafetensorsFile {
 public:
  // Parses and validates every entry before returning: header length within
  // the file, JSON well-formed and of the expected shape, dtype one of
  // F32/F16/BF16 (else an error naming the tensor and the dtype), rank <= 4,
  // offsets within the data section, end - begin == numel * dtype size, no two
  // tensors overlapping. `bytes` must outlive this object. `label` (usually
  // the file name) starts every error message. Throws lm::Error(kFormat /
  // kUnsupported).
  static SafetensorsFile parse(const std::byte* bytes, size_t size, std::string label);

  const std::string& label() const { return label_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in file (data offset) order
  const TensorInfo* find(std::string_view name) const;                // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // View of an entry's bytes (points into the bytes given to parse()). The
  // pointer is not necessarily aligned to the element size (the data section
  // starts at 8 + header length, which files need not pad): callers that read
  // it as float/uint16_t must check alignment and copy when misaligned.
  WeightRef weight(const TensorInfo& info) const;
  const std::byte* data_section() const { return data_; }

 private:
  std::string label_;
  const std::byte* data_ = nullptr;  // start of the data section
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One checkpoint = one or more safetensors files (shards). Tensor names are
// unique across shards.
class Checkpoint {
 public:
  // Throws lm::Error(kFormat) if the file repeats a tensor name another shard has.
  void add(SafetensorsFile file);

  // The entry and the file it lives in; {nullptr, nullptr} when absent.
  std::pair<const TensorInfo*, const SafetensorsFile*> find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name).first != nullptr; }
  const std::vector<SafetensorsFile>& files() const { return files_; }
  size_t tensor_count() const;

 private:
  std::vector<SafetensorsFile> files_;
};

// Shard file names listed in a model.safetensors.index.json text, in first-use
// order, without duplicates. Throws lm::Error(kFormat) when malformed,
// kResourceLimit for text longer than kMaxIndexJsonBytes.
inline constexpr size_t kMaxIndexJsonBytes = size_t{16} << 20;
std::vector<std::string> parse_safetensors_index(std::string_view json_text);

}  // namespace lm
