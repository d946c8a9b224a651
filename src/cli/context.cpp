// The command registry, connection strings, option access and the small
// helpers every command shares (files, tables, questions).
#include <libpq-fe.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {

namespace {

std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> r;
  return r;
}

// Quotes a libpq connection parameter value.
std::string quote_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

// Registers a command (static initialisation of each cmd_*.cpp).
bool register_command(Command command) {
  std::string name = command.name;
  registry()[name] = std::move(command);
  return true;
}

const std::map<std::string, Command>& commands() {
  return registry();
}

const std::vector<OptionSpec>& connection_options() {
  static const std::vector<OptionSpec> options = {
      {"dbname", 'd', "DB", "database name, key=value connection string or postgresql:// URI"},
      {"host", 'h', "HOST", "server host or Unix socket directory (default: $PGHOST)"},
      {"port", 'p', "PORT", "server port (default: $PGPORT)"},
      {"username", 'U', "USER", "role to connect as (default: $PGUSER)"},
  };
  return options;
}

// Connects with libpq to see how the server authenticated us.
bool authenticates_with_password(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string message = c ? PQerrorMessage(c) : "out of memory";
    PQfinish(c);
    throw pqxx::broken_connection(message);
  }
  bool used = PQconnectionUsedPassword(c) == 1;
  PQfinish(c);
  return used;
}

// Builds a connection string; see the header.
std::string build_conninfo(const std::string& dbname, const std::string& host,
                           const std::string& port, const std::string& user,
                           const std::string& password) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!dbname.empty()) {
    bool is_string = dbname.find('=') != std::string::npos ||
                     dbname.rfind("postgresql://", 0) == 0 || dbname.rfind("postgres://", 0) == 0;
    if (is_string) {
      char* err = nullptr;
      PQconninfoOption* opts = PQconninfoParse(dbname.c_str(), &err);
      if (!opts) {
        std::string message = err ? err : "invalid connection string";
        if (err) PQfreemem(err);
        while (!message.empty() && message.back() == '\n') message.pop_back();
        throw usage_error("invalid --dbname: " + message);
      }
      for (PQconninfoOption* o = opts; o->keyword; ++o)
        if (o->val && *o->val) params.emplace_back(o->keyword, o->val);
      PQconninfoFree(opts);
    } else {
      params.emplace_back("dbname", dbname);
    }
  }
  auto set = [&](const std::string& key, const std::string& value) {
    if (value.empty()) return;
    for (auto& p : params)
      if (p.first == key) {
        p.second = value;
        return;
      }
    params.emplace_back(key, value);
  };
  set("host", host);
  set("port", port);
  set("user", user);
  set("password", password);
  bool has_app = false;
  for (auto& p : params) has_app = has_app || p.first == "application_name";
  if (!has_app) params.emplace_back("fallback_application_name", "journeyctl");
  std::string out;
  for (auto& p : params) {
    if (!out.empty()) out += ' ';
    out += p.first + "=" + quote_value(p.second);
  }
  return out;
}

Context::Context(const Command& command, std::vector<std::string> args,
                 std::map<std::string, std::vector<std::string>> options)
    : command_(command), args_(std::move(args)), options_(std::move(options)) {}

