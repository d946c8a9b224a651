// Conversions between PostgreSQL datums and the core's C++ types.
#pragma once
#include <optional>
#include <string>

#include "core/json.hpp"
#include "pg/postgres.hpp"

namespace pgj::pg {

// jsonb datum -> core JSON (parses the jsonb's text form).
core::Json jsonb_to_json(Datum jsonb);

// core JSON -> jsonb datum, palloc'd in the current memory context.
Datum json_to_jsonb(const core::Json& value);

// text datum -> std::string.
std::string text_to_string(Datum text);

// std::string -> text datum (palloc'd).
Datum string_to_text(const std::string& value);

// The record a function with OUT parameters returns, from its columns' datums.
Datum result_record(FunctionCallInfo fcinfo, Datum* values, bool* nulls);

// A JSON value as the text a column of that type accepts; nullopt for null.
std::optional<std::string> json_to_column_text(const core::Json& value);

// Reads argument `n` as a string, or `fallback` when it is SQL NULL.
std::string arg_string(FunctionCallInfo fcinfo, int n, const std::string& fallback = {});

// The elements of one-dimensional array argument `n` whose elements are of
// type `type` (none when the argument is SQL NULL), palloc'd.
struct ArrayElements {
  Datum* values = nullptr;
  bool* nulls = nullptr;
  int count = 0;
};
ArrayElements array_arg(FunctionCallInfo fcinfo, int n, Oid type);

}  // namespace pgj::pg
