// Shared pieces of the libFuzzer targets: the property check, a UTF-8 test, the
// audience fixture and JSON input parsing.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/schema.hpp"

namespace pgj::fuzz {

using core::AudienceSchema;

// Stops the run when a property does not hold: libFuzzer reports the crash and
// writes the input as the reproducer.
#define PGJ_FUZZ_CHECK(cond, what)                                                                \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "property violated at %s:%d: %s\n    %s\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                    \
      __builtin_trap();                                                                           \
    }                                                                                             \
  } while (0)

// Whether s is well-formed UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF): PostgreSQL refuses anything else in a UTF8 database.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// The audience the targets compile against: one column of every type category.
inline const AudienceSchema& customers() {
  static const AudienceSchema schema = [] {
    AudienceSchema s;
    s.relation = "public.customers";
    s.key_column = "id";
    s.columns = {
        {"id", core::ValueType::Int, "bigint"},
        {"email", core::ValueType::Text, "text"},
        {"first_name", core::ValueType::Text, "text"},
        {"plan", core::ValueType::Text, "text"},
        {"score", core::ValueType::Float, "double precision"},
        {"age", core::ValueType::Int, "integer"},
        {"active", core::ValueType::Bool, "boolean"},
        {"unsubscribed", core::ValueType::Bool, "boolean"},
        {"trial_ends_at", core::ValueType::Timestamp, "timestamp with time zone"},
        {"birthday", core::ValueType::Date, "date"},
        {"upgraded_at", core::ValueType::Timestamp, "timestamp with time zone"},
        {"notes", core::ValueType::Text, "text"},
        {"prefs", core::ValueType::Json, "jsonb"},
        {"ip", core::ValueType::Other, "inet"},
        {"tz", core::ValueType::Text, "text"},
    };
    s.email_column = 1;
    s.timezone_column = 14;
    return s;
  }();
  return schema;
}

// Deepest nesting the targets accept. PostgreSQL's jsonb input stops at about
// 15,000 levels (stack depth limit exceeded, default max_stack_depth) and the
// core, built as the extension is, copes with 80,000; under ASan a stack frame
// is several times larger, so deeper inputs only find ASan's stack limit.
inline constexpr int kMaxJsonDepth = 2000;

// Nesting depth of JSON text (brackets outside strings).
inline int json_depth(const uint8_t* data, size_t size) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

// The input as JSON, or nullopt when it is not JSON or nested deeper than
// kMaxJsonDepth (such inputs are skipped: the pg layer only ever hands the core
// parsed jsonb).
inline std::optional<core::Json> parse_json(const uint8_t* data, size_t size) {
  if (json_depth(data, size) > kMaxJsonDepth) return std::nullopt;
  core::Json j = core::Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace pgj::fuzz
