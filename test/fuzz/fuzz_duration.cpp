// Fuzz target: the time text formats of src/core/duration.hpp (durations, times
// of day, weekdays, ISO timestamps, cron schedules) on arbitrary text.
// Properties: an error message is set exactly when parsing fails (and is valid
// UTF-8 when the input is); surrounding whitespace changes nothing; a parsed
// duration, time of day or timestamp (±infinity too) formats back to text that
// parses to the same value; format_timestamp takes any int64.
#include <cinttypes>
#include <cstring>

#include "core/duration.hpp"
#include "fuzz_common.hpp"

using namespace pgj::core;
using pgj::fuzz::valid_utf8;

namespace {

// Checks the error contract of a parser: message set exactly on failure.
void check_error(bool ok, const std::string& error, std::string_view text, const char* what) {
  PGJ_FUZZ_CHECK(ok == error.empty(), std::string(what) + ": error \"" + error + "\"");
  if (!ok && valid_utf8(text))
    PGJ_FUZZ_CHECK(valid_utf8(error), std::string(what) + " message is not UTF-8: " + error);
}

// Duration: canonical text round trip.
void durations(std::string_view text) {
  std::string error;
  std::optional<Duration> d = parse_duration(text, &error);
  check_error(d.has_value(), error, text, "parse_duration");
  PGJ_FUZZ_CHECK(parse_duration(text, nullptr) == d, "parse_duration without an error pointer");
  PGJ_FUZZ_CHECK(parse_duration(" " + std::string(text) + "\t", nullptr) == d,
                 "parse_duration with surrounding whitespace");
  if (!d) return;
  const bool negative = d->months < 0 || d->days < 0 || d->micros < 0;
  if (negative) PGJ_FUZZ_CHECK(d->months <= 0 && d->days <= 0 && d->micros <= 0, "mixed signs");
  PGJ_FUZZ_CHECK(d->micros % kMicrosPerSecond == 0, "sub-second duration");
  (void)d->approx_micros();
  (void)within_timestamp_range(*d);
  (void)d->is_positive();
  PGJ_FUZZ_CHECK(!d->to_interval_text().empty(), "empty interval text");
  const int64_t months = negative ? -int64_t{d->months} : d->months;
  const int64_t days = negative ? -int64_t{d->days} : d->days;
  const int64_t secs = (negative ? -d->micros : d->micros) / kMicrosPerSecond;
  const std::string canonical = std::string(negative ? "-" : "") + std::to_string(months) +
                                " months " + std::to_string(days) + " days " +
                                std::to_string(secs) + " seconds";
  std::optional<Duration> again = parse_duration(canonical, &error);
  PGJ_FUZZ_CHECK(again && *again == *d, "duration round trip through \"" + canonical + "\"");
}

// Time of day: HH:MM:SS round trip.
void times_of_day(std::string_view text) {
  std::string error;
  std::optional<int> t = parse_time_of_day(text, &error);
  check_error(t.has_value(), error, text, "parse_time_of_day");
  PGJ_FUZZ_CHECK(parse_time_of_day("\n" + std::string(text) + " ", nullptr) == t,
                 "parse_time_of_day with surrounding whitespace");
  if (!t) return;
  PGJ_FUZZ_CHECK(*t >= 0 && *t < 86400, "time of day out of range");
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", *t / 3600, *t / 60 % 60, *t % 60);
  PGJ_FUZZ_CHECK(parse_time_of_day(buf, nullptr) == t, std::string("round trip through ") + buf);
}

// Whether an ISO timestamp from format_timestamp has a four-digit year (the
// only ones parse_timestamp reads back).
bool four_digit_year(const std::string& iso) {
  return iso.size() >= 5 && iso[4] == '-' && iso[0] >= '0' && iso[0] <= '9';
}

// Timestamp: parse -> format -> parse, and format of the value as written.
void timestamps(std::string_view text) {
  std::string error;
  std::optional<int64_t> t = parse_timestamp(text, &error);
  check_error(t.has_value(), error, text, "parse_timestamp");
  PGJ_FUZZ_CHECK(parse_timestamp(" " + std::string(text) + " ", nullptr) == t,
                 "parse_timestamp with surrounding whitespace");
  if (!t) return;
  const std::string iso = format_timestamp(*t);
  if (four_digit_year(iso) || is_infinite(*t))
    PGJ_FUZZ_CHECK(parse_timestamp(iso, nullptr) == t, "timestamp round trip through " + iso);
}

// format_timestamp on any int64 (the first 8 bytes of the input).
void raw_micros(const uint8_t* data, size_t size) {
  int64_t micros = 0;
  std::memcpy(&micros, data, size < sizeof micros ? size : sizeof micros);
  const std::string iso = format_timestamp(micros);
  if (is_infinite(micros))
    PGJ_FUZZ_CHECK(iso == (micros > 0 ? "infinity" : "-infinity"), "format_timestamp: " + iso);
  else
    PGJ_FUZZ_CHECK(iso.size() >= 20 && iso.back() == 'Z', "format_timestamp: " + iso);
  if (four_digit_year(iso) || is_infinite(micros))
    PGJ_FUZZ_CHECK(parse_timestamp(iso, nullptr) == micros,
                   "format_timestamp(" + std::to_string(micros) + ") = " + iso);
}

// Weekdays and cron schedules: contracts only.
void weekdays_and_cron(std::string_view text) {
  std::optional<int> wd = parse_weekday(text);
  PGJ_FUZZ_CHECK(!wd || (*wd >= 1 && *wd <= 7), "weekday out of range");
  std::string error;
  bool ok = is_valid_cron(text, &error);
  check_error(ok, error, text, "is_valid_cron");
  PGJ_FUZZ_CHECK(is_valid_cron(text, nullptr) == ok, "is_valid_cron without an error pointer");
  PGJ_FUZZ_CHECK(is_valid_cron(" " + std::string(text) + " ", nullptr) == ok,
                 "is_valid_cron with surrounding whitespace");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  durations(text);
  times_of_day(text);
  timestamps(text);
  raw_micros(data, size);
  weekdays_and_cron(text);
  return 0;
}
