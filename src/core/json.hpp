// JSON type shared by the core: journey definitions, conditions, contexts.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace pgj::core {
using Json = nlohmann::json;

// Member `key` of object j, or a null JSON when absent or j is not an object
// (const operator[] on a missing key is undefined behaviour in nlohmann::json).
inline const Json& member(const Json& j, const std::string& key) {
  static const Json null_json;
  if (!j.is_object()) return null_json;
  auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}
}  // namespace pgj::core
