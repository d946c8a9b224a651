// Small SPI helpers for cold paths (authoring, validation): text parameters in,
// text cells out. Hot paths use prepared plans instead.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace pgj::pg {

using Cell = std::optional<std::string>;  // nullopt = SQL NULL
using Row = std::vector<Cell>;

// Connects SPI for the lifetime of a SQL-callable function's body. On an error
// the transaction aborts and PostgreSQL cleans the SPI stack, so only the happy
// path calls finish().
class SpiConnection {
 public:
  SpiConnection();
  void finish();
};

// Runs `sql` with parameters $1..$n (all of type text; cast them in the SQL) and
// returns every row, each cell in its text output form.
std::vector<Row> spi_rows(const char* sql, const std::vector<Cell>& params = {},
                          bool read_only = true);

}  // namespace pgj::pg
