// Datum builders for batched SPI statements (one-dimensional arrays) and the
// conversion between PostgreSQL timestamps and the core's Unix-epoch micros.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/postgres.hpp"

namespace pgj::pg {

// PostgreSQL counts from 2000-01-01, the core from 1970-01-01 (both UTC micros).
constexpr int64_t kPgEpochInUnixMicros = 946684800000000LL;
inline int64_t pg_to_unix(TimestampTz ts) {
  return ts + kPgEpochInUnixMicros;
}
inline TimestampTz unix_to_pg(int64_t micros) {
  return micros - kPgEpochInUnixMicros;
}

Datum text_array(const std::vector<std::optional<std::string>>& values);
Datum int8_array(const std::vector<int64_t>& values);
Datum int4_array(const std::vector<int32_t>& values);
// Elements are Unix-epoch micros; nullopt is SQL NULL.
Datum timestamptz_array(const std::vector<std::optional<int64_t>>& values);

}  // namespace pgj::pg
