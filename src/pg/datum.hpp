// Datum builders for batched SPI statements (one-dimensional arrays) and the
// conversion between PostgreSQL timestamps and the core's Unix-epoch micros.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/postgres.hpp"

extern "C" {
#include "utils/date.h"
}

namespace pgj::pg {

// PostgreSQL counts from 2000-01-01, the core from 1970-01-01 (both UTC micros).
// 'infinity' and '-infinity' (PostgreSQL's DT_NOEND and DT_NOBEGIN) map to the
// core's kInfinity and kMinusInfinity, which are the same int64 extremes.
constexpr int64_t kPgEpochInUnixMicros = 946684800000000LL;
inline int64_t pg_to_unix(TimestampTz ts) {
  if (TIMESTAMP_NOT_FINITE(ts)) return ts;
  // The last 30 years of PostgreSQL's range do not fit: just short of infinity.
  if (ts > PG_INT64_MAX - kPgEpochInUnixMicros) return PG_INT64_MAX - 1;
  return ts + kPgEpochInUnixMicros;
}
inline TimestampTz unix_to_pg(int64_t micros) {
  if (micros == PG_INT64_MAX || micros == PG_INT64_MIN) return micros;
  return micros - kPgEpochInUnixMicros;
}
// A date as the core sees it: its midnight UTC (±infinity kept).
inline int64_t date_to_unix(DateADT date) {
  if (DATE_IS_NOEND(date)) return PG_INT64_MAX;
  if (DATE_IS_NOBEGIN(date)) return PG_INT64_MIN;
  return pg_to_unix(int64_t{date} * USECS_PER_DAY);
}

Datum text_array(const std::vector<std::optional<std::string>>& values);
// The elements of a text[] datum (SQL NULL elements skipped).
std::vector<std::string> text_array_values(Datum array);
Datum int8_array(const std::vector<int64_t>& values);
Datum int4_array(const std::vector<int32_t>& values);
Datum bool_array(const std::vector<bool>& values);
// Elements are Unix-epoch micros; nullopt is SQL NULL.
Datum timestamptz_array(const std::vector<std::optional<int64_t>>& values);

// The value of key `key` of a jsonb object as PostgreSQL's operators give it,
// for core to read exactly what SQL would: jsonb_typeof (empty: absent, or the
// jsonb is no object), ->> (nullopt for JSON null and absent) and -> as
// jsonb_out renders it (for messages).
struct JsonbKey {
  std::string json_type;
  std::optional<std::string> text;
  std::string rendered;
};
JsonbKey jsonb_key(Datum jsonb, const std::string& key);

}  // namespace pgj::pg
