// The web server of `journeyctl serve`; see server.hpp. Security rules, in the
// order a request meets them:
//  1. The Host header must name this server (127.0.0.1, localhost or [::1]
//     with its port, or an --allowed-host): a page of another site whose name
//     resolves to 127.0.0.1 (DNS rebinding) is refused.
//  2. Writes (POST) must come from this origin (Origin header, when sent) and
//     carry JSON (a cross-site form cannot send it without a CORS preflight,
//     which this server never grants).
//  3. Session routes need the session cookie (HttpOnly, SameSite=Strict) and,
//     for writes, the session's CSRF token in X-CSRF-Token.
//  4. Every query runs on the session's own connection, as the signed-in role,
//     with parameters only.
#include "cli/server.hpp"

#include <httplib.h>
#include <signal.h>
#include <sys/random.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

#include "cli/assets.hpp"

namespace pgj::cli::web {

namespace {

std::vector<std::function<void(Router&)>>& route_adders() {
  static std::vector<std::function<void(Router&)>> v;
  return v;
}

const ServerOptions* g_options = nullptr;
std::mutex g_sessions_mutex;
std::map<std::string, std::shared_ptr<Session>> g_sessions;
std::atomic<bool> g_serve_stop{false};

// 32 random bytes as hex.
std::string random_token() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("getrandom failed");
    }
    got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

// Compares secrets in time independent of where they differ.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The value of cookie `name` in a request, or "".
std::string cookie(const httplib::Request& req, const std::string& name) {
  std::string header = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    size_t start = part.find_first_not_of(' ');
    if (start != std::string::npos) part = part.substr(start);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return {};
}

// The session of a request (refreshing its idle time), or null.
std::shared_ptr<Session> find_session(const httplib::Request& req) {
  std::string id = cookie(req, "pgj_session");
  if (id.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(g_sessions_mutex);
  auto now = std::chrono::steady_clock::now();
  auto idle = std::chrono::minutes(g_options ? g_options->idle_minutes : 480);
  for (auto it = g_sessions.begin(); it != g_sessions.end();) {
    std::unique_lock<std::mutex> busy(it->second->mutex, std::try_to_lock);
    if (busy.owns_lock() && now - it->second->last_used > idle)
      it = g_sessions.erase(it);
    else
      ++it;
  }
  for (auto& [key, s] : g_sessions)
    if (same_secret(key, id)) {
      s->last_used = now;
      return s;
    }
  return nullptr;
}

// Security headers of every response.
void security_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                 "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
}

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json; charset=utf-8");
}

// Whether the Host header names this server.
bool host_allowed(const httplib::Request& req, int port) {
  std::string host = req.get_header_value("Host");
  std::string p = ":" + std::to_string(port);
  for (const std::string& h : {std::string("127.0.0.1"), std::string("localhost"),
                               std::string("[::1]"), g_options->listen})
    if (host == h + p) return true;
  for (const std::string& h : g_options->allowed_hosts)
    if (host == h || host == h + p) return true;
  return false;
}

// Runs a route: the security checks of this file's header, then the handler,
// with errors as JSON.
void dispatch(const Route& route, const httplib::Request& req, httplib::Response& res, int port) {
  security_headers(res);
  try {
    if (!host_allowed(req, port)) throw HttpError(421, "unexpected Host header");
    const bool write = route.method != "GET";
    if (write) {
      std::string origin = req.get_header_value("Origin");
      if (!origin.empty() && origin != "http://" + req.get_header_value("Host"))
        throw HttpError(403, "cross-origin write refused");
      if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
        throw HttpError(415, "writes must send JSON (Content-Type: application/json)");
    }
    std::shared_ptr<Session> session = find_session(req);
    if (route.access == Access::Session) {
      if (!session) throw HttpError(401, "sign in first");
      if (write && !same_secret(req.get_header_value("X-CSRF-Token"), session->csrf))
        throw HttpError(403, "missing or wrong CSRF token (reload the page)");
    }
    Request r{req, session.get(), Json()};
    if (write) {
      try {
        r.body = req.body.empty() ? Json::object() : Json::parse(req.body);
      } catch (const Json::parse_error&) {
        throw HttpError(400, "the body is not valid JSON");
      }
      if (!r.body.is_object()) throw HttpError(400, "the body must be a JSON object");
    }
    std::unique_lock<std::mutex> lock;
    if (session) lock = std::unique_lock<std::mutex>(session->mutex);
    try {
      if (route.raw)
        route.raw(r, res);
      else
        send_json(res, 200, route.json(r));
    } catch (const pqxx::broken_connection&) {
      if (session) {
        lock.unlock();
        drop_session(session->id);
      }
      throw HttpError(401, "the database connection was lost: sign in again");
    }
  } catch (const HttpError& e) {
    send_json(res, e.status, {{"error", e.what()}});
  } catch (const pqxx::sql_error& e) {
    send_json(res, sql_error_status(sqlstate_of(e)), sql_error_json(e));
  } catch (const pqxx::transaction_rollback& e) {
    send_json(res, 409, {{"error", e.what()}, {"sqlstate", sqlstate_of(e)}});
  } catch (const Json::exception& e) {
    send_json(res, 400, {{"error", std::string("bad request: ") + e.what()}});
  } catch (const std::exception& e) {
    send_json(res, 500, {{"error", std::string("internal error: ") + e.what()}});
  }
}

