// The shape of an audience (customer) table as the core sees it: column names
// and type categories, resolved once from the catalog by the pg layer.
#pragma once
#include <string>
#include <string_view>
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

  // Index of the column named `name` in `columns`, or -1.
  int find(std::string_view name) const {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i].name == name) return static_cast<int>(i);
    return -1;
  }
};

}  // namespace pgj::core
