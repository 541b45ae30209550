// lm::Error: the one exception type core/ throws.
//
// Decision (applies everywhere): core/ reports failures with exceptions. The
// native CLI catches them in main(); the WebAssembly build uses
// -fwasm-exceptions and the Embind boundary catches them and turns each into a
// JS Error carrying the message and the kind. Nothing in core/ calls exit() or
// abort() on bad input.
#pragma once

#include <stdexcept>
#include <string>

namespace lm {

enum class ErrorKind {
  kInvalidArgument,  // a caller-supplied option or argument is out of range
  kFormat,           // a model file (safetensors, config.json, tokenizer.json) is malformed
  kUnsupported,      // well-formed input that uses a feature lm-wasm does not implement
  kContextOverflow,  // the prompt does not fit the context window
  kResourceLimit,    // a size exceeds a memory budget or a hard limit
  kIo,               // a file could not be read
  kState,            // an object was used in the wrong state (e.g. next() before start())
};

// Stable lowercase name of a kind, e.g. "format"; JS sees it as Error.code.
const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace lm