// Serves the front end: embedded assets, or files of --assets DIR.
void serve_asset(const httplib::Request& req, httplib::Response& res, int port) {
  security_headers(res);
  if (!host_allowed(req, port)) {
    send_json(res, 421, {{"error", "unexpected Host header"}});
    return;
  }
  std::string path = req.path == "/" ? "/index.html" : req.path;
  if (!g_options->assets_dir.empty()) {
    namespace fs = std::filesystem;
    fs::path root = fs::weakly_canonical(g_options->assets_dir);
    fs::path file = fs::weakly_canonical(root / path.substr(1));
    auto rel = file.lexically_relative(root).generic_string();
    if (rel.empty() || rel.rfind("..", 0) == 0 || !fs::is_regular_file(file)) {
      res.status = 404;
      return;
    }
    std::ifstream in(file, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), {});
    std::string ext = file.extension().string();
    std::string type = ext == ".html"  ? "text/html; charset=utf-8"
                       : ext == ".js"  ? "text/javascript; charset=utf-8"
                       : ext == ".css" ? "text/css; charset=utf-8"
                       : ext == ".svg" ? "image/svg+xml"
                       : ext == ".png" ? "image/png"
                                       : "application/octet-stream";
    res.set_content(data, type);
    return;
  }
  for (const Asset& a : embedded_assets())
    if (path == a.path) {
      res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.content_type);
      return;
    }
  res.status = 404;
  res.set_content("not found", "text/plain");
}

void on_serve_signal(int) {
  g_serve_stop = true;
}

}  // namespace

bool register_routes(std::function<void(Router&)> add) {
  route_adders().push_back(std::move(add));
  return true;
}

std::optional<std::string> Request::get(const std::string& name) const {
  if (body.is_object()) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    return it->dump();
  }
  if (http.has_param(name.c_str())) return http.get_param_value(name.c_str());
  return std::nullopt;
}

std::string Request::need(const std::string& name) const {
  auto v = get(name);
  if (!v || v->empty()) throw HttpError(400, "\"" + name + "\" is required");
  return *v;
}

pqxx::connection& Request::db() const {
  if (!session) throw HttpError(401, "sign in first");
  return *session->db;
}

Json query(pqxx::connection& db, const std::string& sql,
           const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  pqxx::work tx(db);
  pqxx::result r = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
  tx.commit();
  if (r.empty() || r.columns() == 0 || r[0][0].is_null()) return Json();
  return Json::parse(r[0][0].c_str());
}

void execute(pqxx::connection& db, const std::string& sql,
             const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  pqxx::work tx(db);
  tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
  tx.commit();
}

int sql_error_status(const std::string& s) {
  if (s == "42501") return 403;
  if (s == "42704") return 404;
  if (s == "23505" || s == "55000" || s == "55P03" || s == "40001" || s == "40P01") return 409;
  if (s.rfind("22", 0) == 0 || s.rfind("23", 0) == 0) return 422;
  if (s.rfind("42", 0) == 0) return 400;
  return 500;
}

