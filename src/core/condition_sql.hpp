// Renders a column-only condition (segment entry triggers) as a SQL boolean
// expression over the audience table aliased "t", so a scheduled segment is one
// set-based query instead of a scan in C++. Same semantics as the evaluator:
// a comparison with NULL is false.
#pragma once
#include <functional>
#include <string>

#include "core/json.hpp"
#include "core/schema.hpp"

namespace pgj::core {

struct SqlQuoting {
  std::function<std::string(const std::string&)> identifier;  // quote_identifier
  std::function<std::string(const std::string&)> literal;     // quote_literal
};

// The SQL for `condition` (already validated with a columns-only scope).
// Throws Error (22023) for anything that has no SQL form here (event/context
// fields, behaviour leaves, changed ops).
std::string condition_to_sql(const Json& condition, const AudienceSchema& schema,
                             const SqlQuoting& quoting);

}  // namespace pgj::core
