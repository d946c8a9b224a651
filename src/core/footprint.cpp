// Heap bytes of compiled objects (footprint.hpp).
#include "core/footprint.hpp"

#include <type_traits>

namespace pgj::core {

namespace {

// A red-black tree node: colour, parent, left, right, then the value.
constexpr size_t kMapNodeHeader = 32;
// An unordered_map node: next pointer, the value, the cached hash (std::string keys).
constexpr size_t kHashNodeExtra = 16;

template <typename T>
size_t optional_bytes(const std::optional<T>& o) {
  return o ? heap_bytes(*o) : 0;
}

}  // namespace

size_t heap_chunk(size_t n) {
  if (n == 0) return 0;
  size_t chunk = (n + sizeof(size_t) + 15) & ~size_t{15};
  return chunk < 32 ? 32 : chunk;
}

size_t heap_bytes(const std::string& s) {
  // Up to 15 characters live in the string object itself (libstdc++'s SSO).
  return s.capacity() > 15 ? heap_chunk(s.capacity() + 1) : 0;
}

size_t heap_bytes(const Json& j) {
  switch (j.type()) {
    case Json::value_t::object: {
      const auto& object = j.get_ref<const Json::object_t&>();
      size_t bytes = heap_chunk(sizeof(Json::object_t));
      for (const auto& [key, value] : object)
        bytes += heap_chunk(kMapNodeHeader + sizeof(Json::object_t::value_type)) + heap_bytes(key) +
                 heap_bytes(value);
      return bytes;
    }
    case Json::value_t::array: {
      const auto& array = j.get_ref<const Json::array_t&>();
      return heap_chunk(sizeof(Json::array_t)) + heap_bytes(array);
    }
    case Json::value_t::string:
      return heap_chunk(sizeof(Json::string_t)) + heap_bytes(j.get_ref<const Json::string_t&>());
    case Json::value_t::binary: {
      const auto& binary = j.get_binary();
      return heap_chunk(sizeof(Json::binary_t)) + heap_chunk(binary.capacity());
    }
    default:
      return 0;
  }
}

size_t heap_bytes(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return heap_bytes(*s);
  return 0;
}

size_t heap_bytes(const CondNode& node) {
  return heap_bytes(node.children) + heap_bytes(node.field) + heap_bytes(node.path) +
         heap_bytes(node.value) + heap_bytes(node.values) + heap_bytes(node.json_value) +
         heap_bytes(node.event) + heap_bytes(node.step) + heap_bytes(node.message_of);
}

size_t heap_bytes(const CompiledCondition& condition) {
  return heap_bytes(condition.root) + heap_bytes(condition.columns_read);
}

namespace {
size_t heap_bytes_of(const TemplateFilter& f) {
  return heap_bytes(f.name) + heap_bytes(f.args) + heap_chunk((f.quoted.capacity() + 63) / 64 * 8);
}
size_t heap_bytes_of(const TemplatePart& p) {
  size_t bytes = heap_bytes(p.text) + optional_bytes(p.default_value) +
                 heap_chunk(p.filters.capacity() * sizeof(TemplateFilter));
  for (const TemplateFilter& f : p.filters) bytes += heap_bytes_of(f);
  return bytes;
}
}  // namespace

size_t heap_bytes(const CompiledTemplate& t) {
  size_t bytes = heap_chunk(t.parts.capacity() * sizeof(TemplatePart)) + heap_bytes(t.errors);
  for (const TemplatePart& p : t.parts) bytes += heap_bytes_of(p);
  return bytes;
}

size_t heap_bytes(const TemplateDef& t) {
  return heap_bytes(t.name) + heap_bytes(t.channel) + optional_bytes(t.subject) +
         heap_bytes(t.body);
}

size_t heap_bytes(const CompiledStep& s) {
  return heap_bytes(s.key) + heap_bytes(s.branches) + heap_bytes(s.channel) +
         heap_bytes(s.template_name) + heap_bytes(s.payload) + heap_bytes(s.until_timezone) +
         heap_bytes(s.event) + heap_bytes(s.message_of) + optional_bytes(s.condition) +
         heap_bytes(s.cases) + heap_bytes(s.variant_names) + heap_bytes(s.variant_weights) +
         heap_bytes(s.set) + heap_bytes(s.function) + optional_bytes(s.simulate_result);
}

size_t heap_bytes(const CompiledExitRule& rule) {
  return heap_bytes(rule.event) + optional_bytes(rule.condition) + heap_bytes(rule.name);
}

size_t heap_bytes(const CompiledJourney& journey) {
  const JourneySettings& s = journey.settings;
  size_t bytes = heap_bytes(journey.name) + heap_bytes(s.timezone) + heap_bytes(s.entity_property) +
                 (s.quiet_hours ? heap_bytes(s.quiet_hours->timezone) : 0) +
                 heap_bytes(journey.steps) + heap_bytes(journey.exit_rules);
  // by_key: its bucket array (one bucket is kept inside the map) and nodes.
  if (journey.by_key.bucket_count() > 1)
    bytes += heap_chunk(journey.by_key.bucket_count() * sizeof(void*));
  for (const auto& [key, index] : journey.by_key)
    bytes +=
        heap_chunk(sizeof(std::pair<const std::string, int>) + kHashNodeExtra) + heap_bytes(key);
  return bytes;
}

size_t heap_bytes(const Column& column) {
  return heap_bytes(column.name) + heap_bytes(column.type_name);
}

size_t heap_bytes(const AudienceSchema& schema) {
  return heap_bytes(schema.relation) + heap_bytes(schema.key_column) + heap_bytes(schema.columns) +
         heap_bytes(schema.recipients);
}

size_t heap_bytes(const std::map<std::string, TemplateDef>& templates) {
  size_t bytes = 0;
  for (const auto& [name, def] : templates)
    bytes += heap_chunk(kMapNodeHeader + sizeof(std::pair<const std::string, TemplateDef>)) +
             heap_bytes(name) + heap_bytes(def);
  return bytes;
}

}  // namespace pgj::core
