// journeyctl's entry point: parses the command line, runs the subcommand, and
// turns every failure into a message on standard error and an exit code a
// shell script can rely on (ExitCode in cli/journeyctl.hpp).
#include <cstring>
#include <iostream>
#include <sstream>

#include "cli/journeyctl.hpp"

#ifndef PGJ_VERSION
#define PGJ_VERSION "dev"
#endif

namespace pgj::cli {
namespace {

const char* kExitCodes =
    "Exit status: 0 success; 1 the server refused (its message and SQLSTATE are printed);\n"
    "2 usage error; 3 cannot connect; 4 invalid input (not JSON, or validation errors);\n"
    "5 local error (file, Graphviz); 6 cancelled at the prompt.\n";

// The whole help of a command.
std::string command_help(const Command& c) {
  std::ostringstream out;
  out << "journeyctl " << c.name << ": " << c.summary << "\n\n";
  out << "Usage: journeyctl " << c.name << (c.synopsis.empty() ? "" : " " + c.synopsis)
      << " [OPTIONS]\n";
  if (!c.help.empty()) out << "\n" << c.help << (c.help.back() == '\n' ? "" : "\n");
  auto list = [&](const std::vector<OptionSpec>& options) {
    std::vector<std::pair<std::string, std::string>> lines;
    size_t w = 0;
    for (const OptionSpec& o : options) {
      std::string left = o.short_name ? std::string("-") + o.short_name + ", " : "    ";
      left += "--" + o.name + (o.value.empty() ? "" : "=" + o.value);
      w = std::max(w, left.size());
      lines.emplace_back(left, o.help);
    }
    for (auto& [left, help] : lines)
      out << "  " << left << std::string(w - left.size() + 2, ' ') << help << "\n";
  };
  std::vector<OptionSpec> own = c.options;
  own.push_back({"help", 0, "", "show this help and exit"});
  out << "\nOptions:\n";
  list(own);
  if (c.connects) {
    out << "\nConnection options (libpq's PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD,\n"
           "~/.pgpass and PGSERVICE apply as usual):\n";
    list(connection_options());
  }
  out << "\n" << kExitCodes;
  return out.str();
}

std::string main_help() {
  std::ostringstream out;
  out << "journeyctl: build, publish, run and watch pg_journey journeys from the shell.\n\n"
         "Usage: journeyctl COMMAND [OPTIONS] [ARGUMENTS]\n"
         "       journeyctl COMMAND --help\n\nCommands:\n";
  size_t w = 0;
  for (const auto& [name, c] : commands()) w = std::max(w, name.size());
  for (const auto& [name, c] : commands())
    out << "  " << name << std::string(w - name.size() + 2, ' ') << c.summary << "\n";
  out << "\nEvery command that talks to the server takes -d/--dbname (a name, a key=value\n"
         "string or a postgresql:// URI), -h, -p and -U, and libpq's environment.\n\n"
      << kExitCodes;
  return out.str();
}

// Finds the spec of option `name` (long) or `short_name` in a command.
const OptionSpec* find_option(const Command& c, const std::string& name, char short_name) {
  auto match = [&](const OptionSpec& o) {
    return short_name ? o.short_name == short_name : o.name == name;
  };
  for (const OptionSpec& o : c.options)
    if (match(o)) return &o;
  if (c.connects)
    for (const OptionSpec& o : connection_options())
      if (match(o)) return &o;
  return nullptr;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << main_help();
    return kUsage;
  }
  std::string first = argv[1];
  if (first == "--help" || first == "-?" || first == "help") {
    if (first == "help" && argc > 2) {
      auto it = commands().find(argv[2]);
      if (it == commands().end())
        throw usage_error(std::string("unknown command \"") + argv[2] + "\"");
      std::cout << command_help(it->second);
      return kOk;
    }
    std::cout << main_help();
    return kOk;
  }
  if (first == "--version" || first == "-V") {
    std::cout << "journeyctl (pg_journey) " << PGJ_VERSION << "\n";
    return kOk;
  }
  auto it = commands().find(first);
  if (it == commands().end())
    throw usage_error("unknown command \"" + first + "\" (journeyctl --help lists them)");
  const Command& c = it->second;

  std::vector<std::string> args;
  std::map<std::string, std::vector<std::string>> options;
  bool only_args = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (only_args || a == "-" || a.size() < 2 || a[0] != '-') {
      args.push_back(a);
      continue;
    }
    if (a == "--") {
      only_args = true;
      continue;
    }
    if (a == "--help" || a == "-?") {
      std::cout << command_help(c);
      return kOk;
    }
    const OptionSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = a;
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
        shown = "--" + name;
      }
      spec = find_option(c, name, 0);
    } else {
      spec = find_option(c, "", a[1]);
      shown = a.substr(0, 2);
      if (a.size() > 2) inline_value = a.substr(2);
    }
    if (!spec) throw usage_error("unknown option " + shown);
    if (spec->value.empty()) {
      if (inline_value) throw usage_error("option " + shown + " takes no value");
      options[spec->name].push_back("");
    } else if (inline_value) {
      options[spec->name].push_back(*inline_value);
    } else if (i + 1 < argc) {
      options[spec->name].push_back(argv[++i]);
    } else {
      throw usage_error("option " + shown + " needs a value (" + spec->value + ")");
    }
  }
  if (static_cast<int>(args.size()) < c.min_args ||
      (c.max_args >= 0 && static_cast<int>(args.size()) > c.max_args))
    throw usage_error("usage: journeyctl " + c.name + " " + c.synopsis);
  Context ctx(c, std::move(args), std::move(options));
  return c.run(ctx);
}

// Prints a server error: its message (with DETAIL/HINT) and SQLSTATE.
void print_sql_error(const pqxx::sql_error& e) {
  std::cerr << "journeyctl: error: " << error_message(e) << "\n";
  std::string code = sqlstate_of(e);
  if (!code.empty()) std::cerr << "SQLSTATE: " << code << "\n";
}

}  // namespace
}  // namespace pgj::cli

int main(int argc, char** argv) {
  using namespace pgj::cli;
  std::string command = argc > 1 ? argv[1] : "";
  try {
    return run(argc, argv);
  } catch (const CliError& e) {
    std::cerr << "journeyctl: " << (e.code == kUsage ? "" : "error: ") << e.what() << "\n";
    if (e.code == kUsage && commands().count(command))
      std::cerr << "Try \"journeyctl " << command << " --help\".\n";
    return e.code;
  } catch (const pqxx::broken_connection& e) {
    std::string message = e.what();
    while (!message.empty() && message.back() == '\n') message.pop_back();
    std::cerr << "journeyctl: cannot connect: " << message << "\n";
    return kConnection;
  } catch (const pqxx::sql_error& e) {
    print_sql_error(e);
    return kServerError;
  } catch (const pqxx::transaction_rollback& e) {
    std::cerr << "journeyctl: error: " << e.what() << "SQLSTATE: " << sqlstate_of(e) << "\n";
    return kServerError;
  } catch (const pqxx::failure& e) {
    std::cerr << "journeyctl: error: " << e.what() << "\n";
    return kConnection;
  } catch (const std::exception& e) {
    std::cerr << "journeyctl: internal error: " << e.what() << "\n";
    return kLocal;
  }
}
