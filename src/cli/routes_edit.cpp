// Routes: editing a journey's draft, one SQL function per edit (src/sql:
// authoring.sql and editing.sql). Each answers with the journey document after
// the edit and, for the edits that report them, the issues the edit introduced.
#include "cli/server.hpp"
#include "cli/web_queries.hpp"

namespace pgj::cli::web {
namespace {

// One edit: its path, its SQL and the body members that are its parameters
// (in order; a member ending in "?" is optional, SQL NULL when absent).
struct Edit {
  const char* path;
  const char* sql;
  std::vector<std::string> params;
  bool reports_issues;  // the function returns the issues it introduced
};

const Edit kEdits[] = {
    {"/api/edit/add_step",
     "SELECT journey.add_step($1, $2, $3::journey.step_type, coalesce($4::jsonb, '{}'))",
     {"name", "key", "type", "config?"},
     false},
    {"/api/edit/step_config",
     "SELECT * FROM journey.set_step_config($1, $2, $3::jsonb)",
     {"name", "key", "config"},
     true},
    {"/api/edit/rename_step",
     "SELECT * FROM journey.rename_step($1, $2, $3)",
     {"name", "key", "new_key"},
     true},
    {"/api/edit/remove_step", "SELECT journey.remove_step($1, $2)", {"name", "key"}, false},
    {"/api/edit/set_start", "SELECT journey.set_start($1, $2)", {"name", "key"}, false},
    {"/api/edit/connect",
     "SELECT journey.connect($1, $2, $3, coalesce($4, 'next'))",
     {"name", "from", "to", "branch?"},
     false},
    {"/api/edit/disconnect",
     "SELECT journey.disconnect($1, $2, coalesce($3, 'next'))",
     {"name", "from", "branch?"},
     false},
    {"/api/edit/move_connection",
     "SELECT * FROM journey.move_connection($1, $2, $3, $4, $5, $6)",
     {"name", "from", "branch", "new_to?", "new_from?", "new_branch?"},
     true},
    {"/api/edit/layout", "SELECT journey.set_layout($1, $2::jsonb)", {"name", "layout"}, false},
    {"/api/edit/add_entry",
     "SELECT journey.add_entry_trigger($1, $2, coalesce($3::jsonb, '{}'))",
     {"name", "type", "config?"},
     false},
    {"/api/edit/set_entry",
     "SELECT * FROM journey.set_entry_trigger($1, $2::int, $3, $4::jsonb)",
     {"name", "position", "type", "config?"},
     true},
    {"/api/edit/remove_entry",
     "SELECT journey.remove_entry_trigger($1, $2::int)",
     {"name", "position"},
     false},
    {"/api/edit/move_entry",
     "SELECT * FROM journey.move_entry_trigger($1, $2::int, $3::int)",
     {"name", "position", "new_position"},
     true},
    {"/api/edit/add_exit",
     "SELECT journey.add_exit_rule($1, $2, coalesce($3::jsonb, '{}'), coalesce($4::boolean, "
     "false))",
     {"name", "type", "config?", "is_goal?"},
     false},
    {"/api/edit/set_exit",
     "SELECT * FROM journey.set_exit_rule($1, $2::int, $3, $4::jsonb, coalesce($5::boolean, "
     "false))",
     {"name", "position", "type", "config?", "is_goal?"},
     true},
    {"/api/edit/remove_exit",
     "SELECT journey.remove_exit_rule($1, $2::int)",
     {"name", "position"},
     false},
    {"/api/edit/move_exit",
     "SELECT * FROM journey.move_exit_rule($1, $2::int, $3::int)",
     {"name", "position", "new_position"},
     true},
    {"/api/edit/settings",
     "SELECT journey.set_settings($1, $2::jsonb)",
     {"name", "settings"},
     false},
    {"/api/edit/discard_draft", "SELECT journey.discard_draft($1)", {"name"}, false},
};

// Runs an edit and the journey document in one transaction.
Json run_edit(Request& req, const Edit& e) {
  std::vector<std::optional<std::string>> params;
  for (std::string p : e.params) {
    bool optional = p.back() == '?';
    if (optional) {
      p.pop_back();
      params.push_back(req.get(p));
    } else {
      params.push_back(req.need(p));
    }
  }
  const std::string name = params[0].value_or("");
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  pqxx::work tx(req.db());
  std::string sql = e.reports_issues ? "SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM (" +
                                           std::string(e.sql) + ") i"
                                     : std::string(e.sql);
  pqxx::result r = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
  Json introduced = e.reports_issues ? Json::parse(r[0][0].c_str()) : Json::array();
  // A new step may come with its place on the canvas.
  if (std::string(e.path) == "/api/edit/add_step" && req.body.contains("layout")) {
    Json layout = {{req.need("key"), req.body["layout"]}};
    tx.exec_params("SELECT journey.set_layout($1, $2::jsonb)", name, layout.dump());
  }
  pqxx::result d = tx.exec_params(sql::kJourneyDoc, name, nullptr);
  tx.commit();
  if (d.empty() || d[0][0].is_null()) throw HttpError(404, "journey \"" + name + "\" not found");
  return {{"doc", Json::parse(d[0][0].c_str())}, {"introduced", introduced}};
}

void edit_routes(Router& r) {
  for (const Edit& e : kEdits)
    r.post(e.path, Access::Session, [&e](Request& req) { return run_edit(req, e); });
  // Replace the draft with a whole definition (the JSON view, paste, undo).
  r.post("/api/edit/import", Access::Session, [](Request& req) {
    if (!req.body.contains("definition") || !req.body["definition"].is_object())
      throw HttpError(400, "\"definition\" (a journey definition object) is required");
    const Json& def = req.body["definition"];
    std::string name = def.value("name", std::string());
    pqxx::work tx(req.db());
    tx.exec_params("SELECT journey.import($1::jsonb)", def.dump());
    pqxx::result d = tx.exec_params(sql::kJourneyDoc, name, nullptr);
    tx.commit();
    return Json{{"doc", Json::parse(d[0][0].c_str())}, {"introduced", Json::array()}};
  });
}

JOURNEYCTL_ROUTES(edit_routes);

}  // namespace
}  // namespace pgj::cli::web
