// Entity ids: the canonical key of an event property or context key
// (entity.hpp).
#include "core/entity.hpp"

#include "core/engine.hpp"

namespace pgj::core {
namespace {

bool is_decimal_digit(char c) {
  return c >= '0' && c <= '9';
}

// Text of a refused value for a message, at most 40 characters.
std::string shown(std::string_view text) {
  return text.size() <= 40 ? std::string(text) : std::string(text.substr(0, 37)) + "...";
}

}  // namespace

std::optional<std::string> integer_digits(std::string_view s, size_t max_digits, bool* too_long) {
  if (too_long) *too_long = false;
  size_t i = 0;
  const bool negative = i < s.size() && s[i] == '-';
  if (negative) ++i;
  std::string digits;  // every digit of the mantissa
  const size_t int_start = i;
  while (i < s.size() && is_decimal_digit(s[i])) digits += s[i++];
  const size_t int_len = i - int_start;
  if (int_len == 0) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    const size_t frac_start = ++i;
    while (i < s.size() && is_decimal_digit(s[i])) digits += s[i++];
    if (i == frac_start) return std::nullopt;
  }
  long long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    const bool exp_negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const size_t exp_start = i;
    for (; i < s.size() && is_decimal_digit(s[i]); ++i)
      if (exponent < 1'000'000'000) exponent = exponent * 10 + (s[i] - '0');
    if (i == exp_start) return std::nullopt;
    if (exp_negative) exponent = -exponent;
  }
  if (i != s.size()) return std::nullopt;
  // The value is 0.<digits> * 10^point once leading zeros are gone; trailing
  // zeros do not move the point.
  size_t lead = 0;
  while (lead < digits.size() && digits[lead] == '0') ++lead;
  digits.erase(0, lead);
  const long long point = static_cast<long long>(int_len) - static_cast<long long>(lead) + exponent;
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  if (digits.empty()) return std::string("0");
  if (point < static_cast<long long>(digits.size())) return std::nullopt;  // a fraction
  if (point + (negative ? 1 : 0) > static_cast<long long>(max_digits)) {
    if (too_long) *too_long = true;
    return std::nullopt;
  }
  digits.append(static_cast<size_t>(point) - digits.size(), '0');
  return negative ? "-" + digits : digits;
}

EntityId entity_id(std::string_view json_type, std::optional<std::string_view> text) {
  EntityId id;
  if (json_type.empty() || json_type == "null" || !text) return id;
  const std::string expected = "must be a string or an integer, got ";
  if (json_type == "string") {
    id.key = std::string(*text);
  } else if (json_type == "number") {
    bool too_long = false;
    id.key = integer_digits(*text, kMaxEntityIdBytes, &too_long);
    if (too_long)
      id.problem = "is an integer of more than " + std::to_string(kMaxEntityIdBytes) +
                   " digits; an entity id may have at most " + std::to_string(kMaxEntityIdBytes) +
                   " bytes";
    else if (!id.key)
      id.problem = expected + shown(*text);
  } else if (json_type == "boolean") {
    id.problem = expected + std::string(*text);
  } else {
    id.problem = expected + (json_type == "array" ? "an array" : "an object");
  }
  if (id.key && id.key->size() > kMaxEntityIdBytes) {
    id.problem = "is " + std::to_string(id.key->size()) +
                 " bytes long; an entity id may have at most " + std::to_string(kMaxEntityIdBytes) +
                 " bytes";
    id.key.reset();
  }
  return id;
}

Error entity_refusal(const std::string& journey, const std::string& property,
                     const std::string& source, const std::string& problem) {
  return Error(
      sqlstate::kInvalidParameter,
      "entity \"" + property + "\" of " + source + " for journey \"" + journey + "\" " + problem,
      "journey \"" + journey + "\" runs one enrollment per \"" + property +
          "\"; nothing was recorded",
      "pass a string or an integer (1.0 reads as 1) of at most " +
          std::to_string(kMaxEntityIdBytes) + " bytes");
}

std::optional<std::string> entity_property_of(const JourneySettings& settings) {
  if (settings.entity_property.empty()) return std::nullopt;
  return settings.entity_property;
}

void refuse_key_list(const std::string& journey, const JourneySettings& settings, KeyList what) {
  std::optional<std::string> property = entity_property_of(settings);
  if (!property) return;
  const std::string runs =
      "journey \"" + journey + "\" runs one enrollment per \"" + *property + "\": ";
  throw Error(sqlstate::kInvalidParameter,
              runs + (what == KeyList::Simulate
                          ? "it cannot be simulated over customer keys"
                          : "enroll its customers with journey.enroll(..., context)"));
}

std::optional<std::string> context_entity(const std::string& journey,
                                          const JourneySettings& settings,
                                          std::string_view json_type,
                                          std::optional<std::string_view> text) {
  std::optional<std::string> property = entity_property_of(settings);
  if (!property) return std::nullopt;
  EntityId entity = entity_id(json_type, text);
  if (!entity.problem.empty())
    throw entity_refusal(journey, *property, "the context", entity.problem);
  if (!entity.key)
    throw Error(sqlstate::kInvalidParameter, "journey \"" + journey +
                                                 "\" runs one enrollment per \"" + *property +
                                                 "\": the context needs that key");
  return entity.key;
}

}  // namespace pgj::core
