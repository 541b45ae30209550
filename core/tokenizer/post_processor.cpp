#include "tokenizer/post_processor.h"

#include <utility>

namespace lm::tok {
namespace {

// TemplateProcessing, "single" template: special-token ids and the sequence
// "$A" in the order given.
class TemplateProcessor final : public PostProcessor {
 public:
  struct Item {
    std::vector<int32_t> ids;  // a special token's ids; unused for the sequence
    bool is_sequence = false;
  };
  explicit TemplateProcessor(std::vector<Item> items) : items_(std::move(items)) {}

  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    size_t extra = 0;
    for (const Item& item : items_) extra += item.is_sequence ? ids.size() : item.ids.size();
    out.reserve(extra);
    for (const Item& item : items_) {
      const auto& source = item.is_sequence ? ids : item.ids;
      out.insert(out.end(), source.begin(), source.end());
    }
    ids = std::move(out);
  }

  std::optional<int32_t> leading_id() const override {
    if (items_.empty() || items_.front().is_sequence || items_.front().ids.empty()) return std::nullopt;
    return items_.front().ids.front();
  }

 private:
  std::vector<Item> items_;
};

std::unique_ptr<PostProcessor> parse_template(const Json& j, const std::string& where, int32_t vocab_size) {
  const Json& special_tokens = require(j, "special_tokens", where);
  if (!special_tokens.is_object()) fail_format(where + ".special_tokens must be an object");
  const Json& single = require(j, "single", where);
  if (!single.is_array()) fail_format(where + ".single must be an array");
  std::vector<TemplateProcessor::Item> items;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item_where = where + ".single[" + std::to_string(i) + "]";
    const Json& piece = single[i];
    if (const Json* sequence = member(piece, "Sequence")) {
      const std::string id =
          as_string(require(*sequence, "id", item_where + ".Sequence"), item_where + ".Sequence.id");
      if (id != "A") fail_format(item_where + " uses sequence '" + id + "' in the single template");
      items.push_back(TemplateProcessor::Item{{}, true});
    } else if (const Json* special = member(piece, "SpecialToken")) {
      const std::string name =
          as_string(require(*special, "id", item_where + ".SpecialToken"), item_where + ".SpecialToken.id");
      const Json* entry = member(special_tokens, name.c_str());
      if (entry == nullptr) fail_format(item_where + " names '" + name + "', which special_tokens lacks");
      const Json& ids = require(*entry, "ids", where + ".special_tokens['" + name + "']");
      if (!ids.is_array()) fail_format(where + ".special_tokens['" + name + "'].ids must be an array");
      TemplateProcessor::Item item;
      for (const Json& id : ids) {
        const int32_t value = as_token_id(id, where + ".special_tokens['" + name + "'].ids[]");
        if (value >= vocab_size) {
          fail_format(where + " special token '" + name + "' has id " + std::to_string(value) +
                      " outside the vocab");
        }
        item.ids.push_back(value);
      }
      items.push_back(std::move(item));
    } else {
      fail_format(item_where + " must be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  return std::make_unique<TemplateProcessor>(std::move(items));
}

// ByteLevel as a post-processor only trims offsets: the ids stay as they are.
class IdentityProcessor final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
  std::optional<int32_t> leading_id() const override { return std::nullopt; }
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& step : steps_) step->process(ids);
  }
  // The id the last step that prepends one puts first.
  std::optional<int32_t> leading_id() const override {
    std::optional<int32_t> id;
    for (const auto& step : steps_) {
      if (auto leading = step->leading_id()) id = leading;
    }
    return id;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> parse_post_processor(const Json& j, const std::string& where,
                                                    int32_t vocab_size) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "TemplateProcessing") return parse_template(j, where, vocab_size);
  if (type == "ByteLevel") return std::make_unique<IdentityProcessor>();
  if (type == "Sequence") {
    const auto parse_step = [vocab_size](const Json& step, const std::string& at) {
      return parse_post_processor(step, at, vocab_size);
    };
    return std::make_unique<SequenceProcessor>(parse_sequence(j, "processors", where, parse_step));
  }
  fail_unsupported("post_processor", type);
}

}  // namespace lm::tok
