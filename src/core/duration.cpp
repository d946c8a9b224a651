// Parsing of the time-related text formats used in journey definitions.
#include "core/duration.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

namespace pgj::core {

namespace {

// Sets *error to msg when error is non-null; returns nullopt-friendly false.
bool fail(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
  return false;
}

// Lower-cases ASCII letters of s.
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The character starting at s[i] with its UTF-8 continuation bytes, for
// messages: a lone byte of a multibyte character is not valid UTF-8.
std::string char_at(std::string_view s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
  return std::string(s.substr(i, j - i));
}

// Strips leading and trailing whitespace.
std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

enum class Unit { Second, Minute, Hour, Day, Week, Month, Year };

// Maps a (lower-case) unit word to its unit.
std::optional<Unit> unit_of(const std::string& u) {
  static const std::pair<const char*, Unit> kUnits[] = {
      {"s", Unit::Second},       {"sec", Unit::Second},     {"secs", Unit::Second},
      {"second", Unit::Second},  {"seconds", Unit::Second}, {"m", Unit::Minute},
      {"min", Unit::Minute},     {"mins", Unit::Minute},    {"minute", Unit::Minute},
      {"minutes", Unit::Minute}, {"h", Unit::Hour},         {"hr", Unit::Hour},
      {"hrs", Unit::Hour},       {"hour", Unit::Hour},      {"hours", Unit::Hour},
      {"d", Unit::Day},          {"day", Unit::Day},        {"days", Unit::Day},
      {"w", Unit::Week},         {"week", Unit::Week},      {"weeks", Unit::Week},
      {"mon", Unit::Month},      {"month", Unit::Month},    {"months", Unit::Month},
      {"y", Unit::Year},         {"year", Unit::Year},      {"years", Unit::Year},
  };
  for (const auto& [name, unit] : kUnits)
    if (u == name) return unit;
  return std::nullopt;
}

// Adds a*b to *acc with overflow checks (all values non-negative).
bool add_mul(int64_t* acc, int64_t a, int64_t b, int64_t limit) {
  if (a != 0 && b > limit / a) return false;
  int64_t p = a * b;
  if (*acc > limit - p) return false;
  *acc += p;
  return true;
}

// Number of days in month m of year y.
unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

// Reads exactly n digits at s[*pos] into *out.
bool read_digits(std::string_view s, size_t* pos, int n, int* out) {
  int v = 0;
  for (int i = 0; i < n; ++i) {
    if (*pos >= s.size() || !is_digit(s[*pos])) return false;
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
  }
  *out = v;
  return true;
}

// Adds n units to a duration's parts (months, days, microseconds); false when
// a part would leave its range.
bool add_unit(Unit unit, int64_t n, int64_t* months, int64_t* days, int64_t* micros) {
  constexpr int64_t kMaxMonths = std::numeric_limits<int32_t>::max();
  constexpr int64_t kMaxDays = std::numeric_limits<int32_t>::max();
  constexpr int64_t kMaxMicros = std::numeric_limits<int64_t>::max();
  switch (unit) {
    case Unit::Second:
      return add_mul(micros, n, kMicrosPerSecond, kMaxMicros);
    case Unit::Minute:
      return add_mul(micros, n, 60 * kMicrosPerSecond, kMaxMicros);
    case Unit::Hour:
      return add_mul(micros, n, 3600 * kMicrosPerSecond, kMaxMicros);
    case Unit::Day:
      return add_mul(days, n, 1, kMaxDays);
    case Unit::Week:
      return add_mul(days, n, 7, kMaxDays);
    case Unit::Month:
      return add_mul(months, n, 1, kMaxMonths);
    case Unit::Year:
      return add_mul(months, n, 12, kMaxMonths);
  }
  return true;
}

}  // namespace

// Days since 1970-01-01 of a proleptic Gregorian civil date.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// Civil date of a count of days since 1970-01-01.
void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

// Approximate length in microseconds (month = 30 days), saturating.
int64_t Duration::approx_micros() const {
  long double v = static_cast<long double>(months) * 30 * kMicrosPerDay +
                  static_cast<long double>(days) * kMicrosPerDay + static_cast<long double>(micros);
  if (v > static_cast<long double>(std::numeric_limits<int64_t>::max()))
    return std::numeric_limits<int64_t>::max();
  if (v < static_cast<long double>(std::numeric_limits<int64_t>::min()))
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

// Interval text the PostgreSQL interval input accepts.
std::string Duration::to_interval_text() const {
  return std::to_string(months) + " mons " + std::to_string(days) + " days " +
         std::to_string(micros) + " microseconds";
}

// Parses "<n> <unit> [<n> <unit> ...]" with an optional leading "-".
std::optional<Duration> parse_duration(std::string_view text, std::string* error) {
  const std::string quoted = "invalid duration \"" + std::string(text) + "\"";
  std::string_view s = trim(text);
  if (s.empty()) {
    fail(error, quoted + ": empty");
    return std::nullopt;
  }
  bool negative = false;
  if (s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
    s = trim(s);
  }
  int64_t months = 0, days = 0, micros = 0;
  size_t i = 0;
  int parts = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) break;
    if (!is_digit(s[i])) {
      size_t j = i;
      while (j < s.size() && !is_space(s[j])) ++j;
      fail(error,
           quoted + ": expected a number before \"" + std::string(s.substr(i, j - i)) + "\"");
      return std::nullopt;
    }
    int64_t n = 0;
    while (i < s.size() && is_digit(s[i])) {
      int d = s[i] - '0';
      if (n > (std::numeric_limits<int64_t>::max() - d) / 10) {
        fail(error, quoted + ": number out of range");
        return std::nullopt;
      }
      n = n * 10 + d;
      ++i;
    }
    while (i < s.size() && is_space(s[i])) ++i;
    size_t u0 = i;
    while (i < s.size() && is_alpha(s[i])) ++i;
    if (u0 == i) {
      if (i < s.size())
        fail(error, quoted + ": unexpected \"" + char_at(s, i) + "\"");
      else
        fail(error, quoted + ": missing unit after " + std::to_string(n));
      return std::nullopt;
    }
    std::string word(s.substr(u0, i - u0));
    // A word glued to trailing junk ("3days!") is reported as the whole token;
    // a digit may follow directly ("1h30m").
    if (i < s.size() && !is_space(s[i]) && !is_digit(s[i])) {
      size_t j = i;
      while (j < s.size() && !is_space(s[j])) ++j;
      fail(error, quoted + ": unknown unit \"" + std::string(s.substr(u0, j - u0)) + "\"");
      return std::nullopt;
    }
    auto unit = unit_of(lower(word));
    if (!unit) {
      fail(error, quoted + ": unknown unit \"" + word + "\"");
      return std::nullopt;
    }
    bool ok = add_unit(*unit, n, &months, &days, &micros);
    if (!ok) {
      fail(error, quoted + ": out of range");
      return std::nullopt;
    }
    ++parts;
  }
  if (parts == 0) {
    fail(error, quoted + ": missing number and unit");
    return std::nullopt;
  }
  Duration d;
  d.months = static_cast<int32_t>(negative ? -months : months);
  d.days = static_cast<int32_t>(negative ? -days : days);
  d.micros = negative ? -micros : micros;
  return d;
}

