// JSON type shared by the core: journey definitions, conditions, contexts.
#pragma once
#include <nlohmann/json.hpp>

namespace pgj::core {
using Json = nlohmann::json;
}  // namespace pgj::core