std::optional<std::string> Context::option(const std::string& name) const {
  auto it = options_.find(name);
  if (it == options_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Context::option_values(const std::string& name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>() : it->second;
}

std::string Context::option_or(const std::string& name, const std::string& fallback) const {
  return option(name).value_or(fallback);
}

std::optional<long> Context::int_option(const std::string& name, long lo, long hi) const {
  auto v = option(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end || errno || n < lo || n > hi)
    throw usage_error("--" + name + " must be a whole number from " + std::to_string(lo) + " to " +
                      std::to_string(hi) + ", not \"" + *v + "\"");
  return n;
}

std::string Context::conninfo(const std::string& user, const std::string& password) const {
  // A port that is not one is a usage error (2), like a malformed -d, not a
  // connection failure (3).
  int_option("port", 1, 65535);
  return build_conninfo(option_or("dbname", ""), option_or("host", ""), option_or("port", ""),
                        user.empty() ? option_or("username", "") : user, password);
}

Connection& Context::db() {
  if (!db_) db_ = std::make_unique<Connection>(conninfo());
  return *db_;
}

std::string error_message(const pqxx::sql_error& e) {
  return error_text(e.what());
}

std::string error_text(const std::string& what) {
  // libpq prints ERROR, then (for an error with a position) LINE n: with the
  // statement's text and a line with a caret under it, then DETAIL and HINT,
  // then QUERY and CONTEXT (last, on many lines). Only message, detail and
  // hint are the user's business: the SQL text is journeyctl's.
  std::istringstream in(what);
  std::string line, out;
  bool skip_caret = false;
  while (std::getline(in, line)) {
    if (line.rfind("CONTEXT:", 0) == 0 || line.rfind("QUERY:", 0) == 0) break;
    if (line.rfind("LINE ", 0) == 0 && line.find(':') != std::string::npos) {
      skip_caret = true;
      continue;
    }
    if (skip_caret) {
      skip_caret = false;
      if (line.find_first_not_of(" ^") == std::string::npos) continue;
    }
    if (line.rfind("ERROR:  ", 0) == 0 || line.rfind("FATAL:  ", 0) == 0) line = line.substr(8);
    if (!out.empty()) out += "\n";
    out += line;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string sqlstate_of(const pqxx::sql_error& e) {
  if (!e.sqlstate().empty()) return e.sqlstate();
  struct Known {
    bool (*is)(const pqxx::sql_error&);
    const char* code;
  };
#define PGJ_KNOWN(type, code)                                                                     \
  Known {                                                                                         \
    [](const pqxx::sql_error& x) { return dynamic_cast<const pqxx::type*>(&x) != nullptr; }, code \
  }
  // Most specific first.
  static const Known known[] = {
      PGJ_KNOWN(insufficient_privilege, "42501"),
      PGJ_KNOWN(undefined_column, "42703"),
      PGJ_KNOWN(undefined_function, "42883"),
      PGJ_KNOWN(undefined_table, "42P01"),
      PGJ_KNOWN(syntax_error, "42601"),
      PGJ_KNOWN(not_null_violation, "23502"),
      PGJ_KNOWN(foreign_key_violation, "23503"),
      PGJ_KNOWN(unique_violation, "23505"),
      PGJ_KNOWN(check_violation, "23514"),
      PGJ_KNOWN(restrict_violation, "23001"),
      PGJ_KNOWN(integrity_constraint_violation, "23000"),
      PGJ_KNOWN(feature_not_supported, "0A000"),
      PGJ_KNOWN(disk_full, "53100"),
      PGJ_KNOWN(out_of_memory, "53200"),
      PGJ_KNOWN(insufficient_resources, "53000"),
      PGJ_KNOWN(plpgsql_no_data_found, "P0002"),
      PGJ_KNOWN(plpgsql_too_many_rows, "P0003"),
      PGJ_KNOWN(plpgsql_raise, "P0001"),
      PGJ_KNOWN(invalid_cursor_state, "24000"),
      PGJ_KNOWN(invalid_sql_statement_name, "26000"),
      PGJ_KNOWN(invalid_cursor_name, "34000"),
      PGJ_KNOWN(data_exception, "22000"),
  };
#undef PGJ_KNOWN
  for (const Known& k : known)
    if (k.is(e)) return k.code;
  return "";
}

std::string sqlstate_of(const pqxx::transaction_rollback& e) {
  if (dynamic_cast<const pqxx::deadlock_detected*>(&e)) return "40P01";
  if (dynamic_cast<const pqxx::serialization_failure*>(&e)) return "40001";
  return "40000";
}

std::string read_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream s;
    s << std::cin.rdbuf();
    return s.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw local_error("cannot read " + path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& data) {
  if (path == "-") {
    std::cout << data;
    std::cout.flush();
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !out.write(data.data(), static_cast<std::streamsize>(data.size())) || !out.flush())
    throw local_error("cannot write " + path + ": " + std::strerror(errno));
}

Json parse_json(const std::string& text, const std::string& what) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw CliError(kInvalid, what + " is not valid JSON: " + e.what());
  }
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  // Width in characters (UTF-8 continuation bytes do not count).
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  std::vector<size_t> w(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) w[i] = width(header[i]);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) s += std::string(w[i] - width(r[i]) + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string cell(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

bool confirm(const std::string& question) {
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) {
    std::cerr << "\n";
    return false;
  }
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES" || answer == "Yes";
}

bool is_terminal(int fd) {
  return isatty(fd) == 1;
}

}  // namespace pgj::cli