// Parses HH:MM[:SS] into seconds since midnight.
std::optional<int> parse_time_of_day(std::string_view text, std::string* error) {
  std::string_view s = trim(text);
  const std::string msg = "invalid time of day \"" + std::string(text) + "\" (expected HH:MM)";
  size_t pos = 0;
  int h = 0, m = 0, sec = 0;
  // Accept a one-digit hour ("9:30") as well as two digits.
  if (s.size() >= 2 && is_digit(s[0]) && s[1] == ':') {
    h = s[0] - '0';
    pos = 1;
  } else if (!read_digits(s, &pos, 2, &h)) {
    fail(error, msg);
    return std::nullopt;
  }
  if (pos >= s.size() || s[pos] != ':') {
    fail(error, msg);
    return std::nullopt;
  }
  ++pos;
  if (!read_digits(s, &pos, 2, &m)) {
    fail(error, msg);
    return std::nullopt;
  }
  if (pos < s.size()) {
    if (s[pos] != ':') {
      fail(error, msg);
      return std::nullopt;
    }
    ++pos;
    if (!read_digits(s, &pos, 2, &sec) || pos != s.size()) {
      fail(error, msg);
      return std::nullopt;
    }
  }
  if (h > 23 || m > 59 || sec > 59) {
    fail(error, "invalid time of day \"" + std::string(text) + "\" (out of range)");
    return std::nullopt;
  }
  return h * 3600 + m * 60 + sec;
}

