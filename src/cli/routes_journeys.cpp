// Routes: reading journeys (list, one journey with its definition and issues,
// counts, versions and diffs, a customer's path) and their lifecycle (create,
// clone, publish with its preview, pause, resume, archive).
#include <httplib.h>

#include "cli/queries.hpp"
#include "cli/server.hpp"
#include "cli/web_queries.hpp"

namespace pgj::cli::web {
namespace {

using P = std::vector<std::optional<std::string>>;

// Runs a write and answers with the journey document afterwards.
Json write_then_doc(Request& req, const std::string& name, const std::string& sql,
                    const P& params) {
  execute(req.db(), sql, params);
  Json doc = query(req.db(), sql::kJourneyDoc, {name, std::nullopt});
  if (doc.is_null()) throw HttpError(404, "journey \"" + name + "\" has no such version");
  return doc;
}

void journey_routes(Router& r) {
  r.get("/api/catalog", Access::Session,
        [](Request& req) { return query(req.db(), "SELECT journey.catalog()", {}); });

  r.get("/api/journeys", Access::Session, [](Request& req) {
    bool all = req.get("archived").value_or("") == "1";
    return query(req.db(),
                 "SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.name), '[]') "
                 "FROM journey.list($1::boolean) l",
                 {all ? "true" : "false"});
  });

  r.get("/api/audiences", Access::Session,
        [](Request& req) { return query(req.db(), sql::kAudiences, {}); });

  r.get("/api/templates", Access::Session, [](Request& req) {
    return query(
        req.db(),
        "SELECT coalesce(jsonb_agg(jsonb_build_object('name', t.name, 'channel', "
        "t.channel, 'subject', t.subject) ORDER BY t.name), '[]') FROM journey.templates t",
        {});
  });

  r.get("/api/journey", Access::Session, [](Request& req) {
    std::string name = req.need("name");
    Json doc = query(req.db(), sql::kJourneyDoc, {name, req.get("version")});
    if (doc.is_null())
      throw HttpError(404,
                      "journey \"" + name + "\" has no version " + req.get("version").value_or(""));
    return doc;
  });

  r.get("/api/journey/stats", Access::Session, [](Request& req) {
    return query(req.db(), sql::kStats, {req.need("name"), req.get("version")});
  });

  r.get("/api/journey/preview", Access::Session,
        [](Request& req) { return query(req.db(), sql::kPublishPreview, {req.need("name")}); });

  r.get("/api/journey/diff", Access::Session, [](Request& req) {
    return query(req.db(),
                 "SELECT coalesce(jsonb_agg(to_jsonb(d)), '[]') FROM journey.diff($1, $2::int, "
                 "$3::int) d",
                 {req.need("name"), req.need("from"), req.get("to")});
  });

  r.get("/api/journey/customer", Access::Session, [](Request& req) {
    return query(req.db(), sql::kCustomerPath, {req.need("name"), req.need("customer")});
  });

  r.raw("GET", "/api/journey/export", Access::Session, [](Request& req, httplib::Response& res) {
    std::string name = req.need("name");
    Json def = query(req.db(), "SELECT journey.export($1, $2::int)", {name, req.get("version")});
    std::string file;
    for (char c : name)
      file += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
    res.set_header("Content-Disposition", "attachment; filename=\"" + file + ".json\"");
    res.set_content(def.dump(2) + "\n", "application/json; charset=utf-8");
  });

  r.post("/api/journeys/create", Access::Session, [](Request& req) {
    std::string name = req.need("name");
    return write_then_doc(req, name, "SELECT journey.create_journey($1, $2::regclass, $3)",
                          {name, req.need("audience"), req.get("description")});
  });

  r.post("/api/journey/clone", Access::Session, [](Request& req) {
    std::string new_name = req.need("new_name");
    return write_then_doc(req, new_name, "SELECT journey.clone($1, $2)",
                          {req.need("name"), new_name});
  });

  r.post("/api/journey/publish", Access::Session, [](Request& req) {
    std::string name = req.need("name");
    return write_then_doc(req, name, "SELECT journey.publish($1, coalesce($2::boolean, false))",
                          {name, req.get("migrate")});
  });

  r.post("/api/journey/pause", Access::Session, [](Request& req) {
    std::string name = req.need("name");
    return write_then_doc(req, name, "SELECT journey.pause($1)", {name});
  });

  r.post("/api/journey/resume", Access::Session, [](Request& req) {
    std::string name = req.need("name");
    return write_then_doc(req, name, "SELECT journey.resume($1, coalesce($2, 'run'))",
                          {name, req.get("catch_up")});
  });

  r.post("/api/journey/archive", Access::Session, [](Request& req) {
    std::string name = req.need("name");
    return write_then_doc(req, name, "SELECT journey.archive($1)", {name});
  });
}

JOURNEYCTL_ROUTES(journey_routes);

}  // namespace
}  // namespace pgj::cli::web
