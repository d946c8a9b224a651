// Routes: signing in and out with a PostgreSQL role (server.hpp).
#include <httplib.h>

#include <thread>

#include "cli/server.hpp"

namespace pgj::cli::web {
namespace {

// The session as the front end needs it (never the session id itself).
Json session_json(const Session& s) {
  return {{"signed_in", true},
          {"user", s.user},
          {"database", s.database},
          {"can_edit", s.can_edit},
          {"csrf", s.csrf}};
}

void session_routes(Router& r) {
  r.raw("POST", "/api/login", Access::Public, [](Request& req, httplib::Response& res) {
    std::string user = req.need("user");
    std::string password = req.get("password").value_or("");
    std::shared_ptr<Session> s;
    try {
      s = create_session(user, password);
    } catch (const pqxx::broken_connection& e) {
      // Wrong role or password (or the server is down): say so, slowly.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      std::string m = e.what();
      while (!m.empty() && m.back() == '\n') m.pop_back();
      throw HttpError(401, "sign-in failed: " + m);
    }
    res.set_header("Set-Cookie", "pgj_session=" + s->id + "; HttpOnly; SameSite=Strict; Path=/");
    res.status = 200;
    res.set_content(session_json(*s).dump(), "application/json; charset=utf-8");
  });
  r.raw("POST", "/api/logout", Access::Session, [](Request& req, httplib::Response& res) {
    drop_session(req.session->id);
    res.set_header("Set-Cookie", "pgj_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    res.set_content(R"({"signed_in": false})", "application/json; charset=utf-8");
  });
  r.get("/api/me", Access::Public, [](Request& req) -> Json {
    if (!req.session) return {{"signed_in", false}};
    return session_json(*req.session);
  });
}

JOURNEYCTL_ROUTES(session_routes);

}  // namespace
}  // namespace pgj::cli::web