// Maps weekday names to ISO numbers.
std::optional<int> parse_weekday(std::string_view text) {
  static const char* kShort[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  static const char* kLong[] = {"monday", "tuesday",  "wednesday", "thursday",
                                "friday", "saturday", "sunday"};
  std::string s = lower(trim(text));
  for (int i = 0; i < 7; ++i)
    if (s == kShort[i] || s == kLong[i]) return i + 1;
  return std::nullopt;
}

// Parses an ISO 8601 date/timestamp into micros since the Unix epoch (UTC).
std::optional<int64_t> parse_timestamp(std::string_view text, std::string* error) {
  std::string_view s = trim(text);
  auto bad = [&](const char* why) -> std::optional<int64_t> {
    fail(error, "invalid timestamp \"" + std::string(text) + "\" (" + why + ")");
    return std::nullopt;
  };
  const std::string word = lower(s);
  if (word == "infinity" || word == "+infinity") return kInfinity;
  if (word == "-infinity") return kMinusInfinity;
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, &pos, 4, &y) || pos >= s.size() || s[pos++] != '-' ||
      !read_digits(s, &pos, 2, &mo) || pos >= s.size() || s[pos++] != '-' ||
      !read_digits(s, &pos, 2, &d))
    return bad("expected YYYY-MM-DD[ HH:MM[:SS]][zone]");
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, mo))
    return bad("date out of range");
  int64_t frac_micros = 0;
  int64_t offset_secs = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    ++pos;
    if (!read_digits(s, &pos, 2, &h) || pos >= s.size() || s[pos++] != ':' ||
        !read_digits(s, &pos, 2, &mi))
      return bad("expected HH:MM after the date");
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!read_digits(s, &pos, 2, &sec)) return bad("expected seconds");
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int digits = 0;
        int64_t scale = 100000;
        while (pos < s.size() && is_digit(s[pos])) {
          if (digits < 6) frac_micros += (s[pos] - '0') * scale;
          scale /= 10;
          ++digits;
          ++pos;
        }
        if (digits == 0) return bad("expected digits after \".\"");
      }
    }
    if (h > 23 || mi > 59 || sec > 59) return bad("time out of range");
    if (pos < s.size()) {
      char c = s[pos];
      if (c == 'Z' || c == 'z') {
        ++pos;
      } else if (c == '+' || c == '-') {
        ++pos;
        int oh = 0, om = 0;
        if (!read_digits(s, &pos, 2, &oh)) return bad("bad zone offset");
        if (pos < s.size() && s[pos] == ':') ++pos;
        if (pos < s.size() && !read_digits(s, &pos, 2, &om)) return bad("bad zone offset");
        if (oh > 15 || om > 59) return bad("zone offset out of range");
        offset_secs = (oh * 3600 + om * 60) * (c == '-' ? -1 : 1);
      }
    }
  }
  if (pos != s.size()) return bad("unexpected text after the timestamp");
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_secs;
  return secs * kMicrosPerSecond + frac_micros;
}

// Whether a duration stays inside the range journeys may use: how far it can
// move an instant (every part counted by its size, a month as 31 days).
bool within_timestamp_range(const Duration& d) {
  long double days = std::fabs(static_cast<long double>(d.months)) * 31 +
                     std::fabs(static_cast<long double>(d.days)) +
                     std::fabs(static_cast<long double>(d.micros)) / kMicrosPerDay;
  return days <= kMaxDurationDays;
}

CivilTime civil_time(int64_t micros) {
  CivilTime t;
  int64_t secs = micros / kMicrosPerSecond;
  t.micros = micros % kMicrosPerSecond;
  if (t.micros < 0) {
    t.micros += kMicrosPerSecond;
    --secs;
  }
  t.epoch_day = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --t.epoch_day;
  }
  civil_from_days(t.epoch_day, &t.year, &t.month, &t.day);
  t.hour = static_cast<int>(rem / 3600);
  t.minute = static_cast<int>(rem / 60 % 60);
  t.second = static_cast<int>(rem % 60);
  return t;
}

// Formats micros since the epoch as an ISO UTC timestamp.
std::string format_timestamp(int64_t micros) {
  if (micros == kInfinity) return "infinity";
  if (micros == kMinusInfinity) return "-infinity";
  const CivilTime t = civil_time(micros);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d", static_cast<long long>(t.year),
                t.month, t.day, t.hour, t.minute, t.second);
  std::string out = buf;
  if (t.micros) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(t.micros));
    out += buf;
  }
  return out + "Z";
}