Json sql_error_json(const pqxx::sql_error& e) {
  std::string text = error_message(e);
  Json out = {{"sqlstate", sqlstate_of(e)}};
  std::istringstream in(text);
  std::string line, message;
  while (std::getline(in, line)) {
    if (line.rfind("DETAIL:  ", 0) == 0)
      out["detail"] = line.substr(9);
    else if (line.rfind("HINT:  ", 0) == 0)
      out["hint"] = line.substr(7);
    else if (out.contains("detail") && !out.contains("hint"))
      out["detail"] = out["detail"].get<std::string>() + "\n" + line;
    else
      message += (message.empty() ? "" : "\n") + line;
  }
  out["error"] = message;
  return out;
}

std::shared_ptr<Session> create_session(const std::string& user, const std::string& password) {
  {
    std::lock_guard<std::mutex> lock(g_sessions_mutex);
    if (static_cast<int>(g_sessions.size()) >= g_options->max_sessions)
      throw HttpError(503, "too many signed-in sessions (--max-sessions); try again later");
  }
  const std::string conninfo = g_options->conninfo(user, password);
  bool used_password = authenticates_with_password(conninfo);
  if (!used_password && !g_options->allow_passwordless)
    throw HttpError(403,
                    "the database let this sign-in in without checking a password (trust, peer or "
                    "certificate authentication); journeyctl serve accepts such sign-ins only "
                    "with --allow-passwordless");
  auto s = std::make_shared<Session>();
  s->db = std::make_unique<pqxx::connection>(conninfo);
  pqxx::result r = [&] {
    pqxx::work tx(*s->db);
    pqxx::result q = tx.exec(
        "SELECT current_user::text, current_database()::text, "
        "has_schema_privilege('journey', 'USAGE'), pg_has_role('journey_admin', 'MEMBER')");
    tx.commit();
    return q;
  }();
  if (!r[0][2].as<bool>())
    throw HttpError(403, "role \"" + std::string(r[0][0].c_str()) +
                             "\" may not use pg_journey: grant it journey_reader, journey_app "
                             "or journey_admin");
  s->user = r[0][0].c_str();
  s->database = r[0][1].c_str();
  s->can_edit = r[0][3].as<bool>();
  s->id = random_token();
  s->csrf = random_token();
  s->last_used = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(g_sessions_mutex);
  g_sessions[s->id] = s;
  return s;
}

void drop_session(const std::string& id) {
  std::lock_guard<std::mutex> lock(g_sessions_mutex);
  g_sessions.erase(id);
}

int serve(const ServerOptions& options) {
  g_options = &options;
  if (options.assets_dir.empty() && embedded_assets().empty())
    throw CliError(kLocal,
                   "this journeyctl was built without the builder's front end: pass --assets DIR "
                   "(a build of web/)");
  httplib::Server server;
  Router router;
  for (auto& add : route_adders()) add(router);
  int port = options.port;
  for (const Route& route : router.routes()) {
    auto handler = [&route, &port](const httplib::Request& req, httplib::Response& res) {
      dispatch(route, req, res, port);
    };
    if (route.method == "GET")
      server.Get(route.path, handler);
    else if (route.method == "POST")
      server.Post(route.path, handler);
    else if (route.method == "PUT")
      server.Put(route.path, handler);
    else if (route.method == "DELETE")
      server.Delete(route.path, handler);
  }
  server.Get(R"(/(?!api/).*)", [&port](const httplib::Request& req, httplib::Response& res) {
    serve_asset(req, res, port);
  });
  server.set_payload_max_length(16 * 1024 * 1024);
  if (port == 0) {
    port = server.bind_to_any_port(options.listen);
    if (port < 0) throw local_error("cannot listen on " + options.listen);
  } else if (!server.bind_to_port(options.listen, port)) {
    throw local_error("cannot listen on " + options.listen + ":" + std::to_string(port) +
                      " (in use? try --port)");
  }
  struct sigaction sa {};
  sa.sa_handler = on_serve_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::thread stopper([&server] {
    while (!g_serve_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  });
  std::string host =
      options.listen.find(':') != std::string::npos ? "[" + options.listen + "]" : options.listen;
  std::cout << "journeyctl serve: the builder is at http://" << host << ":" << port << "/"
            << std::endl;
  bool ok = server.listen_after_bind();
  g_serve_stop = true;
  stopper.join();
  {
    std::lock_guard<std::mutex> lock(g_sessions_mutex);
    g_sessions.clear();
  }
  return ok || g_serve_stop ? kOk : kLocal;
}

}  // namespace pgj::cli::web
