// The web server of `journeyctl serve` (cpp-httplib): the builder's assets,
// sign-in with a PostgreSQL role (a database connection per session, so every
// request runs with that role's privileges), CSRF protection on every write,
// and a registry of routes. Each routes_*.cpp file adds its routes with
// JOURNEYCTL_ROUTES; a new group of endpoints (say the tracking endpoints of
// the delivery work) is one more such file.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/journeyctl.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace pgj::cli::web {

// A signed-in user: a database connection opened with their role and
// password. Requests of one session take turns on its connection.
struct Session {
  std::string id;    // the cookie value (random, 256 bits)
  std::string csrf;  // the token writes must carry in X-CSRF-Token (random, 256 bits)
  std::string user;
  std::string database;
  bool can_edit = false;  // member of journey_admin
  std::unique_ptr<pqxx::connection> db;
  std::mutex mutex;
  std::chrono::steady_clock::time_point last_used;
};

// An HTTP error with its status (the body is {"error": message}).
struct HttpError : std::runtime_error {
  int status;
  HttpError(int s, const std::string& message) : std::runtime_error(message), status(s) {}
};

// Who may call a route.
enum class Access {
  Public,  // anyone who reaches the server (sign-in; later: tracking endpoints)
  Session  // a signed-in user; writes need the session's CSRF token
};

// What a handler sees.
struct Request {
  const httplib::Request& http;
  Session* session = nullptr;  // null for Public routes without a session
  Json body;                   // the JSON body of a write (an object), else null

  // Query parameter (GET) or body member (writes) `name` as text; nullopt when absent.
  std::optional<std::string> get(const std::string& name) const;
  // Like get, but a 400 error when absent or empty.
  std::string need(const std::string& name) const;
  // The session's connection (a 401 error without a session).
  pqxx::connection& db() const;
};

using JsonHandler = std::function<Json(Request&)>;
using RawHandler = std::function<void(Request&, httplib::Response&)>;

struct Route {
  std::string method;  // GET, POST
  std::string path;    // exact path, "/api/journeys"
  Access access;
  JsonHandler json;  // either this (answers 200 with the JSON it returns) ...
  RawHandler raw;    // ... or this (writes the response itself)
};

// Collects routes; handed to each JOURNEYCTL_ROUTES function.
class Router {
 public:
  void get(const std::string& path, Access a, JsonHandler h) { add("GET", path, a, std::move(h)); }
  void post(const std::string& path, Access a, JsonHandler h) {
    add("POST", path, a, std::move(h));
  }
  void raw(const std::string& method, const std::string& path, Access a, RawHandler h) {
    routes_.push_back(Route{method, path, a, nullptr, std::move(h)});
  }
  const std::vector<Route>& routes() const { return routes_; }

 private:
  void add(const std::string& m, const std::string& p, Access a, JsonHandler h) {
    routes_.push_back(Route{m, p, a, std::move(h), nullptr});
  }
  std::vector<Route> routes_;
};

// Registers a function that adds routes (static initialisation of routes_*.cpp).
bool register_routes(std::function<void(Router&)> add);

#define JOURNEYCTL_ROUTES(fn)                                                             \
  static const bool JOURNEYCTL_CONCAT(journeyctl_routes_, __COUNTER__) [[maybe_unused]] = \
      ::pgj::cli::web::register_routes(fn)

// How the server runs.
struct ServerOptions {
  std::string listen = "127.0.0.1";
  int port = 8080;  // 0: any free port
  bool allow_passwordless = false;
  std::string assets_dir;  // empty: the embedded assets
  int idle_minutes = 480;
  int max_sessions = 50;                   // each holds a database connection
  std::vector<std::string> allowed_hosts;  // extra Host header values
  // Builds the connection string for a user signing in.
  std::function<std::string(const std::string& user, const std::string& password)> conninfo;
};

// Runs the server until SIGINT or SIGTERM; prints the URL when listening.
int serve(const ServerOptions& options);

// Sessions (for routes that sign in and out).
std::shared_ptr<Session> create_session(const std::string& user, const std::string& password);
void drop_session(const std::string& id);

// Runs one SQL statement with a parameter list (null entries are SQL NULL) in
// its own transaction and returns the first column of the first row parsed as
// JSON (null when there is none).
Json query(pqxx::connection& db, const std::string& sql,
           const std::vector<std::optional<std::string>>& params);

// Runs one SQL statement with a parameter list in its own transaction,
// ignoring what it returns.
void execute(pqxx::connection& db, const std::string& sql,
             const std::vector<std::optional<std::string>>& params);

// A server error as the JSON body the front end shows, with its HTTP status.
int sql_error_status(const std::string& sqlstate);
Json sql_error_json(const pqxx::sql_error& e);

}  // namespace pgj::cli::web
