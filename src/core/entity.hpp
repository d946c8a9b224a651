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

#include "core/error.hpp"

namespace pgj::core {

struct JourneySettings;

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

// The refusal (22023) of a value that is no entity id of a journey run per
// entity: names the value's entity property, where it came from (`source`:
// `event "x"`, "the context") and the journey; `problem` is entity_id's.
Error entity_refusal(const std::string& journey, const std::string& property,
                     const std::string& source, const std::string& problem);

// The property that names each enrollment's entity in a journey with these
// (compiled) settings: its entity_property; nullopt for a journey that runs one
// enrollment per customer. enroll reads this key of its context.
std::optional<std::string> entity_property_of(const JourneySettings& settings);

// Who hands a journey a list of customer keys without a context: enroll_query
// and scheduled entry triggers (Enroll), journey.simulate (Simulate).
enum class KeyList { Enroll, Simulate };

// Raises 22023 when the journey runs one enrollment per entity: a list of
// customer keys names no entity. The message says what to do instead (`what`).
void refuse_key_list(const std::string& journey, const JourneySettings& settings, KeyList what);

// The entity key of an enrollment journey.enroll makes, from its context's
// value of the entity property (json_type and text as for entity_id): nullopt
// for a journey that runs one enrollment per customer; raises 22023 when the
// context lacks the key (or it is null) or its value is no entity id.
std::optional<std::string> context_entity(const std::string& journey,
                                          const JourneySettings& settings,
                                          std::string_view json_type,
                                          std::optional<std::string_view> text);

}  // namespace pgj::core