namespace {

struct CronField {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names[i] maps to value names_base + i
  int names_count;
  int names_base;
};

const char* const kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
const char* const kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// Parses one number or name of a cron field.
bool cron_value(std::string_view tok, const CronField& f, int* out) {
  if (tok.empty()) return false;
  if (is_digit(tok[0])) {
    int v = 0;
    for (char c : tok) {
      if (!is_digit(c) || v > 1000) return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
  }
  std::string l = lower(tok);
  for (int i = 0; i < f.names_count; ++i)
    if (l == f.names[i]) {
      *out = f.names_base + i;
      return true;
    }
  return false;
}

// Checks one comma-separated cron field against its range.
bool cron_field_ok(std::string_view field, const CronField& f, std::string* why) {
  if (field.empty()) {
    *why = "empty " + std::string(f.name) + " field";
    return false;
  }
  size_t start = 0;
  while (true) {
    size_t comma = field.find(',', start);
    std::string_view item = field.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const std::string bad = "bad " + std::string(f.name) + " field \"" + std::string(field) + "\"";
    if (item.empty()) {
      *why = bad;
      return false;
    }
    std::string_view range = item;
    size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      std::string_view step = item.substr(slash + 1);
      int sv = 0;
      if (step.empty() || !is_digit(step[0]) ||
          !cron_value(step, CronField{"", 0, 0, nullptr, 0, 0}, &sv) || sv < 1 || sv > f.max) {
        *why = bad + ": bad step";
        return false;
      }
      range = item.substr(0, slash);
    }
    if (range == "*") {
      // whole range
    } else if (range == "$" && std::string_view(f.name) == "day of month") {
      // pg_cron: last day of the month
    } else {
      size_t dash = range.find('-');
      int a = 0, b = 0;
      if (dash == std::string_view::npos) {
        if (!cron_value(range, f, &a)) {
          *why = bad;
          return false;
        }
        b = a;
      } else if (!cron_value(range.substr(0, dash), f, &a) ||
                 !cron_value(range.substr(dash + 1), f, &b)) {
        *why = bad;
        return false;
      }
      if (a < f.min || a > f.max || b < f.min || b > f.max) {
        *why = bad + ": out of range " + std::to_string(f.min) + "-" + std::to_string(f.max);
        return false;
      }
      if (a > b) {
        *why = bad + ": range start after end";
        return false;
      }
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace

// Validates a pg_cron schedule string.
bool is_valid_cron(std::string_view text, std::string* error) {
  const std::string prefix = "invalid schedule \"" + std::string(text) + "\"";
  std::string_view s = trim(text);
  if (s.empty()) return fail(error, prefix + ": empty");
  if (s[0] == '@') {
    static const char* kMacros[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                    "@daily",  "@midnight", "@hourly"};
    std::string l = lower(s);
    for (const char* m : kMacros)
      if (l == m) return true;
    return fail(error, prefix + ": unknown macro");
  }
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !is_space(s[j])) ++j;
    if (j > i) fields.push_back(s.substr(i, j - i));
    i = j;
  }
  // pg_cron interval syntax: "N seconds".
  if (fields.size() == 2 || (fields.size() == 1 && !fields[0].empty() && is_digit(fields[0][0]) &&
                             fields[0].find_first_not_of("0123456789") != std::string_view::npos &&
                             is_alpha(fields[0].back()))) {
    std::string num, unit;
    if (fields.size() == 2) {
      num = std::string(fields[0]);
      unit = lower(fields[1]);
    } else {
      size_t k = fields[0].find_first_not_of("0123456789");
      num = std::string(fields[0].substr(0, k));
      unit = lower(fields[0].substr(k));
    }
    if (unit != "second" && unit != "seconds")
      return fail(error, prefix + ": expected 5 fields or \"N seconds\"");
    if (num.empty() || num.size() > 3 || num.find_first_not_of("0123456789") != std::string::npos)
      return fail(error, prefix + ": bad number of seconds");
    int n = std::stoi(num);
    if (n < 1 || n > 59) return fail(error, prefix + ": seconds must be between 1 and 59");
    return true;
  }
  if (fields.size() != 5)
    return fail(error, prefix + ": expected 5 fields (minute hour day-of-month month day-of-week)");
  const CronField kFields[5] = {
      {"minute", 0, 59, nullptr, 0, 0},       {"hour", 0, 23, nullptr, 0, 0},
      {"day of month", 1, 31, nullptr, 0, 0}, {"month", 1, 12, kMonthNames, 12, 1},
      {"day of week", 0, 7, kDayNames, 7, 0},
  };
  for (int k = 0; k < 5; ++k) {
    std::string why;
    if (!cron_field_ok(fields[k], kFields[k], &why)) return fail(error, prefix + ": " + why);
  }
  return true;
}

}  // namespace pgj::core
