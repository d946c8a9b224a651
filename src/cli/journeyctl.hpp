// journeyctl: the command-line client of pg_journey (libpqxx). One program with
// subcommands; each subcommand is one file (cmd_*.cpp) that registers itself
// with JOURNEYCTL_COMMAND. It talks to the server only in SQL (parameters,
// never SQL built from user text) and uses src/core for offline validation.
// Exit codes (docs/journeyctl.md): see enum ExitCode.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/json.hpp"

namespace pgj::cli {

using core::Json;

// What a shell script can rely on.
enum ExitCode : int {
  kOk = 0,
  kServerError = 1,  // the server refused: its message and SQLSTATE are printed
  kUsage = 2,        // bad command line
  kConnection = 3,   // could not connect (or the connection broke)
  kInvalid = 4,      // the input is invalid: not JSON, or the validator found errors
  kLocal = 5,        // a local problem: a file cannot be read or written, Graphviz failed
  kCancelled = 6,    // the user answered no (publish, archive)
};

// Errors that end a command with their exit code.
struct CliError : std::runtime_error {
  int code;
  CliError(int c, const std::string& message) : std::runtime_error(message), code(c) {}
};
inline CliError usage_error(const std::string& m) {
  return CliError(kUsage, m);
}
inline CliError local_error(const std::string& m) {
  return CliError(kLocal, m);
}

// One option of a command: --name (and -x), with a value or a flag.
struct OptionSpec {
  std::string name;     // long name, without "--"
  char short_name = 0;  // 0: none
  std::string value;    // value placeholder ("FILE"); empty: a flag
  std::string help;
};

using Connection = pqxx::connection;

// Opens a libpq connection just to learn whether authentication used the
// password (not trust, peer or a certificate); throws pqxx::broken_connection
// when the connection fails.
bool authenticates_with_password(const std::string& conninfo);

class Context;

// A subcommand.
struct Command {
  std::string name;
  std::string summary;   // one line for `journeyctl --help`
  std::string synopsis;  // "NAME [--version N]"
  std::string help;      // paragraphs after the synopsis
  std::vector<OptionSpec> options;
  bool connects = true;  // takes the connection options
  int min_args = 0;
  int max_args = 0;  // -1: any
  std::function<int(Context&)> run;
};

// Registers a command; used through JOURNEYCTL_COMMAND at namespace scope.
bool register_command(Command command);
const std::map<std::string, Command>& commands();

#define JOURNEYCTL_CONCAT2(a, b) a##b
#define JOURNEYCTL_CONCAT(a, b) JOURNEYCTL_CONCAT2(a, b)
#define JOURNEYCTL_COMMAND(...)                                                               \
  static const bool JOURNEYCTL_CONCAT(journeyctl_registered_, __COUNTER__) [[maybe_unused]] = \
      ::pgj::cli::register_command(__VA_ARGS__)

// The connection options every command that connects takes.
const std::vector<OptionSpec>& connection_options();

// Builds a libpq connection string from a -d value (a database name, a
// key=value string or a postgresql:// URI) and overrides (host, port, user,
// password; empty: not given). Unset values come from libpq's environment
// (PGHOST, PGDATABASE, ...) as usual.
std::string build_conninfo(const std::string& dbname, const std::string& host,
                           const std::string& port, const std::string& user,
                           const std::string& password);

// What a command sees: its arguments and options, and the database.
class Context {
 public:
  Context(const Command& command, std::vector<std::string> args,
          std::map<std::string, std::vector<std::string>> options);

  const Command& command() const { return command_; }
  const std::vector<std::string>& args() const { return args_; }
  const std::string& arg(size_t i) const { return args_.at(i); }
  bool flag(const std::string& name) const { return options_.count(name) > 0; }
  std::optional<std::string> option(const std::string& name) const;
  std::string option_or(const std::string& name, const std::string& fallback) const;
  // Every value of a repeatable option, in command-line order.
  std::vector<std::string> option_values(const std::string& name) const;
  // An integer option within [lo, hi]; a usage error otherwise.
  std::optional<long> int_option(const std::string& name, long lo, long hi) const;

  // The connection string of the connection options.
  std::string conninfo(const std::string& user = {}, const std::string& password = {}) const;
  // The database connection, opened on first use.
  Connection& db();

 private:
  const Command& command_;
  std::vector<std::string> args_;
  std::map<std::string, std::vector<std::string>> options_;
  std::unique_ptr<Connection> db_;
};

// Runs one SQL statement with parameters in its own transaction and commits.
template <typename... Args>
pqxx::result run_sql(pqxx::connection& c, const std::string& sql, Args&&... args) {
  pqxx::work tx(c);
  pqxx::result r = tx.exec_params(sql, std::forward<Args>(args)...);
  tx.commit();
  return r;
}

// Runs a query returning one jsonb (or json) value and parses it; null -> null.
template <typename... Args>
Json query_json(pqxx::connection& c, const std::string& sql, Args&&... args) {
  pqxx::result r = run_sql(c, sql, std::forward<Args>(args)...);
  if (r.empty() || r[0][0].is_null()) return Json();
  return Json::parse(r[0][0].c_str());
}

// A parameter that is SQL NULL when absent.
inline const char* param(const std::optional<std::string>& v) {
  return v ? v->c_str() : nullptr;
}

// A server error's message for people: without the "ERROR:" prefix and the
// CONTEXT lines (PL/pgSQL internals), with DETAIL and HINT.
std::string error_message(const pqxx::sql_error& e);
// The same for the text of any libpqxx error (a server error of class 08
// reaches journeyctl as pqxx::broken_connection, which is no sql_error).
std::string error_text(const std::string& what);

// The SQLSTATE of a server error. libpqxx 6 leaves sqlstate() empty for some
// of the exception classes it maps codes to; their class gives the code back.
std::string sqlstate_of(const pqxx::sql_error& e);
// The same for a rolled-back transaction (serialization failure, deadlock),
// which libpqxx 6 does not derive from sql_error.
std::string sqlstate_of(const pqxx::transaction_rollback& e);

// Reads a whole file ("-": standard input); a local error when it cannot.
std::string read_file(const std::string& path);
// Writes a whole file ("-": standard output); a local error when it cannot.
void write_file(const std::string& path, const std::string& data);
// Parses JSON read from `what` (a file name for messages); exit 4 when invalid.
Json parse_json(const std::string& text, const std::string& what);

// Prints rows as an aligned table with a header (the last column unpadded).
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);
// Text of a JSON value for a table cell (strings unquoted, null empty).
std::string cell(const Json& v);

// Asks a yes/no question on standard error and reads the answer from standard
// input; true only for y or yes (end of input counts as no).
bool confirm(const std::string& question);

// Whether a file descriptor is a terminal.
bool is_terminal(int fd);

}  // namespace pgj::cli
