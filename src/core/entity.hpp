// Entity ids of journeys that run one enrollment per entity (setting
// entity_property): the canonical key an event's property or enroll's context
// key gives, or why the value is no entity id. track (src/pg/track.cpp) and
// enroll (journey._entity_key) compute every entity key with entity_id, so that
// an entry and the exit rules of its enrollment read one value the same way.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pgj::core {

// The longest entity key, in bytes (the key is stored in an index).
constexpr size_t kMaxEntityIdBytes = 1024;

// An entity id as read: the key, none (JSON null or absent), or the reason the
// value is no entity id ("must be a string or an integer, got an object").
struct EntityId {
  std::optional<std::string> key;
  std::string problem;  // non-empty: refused
};

// The canonical key of a JSON value given as PostgreSQL's jsonb_typeof
// ("string", "number", "boolean", "null", "object", "array"; "" = absent) and
// its ->> text. A string is its own key; a number must be an integer, whose key
// is its decimal digits (1, 1.0, 1.00 and 1e0 are all "1"; -0 is "0"), so the
// number 42 and the string "42" name the same entity; 1.5 or 1.50 are refused.
// Booleans, objects and arrays are refused; null and absent name no entity. A
// key longer than kMaxEntityIdBytes is refused.
EntityId entity_id(std::string_view json_type, std::optional<std::string_view> text);

// The decimal digits of a JSON number text when its value is an integer
// ("-12", "3.000" -> "3", "25e-1" -> nullopt, "1.5e1" -> "15"), else nullopt
// (a fraction, or no JSON number). Longer than max_digits: nullopt, *too_long set.
std::optional<std::string> integer_digits(std::string_view number, size_t max_digits,
                                          bool* too_long = nullptr);

}  // namespace pgj::core
