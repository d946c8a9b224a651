// PostgreSQL side of the engine's Runtime; PostgreSQL calls go through pg_guard.
#include "pg/pg_runtime.hpp"

#include <memory>

#include "core/error.hpp"
#include "pg/as_owner.hpp"
#include "pg/bridge.hpp"
#include "pg/catalog.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/tick.hpp"

extern "C" {
#include "utils/lsyscache.h"
#include "datatype/timestamp.h"
#include "utils/timestamp.h"
}

namespace pgj::pg {

namespace {

// Prepared statements of the runtime, per backend.
std::map<std::string, std::unique_ptr<PreparedStatement>> call_statements;
PreparedStatement happened_statement(
    "SELECT EXISTS (SELECT 1 FROM journey.events ev"
    "  WHERE ev.customer_id = $1 AND ev.name = $2 AND ev.occurred_at <= $3"
    "    AND ($4 IS NULL OR ev.occurred_at >= $4)"
    "    AND ($5 IS NULL OR ev.occurred_at >= (SELECT min(a.at) FROM journey.activity a"
    "                                          WHERE a.enrollment_id = $6 AND a.step_key = $5))"
    // The customer of this audience (events recorded before 0.2 have none), by
    // the audience's id: a Citus shard move copies the audience column's OID.
    "    AND ($7 IS NULL OR ev.audience_id IS NULL"
    "         OR ev.audience_id = (SELECT au.id FROM journey.audiences au"
    "                               WHERE au.relation = $7::regclass)))",
    {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, INT8OID, OIDOID});

// Engagement with the message of the enrollment's latest visit of a step (a
// loop or a re-entry that sends the step again asks about the new message,
// never about an earlier visit's).
PreparedStatement message_happened_statement(
    "SELECT EXISTS (SELECT 1 FROM journey.message_events me"
    "  WHERE me.message_id = (SELECT m.id FROM journey.messages m"
    "                          WHERE m.enrollment_id = $1 AND m.step_key = $2"
    "                          ORDER BY m.visit DESC LIMIT 1)"
    "    AND me.kind = $3"
    "    AND me.occurred_at <= $4 AND ($5 IS NULL OR me.occurred_at >= $5))",
    {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID});

constexpr int64_t kDayMicros = USECS_PER_DAY;

}  // namespace

void PgRuntime::reset_plans() {
  for (auto& [name, statement] : call_statements) statement->reset();
  call_statements.clear();
  happened_statement.reset();
  message_happened_statement.reset();
}

bool PgRuntime::known_zone(const std::string& zone) {
  auto it = known_zones_.find(zone);
  if (it != known_zones_.end()) return it->second;
  return known_zones_.emplace(zone, is_known_timezone(zone)).first->second;
}

Datum PgRuntime::zone_datum(const std::string& zone) {
  auto it = zones_.find(zone);
  if (it != zones_.end()) return it->second;
  const std::string& known = known_zone(zone) ? zone : std::string("UTC");
  Datum datum = string_to_text(known);
  zones_.emplace(zone, datum);
  return datum;
}

int64_t PgRuntime::add_duration(int64_t ts, const core::Duration& d, const std::string& zone) {
  if (core::is_infinite(ts)) return ts;  // infinity plus anything is infinity
  if (d.months == 0 && d.days == 0) {
    int64_t sum;
    if (__builtin_add_overflow(ts, d.micros, &sum))
      throw core::Error("22008", "timestamp out of range");
    return sum;
  }
  Datum tz = zone_datum(zone);
  TimestampTz start = unix_to_pg(ts);
  Interval interval;
  interval.time = d.micros;
  interval.day = d.days;
  interval.month = d.months;
  Interval* span = &interval;
  TimestampTz result = pg_guard([&] {
    // Local wall time in the zone, plus the interval, back to an instant:
    // months and days keep the local time of day across DST changes.
    Datum local = DirectFunctionCall2(timestamptz_zone, tz, TimestampTzGetDatum(start));
    Datum moved = DirectFunctionCall2(timestamp_pl_interval, local, PointerGetDatum(span));
    return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, tz, moved));
  });
  return pg_to_unix(result);
}

int PgRuntime::local_seconds_of_day(int64_t ts, const std::string& zone) {
  Datum tz = zone_datum(zone);
  TimestampTz instant = unix_to_pg(ts);
  Timestamp local = pg_guard([&] {
    return DatumGetTimestamp(
        DirectFunctionCall2(timestamptz_zone, tz, TimestampTzGetDatum(instant)));
  });
  int64_t of_day = local % kDayMicros;
  if (of_day < 0) of_day += kDayMicros;
  return static_cast<int>(of_day / USECS_PER_SEC);
}

