#include "error.h"

namespace lm {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid_argument";
    case ErrorKind::kFormat: return "format";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kContextOverflow: return "context_overflow";
    case ErrorKind::kResourceLimit: return "resource_limit";
    case ErrorKind::kIo: return "io";
    case ErrorKind::kState: return "state";
  }
  return "unknown";
}

}  // namespace lm
