// The shape of an audience (customer) table as the core sees it: column names
// and type categories, resolved once from the catalog by the pg layer.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgj::core {

enum class ValueType { Bool, Int, Float, Text, Timestamp, Date, Json, Other };

struct Column {
  std::string name;
  ValueType type = ValueType::Other;
  std::string type_name;  // as format_type() prints it, for messages
};

struct AudienceSchema {
  std::string relation;    // qualified name, for messages
  std::string key_column;  // the customer id column
  std::vector<Column> columns;
  int email_column = -1;     // index into columns of the e-mail address, or -1
  int timezone_column = -1;  // index into columns of the customer's time zone, or -1
  // Recipient column of each channel other than "email" (whose recipient is
  // email_column): index into columns (journey.set_recipients).
  std::vector<std::pair<std::string, int>> recipients;

  // Index of the recipient column of `channel`, or -1 when the audience names none.
  int recipient_column(std::string_view channel) const {
    if (channel == "email") return email_column;
    for (const auto& [name, index] : recipients)
      if (name == channel) return index;
    return -1;
  }

  // Index of the column named `name` in `columns`, or -1.
  int find(std::string_view name) const {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i].name == name) return static_cast<int>(i);
    return -1;
  }
};

}  // namespace pgj::core
