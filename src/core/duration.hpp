// Durations (interval-like), times of day, weekdays, ISO timestamps and cron
// schedules: the small text formats journey definitions use for time.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace pgj::core {

// A length of time, split like a PostgreSQL interval so that "1 month" stays a
// calendar month when the pg layer turns it into an interval.
struct Duration {
  int32_t months = 0;
  int32_t days = 0;
  int64_t micros = 0;

  // True when no part is negative and at least one part is positive.
  bool is_positive() const {
    return months >= 0 && days >= 0 && micros >= 0 && (months > 0 || days > 0 || micros > 0);
  }
  // Approximate length in microseconds (a month is 30 days, a day 86400 s);
  // used where no calendar is at hand (the condition evaluator).
  int64_t approx_micros() const;
  // PostgreSQL interval text ("1 mons 2 days 3600000000 microseconds" style,
  // accepted by the interval input function), for the pg layer.
  std::string to_interval_text() const;

  bool operator==(const Duration& o) const {
    return months == o.months && days == o.days && micros == o.micros;
  }
};

inline constexpr int64_t kMicrosPerSecond = 1000000;
inline constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

// PostgreSQL's 'infinity' and '-infinity' of a timestamp or date column, as
// micros since the Unix epoch: they sort after (before) every finite instant,
// so comparisons need no special case.
inline constexpr int64_t kInfinity = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kMinusInfinity = std::numeric_limits<int64_t>::min();
inline bool is_infinite(int64_t micros) {
  return micros == kInfinity || micros == kMinusInfinity;
}

// The longest duration (or offset) a journey may use: 5,000 years either way
// (a year counted as 12 months of 31 days), so that an instant plus or minus it
// stays inside PostgreSQL's timestamp range (4713 BC to 294276 AD).
inline constexpr int64_t kMaxDurationDays = 5000LL * 12 * 31;
// Whether the duration's length (a month counted as 31 days) is at most
// kMaxDurationDays, in both directions.
bool within_timestamp_range(const Duration& d);

// Parses "2 days", "1 day 2 hours", "90 minutes", "30m", "-1 day": one or more
// <integer> <unit> parts, an optional leading "-" negating the whole. Units are
// case-insensitive (s, m, h, d, w, mon, y and their long forms). On failure
// returns nullopt and, when error is non-null, a message naming the text.
std::optional<Duration> parse_duration(std::string_view text, std::string* error);

// Parses "HH:MM" or "HH:MM:SS" (24-hour clock) into seconds since midnight.
std::optional<int> parse_time_of_day(std::string_view text, std::string* error);

// Parses a weekday name (mon..sun or monday..sunday, any case) into its ISO
// number 1 (Monday) .. 7 (Sunday).
std::optional<int> parse_weekday(std::string_view text);

// Parses an ISO date or timestamp, YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|+-HH[:MM]],
// into microseconds since the Unix epoch (UTC when no zone is given);
// "infinity" and "-infinity" give kInfinity and kMinusInfinity.
std::optional<int64_t> parse_timestamp(std::string_view text, std::string* error);

// Formats microseconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"
// ("infinity" / "-infinity" for kInfinity / kMinusInfinity).
std::string format_timestamp(int64_t micros);

// Days since 1970-01-01 of a proleptic Gregorian civil date, and back.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t days, int64_t* y, unsigned* m, unsigned* d);

// An instant (micros since the epoch, UTC) on the calendar: its date, its day
// since the epoch, its time of day and the micros within its second.
struct CivilTime {
  int64_t year = 0;
  unsigned month = 0, day = 0;
  int64_t epoch_day = 0;
  int hour = 0, minute = 0, second = 0;
  int64_t micros = 0;
};
CivilTime civil_time(int64_t micros);

// Checks a pg_cron schedule: 5-field cron (numbers, *, ranges, lists, steps,
// month and day names), @yearly/@annually/@monthly/@weekly/@daily/@midnight/
// @hourly, or "N seconds" (1-59). On failure sets *error (when non-null).
bool is_valid_cron(std::string_view text, std::string* error);

}  // namespace pgj::core