int64_t PgRuntime::next_local_time(int64_t after, int seconds_of_day, uint8_t days,
                                   const std::string& zone) {
  Datum tz = zone_datum(zone);
  TimestampTz instant = unix_to_pg(after);
  Timestamp local = pg_guard([&] {
    return DatumGetTimestamp(
        DirectFunctionCall2(timestamptz_zone, tz, TimestampTzGetDatum(instant)));
  });
  int64_t day = local / kDayMicros - (local % kDayMicros < 0 ? 1 : 0);  // days since 2000-01-01
  for (int k = 0; k < 9; ++k) {
    int64_t day_number = day + k;
    // 2000-01-01 was a Saturday (ISO weekday 6).
    int iso_weekday = static_cast<int>(((day_number % 7) + 7 + 5) % 7) + 1;
    if (days != 0 && !(days & (1u << iso_weekday))) continue;
    Timestamp candidate = day_number * kDayMicros + int64_t{seconds_of_day} * USECS_PER_SEC;
    TimestampTz at = pg_guard([&] {
      return DatumGetTimestampTz(
          DirectFunctionCall2(timestamp_zone, tz, TimestampGetDatum(candidate)));
    });
    if (at > instant) return pg_to_unix(at);
  }
  // Unreachable for a valid day mask: a week always has an allowed day.
  return after + 7 * kDayMicros;
}

core::Json PgRuntime::call_function(const std::string& function, const std::string& customer_id,
                                    const core::Json& context) {
  // A simulation calls nothing (the engine takes the step's simulate_result
  // instead; this is the backstop).
  if (simulating()) return core::Json();
  auto it = call_statements.find(function);
  if (it == call_statements.end()) {
    // The name passed validation at publish (an identifier, optionally
    // schema-qualified); it is not quoted again so that it means what it meant.
    auto statement = std::make_unique<PreparedStatement>("SELECT (" + function + "($1, $2))::text",
                                                         std::vector<Oid>{TEXTOID, JSONBOID});
    it = call_statements.emplace(function, std::move(statement)).first;
  }
  Datum args[2] = {string_to_text(customer_id), json_to_jsonb(context)};
  const char nulls[2] = {' ', ' '};
  std::vector<Row> result;
  {
    AsOwner as_owner(journey_ ? journey_->owner : GetUserId(), /*restricted=*/true);
    result = it->second->rows(args, nulls);
  }
  if (result.empty() || !result[0][0]) return core::Json();
  return core::Json::parse(*result[0][0]);
}

bool PgRuntime::simulating() const {
  return pg::simulating();
}

void PgRuntime::check_column_value(int column, const core::Json& value) {
  if (!journey_ || !journey_->audience) return;
  const std::vector<AudienceColumn>& columns = journey_->audience->columns;
  std::optional<std::string> text = json_to_column_text(value);
  if (!text || column < 0 || static_cast<size_t>(column) >= columns.size()) return;
  const AudienceColumn& c = columns[column];
  // The run's subtransaction is rolled back after this error (it fails the run).
  try {
    pg_guard([&] {
      Oid input;
      Oid param;
      getTypeInputInfo(c.type, &input, &param);
      OidInputFunctionCall(input, const_cast<char*>(text->c_str()), param, c.typmod);
    });
  } catch (const PgError& e) {
    throw core::Error(unpack_sql_state(e.data()->sqlerrcode), e.what());
  }
}

bool PgRuntime::happened(const core::Enrollment& enrollment, const std::string& event,
                         const std::string& step, std::optional<core::Duration> within,
                         int64_t as_of) {
  Datum args[7];
  char nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
  args[0] = string_to_text(enrollment.customer_id);
  args[1] = string_to_text(event);
  args[2] = TimestampTzGetDatum(unix_to_pg(as_of));
  if (within) {
    core::Duration back = *within;
    back.months = -back.months;
    back.days = -back.days;
    back.micros = -back.micros;
    args[3] = TimestampTzGetDatum(unix_to_pg(add_duration(as_of, back, "UTC")));
  } else {
    args[3] = 0;
    nulls[3] = 'n';
  }
  if (step.empty()) {
    args[4] = 0;
    nulls[4] = 'n';
  } else {
    args[4] = string_to_text(step);
  }
  args[5] = Int64GetDatum(enrollment.id);
  if (journey_ && journey_->audience) {
    args[6] = ObjectIdGetDatum(journey_->audience->relid);
  } else {
    args[6] = 0;
    nulls[6] = 'n';
  }
  auto rows = happened_statement.rows(args, nulls);
  return !rows.empty() && rows[0][0] && *rows[0][0] == "t";
}

bool PgRuntime::message_happened(const core::Enrollment& enrollment, const std::string& kind,
                                 const std::string& message_of,
                                 std::optional<core::Duration> within, int64_t as_of) {
  Datum args[5];
  char nulls[5] = {' ', ' ', ' ', ' ', ' '};
  args[0] = Int64GetDatum(enrollment.id);
  args[1] = string_to_text(message_of);
  args[2] = string_to_text(kind);
  args[3] = TimestampTzGetDatum(unix_to_pg(as_of));
  if (within) {
    core::Duration back{-within->months, -within->days, -within->micros};
    args[4] = TimestampTzGetDatum(unix_to_pg(add_duration(as_of, back, "UTC")));
  } else {
    args[4] = 0;
    nulls[4] = 'n';
  }
  auto rows = message_happened_statement.rows(args, nulls);
  return !rows.empty() && rows[0][0] && *rows[0][0] == "t";
}

// The template frozen into the running enrollment's version (never the live
// journey.templates: a replaced template reaches a journey through its next publish).
const core::TemplateDef* PgRuntime::find_template(const std::string& name) {
  if (!journey_) return nullptr;
  auto it = journey_->templates.find(name);
  return it == journey_->templates.end() ? nullptr : &it->second;
}

}  // namespace pgj::pg
