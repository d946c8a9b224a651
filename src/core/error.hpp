// The one exception type the core throws: carries a SQLSTATE so the bridge can
// report it to PostgreSQL with the right error code.
#pragma once
#include <stdexcept>
#include <string>

namespace pgj::core {

// A name quoted for messages: "name".
inline std::string quote_name(const std::string& name) {
  return "\"" + name + "\"";
}

namespace sqlstate {
inline constexpr const char* kInvalidParameter = "22023";
inline constexpr const char* kUniqueViolation = "23505";
inline constexpr const char* kWrongState = "55000";
inline constexpr const char* kUndefinedColumn = "42703";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kDatatypeMismatch = "42804";
inline constexpr const char* kInternal = "XX000";
}  // namespace sqlstate

class Error : public std::runtime_error {
 public:
  Error(std::string sqlstate, const std::string& message, std::string detail = {},
        std::string hint = {})
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  const std::string& detail() const { return detail_; }
  const std::string& hint() const { return hint_; }

 private:
  std::string sqlstate_;
  std::string detail_;
  std::string hint_;
};

// The longest error message pg_journey keeps (enrollments.last_error, the
// activity reason of a failed enrollment, the tick's LOG line), in bytes.
inline constexpr size_t kMaxKeptErrorMessage = 8192;

// `message` when it is at most `limit` bytes; else its start, cut at a UTF-8
// character boundary, and the marker " ... (truncated, N bytes in all)", all
// within `limit` bytes.
std::string bounded_message(const std::string& message, size_t limit = kMaxKeptErrorMessage);

}  // namespace pgj::core
