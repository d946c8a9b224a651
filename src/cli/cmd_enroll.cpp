// journeyctl enroll: enrolls the customers of a CSV file in a journey
// (journey.enroll per row, in batches of one transaction each), with a
// progress bar.
#include <unistd.h>

#include <iostream>
#include <sstream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

// Parses CSV (RFC 4180: quoted fields, "" inside quotes, CRLF or LF).
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& what) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      field_started = false;
      if (!(row.size() == 1 && row[0].empty())) rows.push_back(std::move(row));
      row.clear();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted)
    throw CliError(kInvalid, what + ": unterminated quoted field at line " + std::to_string(line));
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

struct Progress {
  bool show;
  bool tty;
  size_t total;
  void draw(size_t done, size_t enrolled, size_t skipped, size_t failed, bool last) {
    if (!show) return;
    const int width = 30;
    int filled = total ? static_cast<int>(width * done / total) : width;
    std::ostringstream s;
    s << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/"
      << total << "  " << (total ? 100 * done / total : 100) << "%  enrolled " << enrolled
      << "  not eligible " << skipped;
    if (failed) s << "  failed " << failed;
    if (tty)
      std::cerr << "\r" << s.str() << (last ? "\n" : "") << std::flush;
    else
      std::cerr << s.str() << "\n";
  }
};

int enroll(Context& ctx) {
  const std::string name = ctx.arg(0);
  auto csv_path = ctx.option("csv");
  if (!csv_path) throw usage_error("--csv FILE is required");
  const long batch = ctx.int_option("batch", 1, 100000).value_or(500);
  const bool keep_going = ctx.flag("keep-going");
  auto rows = parse_csv(read_file(*csv_path), *csv_path);
  if (rows.empty()) throw CliError(kInvalid, *csv_path + " is empty (a header line is needed)");
  const std::vector<std::string> header = rows.front();
  rows.erase(rows.begin());
  int id_col = -1;
  if (auto c = ctx.option("id-column")) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == *c) id_col = static_cast<int>(i);
    if (id_col < 0) throw CliError(kInvalid, *csv_path + " has no column \"" + *c + "\"");
  } else {
    for (const char* guess : {"customer_id", "id"})
      for (size_t i = 0; i < header.size() && id_col < 0; ++i)
        if (header[i] == guess) id_col = static_cast<int>(i);
    if (id_col < 0) id_col = 0;
  }
  // Each row: {"id": ..., "context": {other columns}}.
  Json items = Json::array();
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() != header.size())
      throw CliError(kInvalid, *csv_path + ": row " + std::to_string(r + 2) + " has " +
                                   std::to_string(row.size()) + " fields, the header " +
                                   std::to_string(header.size()));
    Json context = Json::object();
    if (!ctx.flag("no-context"))
      for (size_t i = 0; i < row.size(); ++i)
        if (static_cast<int>(i) != id_col) context[header[i]] = row[i];
    items.push_back({{"id", row[id_col]}, {"context", context}, {"line", r + 2}});
  }

  // The journey must exist (and say so before any progress is drawn).
  run_sql(ctx.db(), "SELECT journey._journey($1)", name);
  Progress progress{
      ctx.flag("progress") || (!ctx.flag("no-progress") && is_terminal(STDERR_FILENO)),
      is_terminal(STDERR_FILENO), items.size()};
  size_t done = 0, enrolled = 0, skipped = 0, failed = 0;
  std::vector<std::string> failures;
  progress.draw(0, 0, 0, 0, items.empty());
  for (size_t start = 0; start < items.size(); start += static_cast<size_t>(batch)) {
    Json chunk = Json::array();
    for (size_t i = start; i < items.size() && i < start + static_cast<size_t>(batch); ++i)
      chunk.push_back(items[i]);
    try {
      pqxx::result r =
          run_sql(ctx.db(),
                  "SELECT count(e.id), count(*) FROM jsonb_array_elements($2::jsonb) x "
                  "CROSS JOIN LATERAL (SELECT journey.enroll($1, x->>'id', x->'context') "
                  "AS id) e",
                  name, chunk.dump());
      enrolled += r[0][0].as<size_t>();
      skipped += r[0][1].as<size_t>() - r[0][0].as<size_t>();
    } catch (const pqxx::sql_error&) {
      // Find the rows that fail: one transaction per row of this batch.
      for (const Json& item : chunk) {
        try {
          pqxx::result r = run_sql(ctx.db(), "SELECT journey.enroll($1, $2, $3::jsonb)", name,
                                   item["id"].get<std::string>(), item["context"].dump());
          (r[0][0].is_null() ? skipped : enrolled)++;
        } catch (const pqxx::sql_error& e) {
          ++failed;
          std::string m = error_message(e);
          failures.push_back(*csv_path + ":" + std::to_string(item["line"].get<size_t>()) +
                             ": customer \"" + item["id"].get<std::string>() + "\": " + m +
                             " (SQLSTATE " + sqlstate_of(e) + ")");
          if (!keep_going) {
            progress.draw(done + (&item - &chunk[0]), enrolled, skipped, failed, true);
            std::cerr << "journeyctl: error: " << failures.back() << "\n";
            std::cout << enrolled << " enrolled, " << skipped << " not eligible before the error"
                      << " (committed); use --keep-going to skip failing rows\n";
            return kServerError;
          }
        }
      }
    }
    done += chunk.size();
    progress.draw(done, enrolled, skipped, failed, done == items.size());
  }
  for (const std::string& f : failures) std::cerr << "journeyctl: failed: " << f << "\n";
  std::cout << items.size() << " row(s): " << enrolled << " enrolled, " << skipped
            << " not eligible (already in the journey, or re-entry not allowed)";
  if (failed) std::cout << ", " << failed << " failed";
  std::cout << "\n";
  return failed ? kServerError : kOk;
}

JOURNEYCTL_COMMAND(Command{
    "enroll",
    "enroll the customers of a CSV file in a journey (with a progress bar)",
    "NAME --csv FILE",
    "FILE is CSV with a header line. The customer key is the column named by --id-column,\n"
    "else \"customer_id\", else \"id\", else the first column; the other columns go into\n"
    "the enrollment's context (as strings) unless --no-context. Rows are enrolled in\n"
    "batches (--batch, default 500), one transaction each: a failing row stops the run\n"
    "(exit 1; batches before it stay committed) unless --keep-going skips it and exits 1\n"
    "at the end. A progress bar is drawn on standard error when it is a terminal (or with\n"
    "--progress).",
    {{"csv", 'f', "FILE", "the CSV file (\"-\": standard input)"},
     {"id-column", 'c', "NAME", "the column holding the customer key"},
     {"no-context", 0, "", "do not put the other columns into the context"},
     {"batch", 'b', "N", "rows per transaction (default 500)"},
     {"keep-going", 'k', "", "skip rows that fail and go on"},
     {"progress", 0, "", "draw the progress bar even when standard error is not a terminal"},
     {"no-progress", 0, "", "never draw the progress bar"}},
    true,
    1,
    1,
    enroll});

}  // namespace
}  // namespace pgj::cli
