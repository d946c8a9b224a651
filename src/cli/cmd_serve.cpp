// journeyctl serve: the visual journey builder (server.hpp, web/).
#include "cli/journeyctl.hpp"
#include "cli/server.hpp"

namespace pgj::cli {
namespace {

int serve(Context& ctx) {
  web::ServerOptions o;
  o.listen = ctx.option_or("listen", "127.0.0.1");
  o.port = static_cast<int>(ctx.int_option("http-port", 0, 65535).value_or(8080));
  o.allow_passwordless = ctx.flag("allow-passwordless");
  o.assets_dir = ctx.option_or("assets", "");
  o.idle_minutes = static_cast<int>(ctx.int_option("idle-minutes", 1, 7 * 24 * 60).value_or(480));
  o.max_sessions = static_cast<int>(ctx.int_option("max-sessions", 1, 10000).value_or(50));
  if (auto h = ctx.option("allowed-host")) o.allowed_hosts.push_back(*h);
  // Each sign-in connects with the role and password typed in; journeyctl's own
  // password sources (PGPASSWORD, ~/.pgpass) must never stand in for them.
  o.conninfo = [&ctx](const std::string& user, const std::string& password) {
    std::string c = ctx.conninfo(user, "");
    // passfile: a path that cannot exist (libpq then reads no password file).
    return c + " passfile='/dev/null/none' password='" + [&] {
      std::string q;
      for (char ch : password) {
        if (ch == '\'' || ch == '\\') q += '\\';
        q += ch;
      }
      return q;
    }() + "'";
  };
  return web::serve(o);
}

JOURNEYCTL_COMMAND(Command{
    "serve",
    "run the visual journey builder (a web application) on this machine",
    "",
    "Serves the builder at http://127.0.0.1:8080/ (--listen, --http-port; --http-port 0 picks\n"
    "a free port). Users sign in with a PostgreSQL role and its password: each session gets its "
    "own\n"
    "database connection as that role, so PostgreSQL's privileges apply (journey_reader reads,\n"
    "journey_admin edits and publishes). The connection options say which server and database;\n"
    "the role and password come from the sign-in form (never from PGPASSWORD or ~/.pgpass).\n"
    "When the server authenticates without a password (trust, peer), sign-ins are refused\n"
    "unless --allow-passwordless: then anyone who can reach the port acts as the role they\n"
    "name, so use it only on a machine of your own (the demo's throwaway cluster does).\n"
    "Writes are protected against cross-site requests (Origin, JSON only, a CSRF token per\n"
    "session). Stops on Ctrl-C or SIGTERM (exit 0).",
    {{"listen", 'l', "ADDRESS", "address to listen on (default 127.0.0.1)"},
     {"http-port", 'P', "PORT", "port to listen on (default 8080; 0: any free port)"},
     {"allow-passwordless", 0, "", "accept sign-ins the server lets in without a password"},
     {"allowed-host", 0, "HOST", "also accept this Host header (a name the builder is reached by)"},
     {"assets", 0, "DIR", "serve the front end from DIR instead of the built-in copy"},
     {"idle-minutes", 0, "N", "sign sessions out after N idle minutes (default 480)"},
     {"max-sessions", 0, "N", "at most N signed-in sessions, each a connection (default 50)"}},
    true,
    0,
    0,
    serve});

}  // namespace
}  // namespace pgj::cli
