// Catalog lookups behind validation, through SPI and the time zone library.
#include "pg/catalog.hpp"

#include <regex>

#include "core/error.hpp"
#include "core/template.hpp"
#include "pg/as_owner.hpp"
#include "pg/bridge.hpp"
#include "pg/columns.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "access/xact.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/resowner.h"
}

namespace pgj::pg {

namespace {

// Whether an error raised by a user's query is the query's own fault (its
// syntax, names, types, privileges, or an error its functions raise), which
// validation reports; anything else (a cancel, out of memory, a lock timeout,
// a crash of the server's internals) ends the validating statement instead.
bool is_query_fault(const ErrorData* e) {
  static const char* kClasses[] = {"42", "22", "0A", "3F", "3D", "21",
                                   "54", "2F", "38", "39", "P0"};
  if (!e) return false;
  const char* code = unpack_sql_state(e->sqlerrcode);
  for (const char* c : kClasses)
    if (code[0] == c[0] && code[1] == c[1]) return true;
  return false;
}

// Checks a segment's `query` (a single SELECT) and, when `plan`, plans `sql`
// (its EXPLAIN) as `role` in a restricted security context, inside a
// subtransaction that is always rolled back: empty when it passes, else the
// message of the query's fault (is_query_fault). Other errors propagate.
std::string check_query_as(Oid role, const std::string& sql, const std::string& query, bool plan) {
  MemoryContext outer_context = CurrentMemoryContext;
  ResourceOwner outer_owner = CurrentResourceOwner;
  pg_guard([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(outer_context);
  std::string problem;
  ErrorData* fatal = nullptr;
  try {
    AsOwner as_owner(role, /*restricted=*/true);
    const char* text = sql.c_str();
    const char* user_query = query.c_str();
    pg_guard([&] {
      require_single_select(user_query);
      if (plan && SPI_execute(text, false, 0) != SPI_OK_UTILITY)
        elog(ERROR, "pg_journey: EXPLAIN failed");
    });
  } catch (const PgError& e) {
    if (is_query_fault(e.data()))
      problem = e.what();
    else
      fatal = e.data();
  }
  pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
  MemoryContextSwitchTo(outer_context);
  CurrentResourceOwner = outer_owner;
  if (fatal) throw PgError(fatal);
  return problem;
}

}  // namespace

std::optional<AudienceInfo> load_audience_info(Oid relid, const std::string& audiences) {
  std::string sql =
      "SELECT journey._relation_name(a.relation), a.key_column::text, a.email_column::text,"
      "       a.timezone_column::text, a.recipients::text"
      "  FROM " +
      audiences + " a WHERE a.relation = $1::oid";
  auto found = spi_rows(sql.c_str(), {std::to_string(relid)});
  if (found.empty()) return std::nullopt;
  // A registered audience whose table is gone (a temporary table registered
  // before 0.2 refused them, dropped with its session): no name to read.
  if (!found[0][0])
    throw core::Error("42P01",
                      "the table of audience " + std::to_string(relid) + " no longer exists", "",
                      "unregister it: SELECT journey.unregister_audience(" + std::to_string(relid) +
                          "::regclass)");
  AudienceInfo info;
  info.relid = relid;
  info.qualified_name = *found[0][0];
  info.schema.relation = info.qualified_name;
  info.schema.key_column = *found[0][1];
  for (AudienceColumn& col : read_audience_columns(relid)) {
    int index = static_cast<int>(info.schema.columns.size());
    info.schema.columns.push_back(core::Column{col.name, col.kind.type, col.type_name});
    if (col.name == info.schema.key_column) info.key_type = col.type_name;
    if (found[0][2] && col.name == *found[0][2]) info.schema.email_column = index;
    if (found[0][3] && col.name == *found[0][3]) info.schema.timezone_column = index;
    info.columns.push_back(std::move(col));
  }
  // Recipient columns of the other channels ("email" is email_column).
  if (found[0][4]) {
    core::Json recipients = core::Json::parse(*found[0][4], nullptr, false);
    if (recipients.is_object())
      for (auto it = recipients.begin(); it != recipients.end(); ++it)
        if (it.key() != "email" && it->is_string())
          if (int index = info.schema.find(it->get<std::string>()); index >= 0)
            info.schema.recipients.emplace_back(it.key(), index);
  }
  return info;
}

std::optional<core::AudienceSchema> load_audience(const std::string& name) {
  auto found = spi_rows("SELECT journey._find_audience($1)::oid::text", {name});
  if (found.empty() || !found[0][0]) return std::nullopt;
  auto info = load_audience_info(static_cast<Oid>(std::stoul(*found[0][0])));
  if (!info) return std::nullopt;
  return std::move(info->schema);
}

std::string segment_query_sql(const std::string& query) {
  // The newline ends a trailing "--" comment of the query.
  return "SELECT coalesce(array_agg(k::text), '{}') FROM (" + query + "\n) q(k)";
}

void require_single_select(const char* query) {
  List* statements = raw_parser(query, RAW_PARSE_DEFAULT);
  if (list_length(statements) != 1 || !IsA(linitial_node(RawStmt, statements)->stmt, SelectStmt))
    ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
                    errmsg("a segment query must be a single SELECT statement")));
}

bool is_known_timezone(const std::string& zone) {
  if (zone.empty()) return false;
  const char* name = zone.c_str();
  return pg_guard([&] { return pg_tzset(name) != nullptr; });
}

CatalogEnv::CatalogEnv(const core::Json& definition, Oid owner, const core::Json* templates)
    : owner_(owner) {
  if (definition.is_object()) {
    auto audience = definition.find("audience");
    if (audience != definition.end() && audience->is_string()) {
      auto found =
          spi_rows("SELECT journey._find_audience($1)::oid::text", {audience->get<std::string>()});
      if (!found.empty() && found[0][0]) {
        audience_relid_ = static_cast<Oid>(std::stoul(*found[0][0]));
        if (auto info = load_audience_info(audience_relid_)) {
          for (const AudienceColumn& c : info->columns)
            column_types_[c.name] = ColumnType{c.type, c.typmod};
          audience_ = std::move(info->schema);
        }
      }
    }
  }
  if (templates && templates->is_object()) {
    for (auto it = templates->begin(); it != templates->end(); ++it) {
      const core::Json& t = it.value();
      auto member = [&t](const char* key) {
        return t.is_object() && t.contains(key) && t[key].is_string() ? t[key].get<std::string>()
                                                                      : std::string();
      };
      add_template(it.key(), member("channel"), member("subject") + " " + member("body"));
    }
  } else {
    for (const Row& t : spi_rows("SELECT name, channel, subject, body FROM journey.templates"))
      add_template(*t[0], *t[1], (t[2] ? *t[2] : std::string()) + " " + (t[3] ? *t[3] : ""));
  }

  env_.audience = audience_ ? &*audience_ : nullptr;
  env_.template_channel = [this](const std::string& name) -> std::optional<std::string> {
    auto it = templates_.find(name);
    if (it == templates_.end()) return std::nullopt;
    return it->second.channel;
  };
  env_.template_tags = [this](const std::string& name) { return template_text(name).tags; };
  env_.template_columns = [this](const std::string& name) { return template_text(name).columns; };
  env_.is_valid_timezone = is_known_timezone;
  env_.check_call_function = [this](const std::string& f) { return check_call_function(f); };
  env_.check_update_column = [this](const std::string& c) { return check_update_column(c); };
  env_.check_schedule = [this](const std::string& s) { return check_schedule(s); };
  env_.check_segment_query = [this](const std::string& q) { return check_segment_query(q); };
  env_.check_read_column = [this](const std::string& c) { return check_read_column(c); };
  env_.check_column_value = [this](const std::string& c, const std::string& v) {
    return check_column_value(c, v);
  };
}

// Records a template's channel and the merge tags of its subject and body
// (`text`: both, blank-separated).
void CatalogEnv::add_template(const std::string& name, const std::string& channel,
                              const std::string& text) {
  TemplateText& facts = templates_[name];
  facts.channel = channel;
  core::CompiledTemplate compiled = core::compile_template(text);
  facts.tags = core::tags_of(compiled);
  facts.columns = core::required_columns(compiled);
}

const CatalogEnv::TemplateText& CatalogEnv::template_text(const std::string& name) const {
  static const TemplateText none;
  auto it = templates_.find(name);
  return it == templates_.end() ? none : it->second;
}

// Empty when the installed pg_cron accepts the schedule (or cannot be asked:
// not installed here, a read-only transaction), else pg_cron's own message.
std::string CatalogEnv::check_schedule(const std::string& schedule) const {
  auto rows = spi_rows("SELECT journey._cron_schedule_error($1)", {schedule}, false);
  return rows.empty() || !rows[0][0] ? std::string() : *rows[0][0];
}

// Empty when a segment's query is a single SELECT that plans (EXPLAIN) as the
// journey owner in the restricted context it runs in, else why not. Planning
// may run the owner's functions (constant folding), so it happens only when
// the validating role has the owner's privileges (publish: the publisher is
// the owner); otherwise (validate() of another role's journey, or
// validate_definition naming another owner) only its form is checked, and the
// publish checks the rest.
std::string CatalogEnv::check_segment_query(const std::string& query) const {
  Oid owner = owner_;
  bool plan = pg_guard([&] { return has_privs_of_role(GetUserId(), owner); });
  return check_query_as(owner_, "EXPLAIN (COSTS OFF) " + segment_query_sql(query), query, plan);
}

// Empty when the journey owner may SELECT this column of the audience (a
// message renders it, and messages are readable by journey_reader), else why not.
std::string CatalogEnv::check_read_column(const std::string& column) const {
  if (!OidIsValid(audience_relid_)) return {};
  auto cached = read_checks_.find(column);
  if (cached != read_checks_.end()) return cached->second;
  auto rows = spi_rows(
      "SELECT has_column_privilege($1::oid, $2::oid, $3::text, 'SELECT'), $1::oid::regrole::text",
      {std::to_string(owner_), std::to_string(audience_relid_), column});
  std::string why;
  if (!rows.empty() && *rows[0][0] != "t")
    why = "journey owner " + *rows[0][1] + " may not read it (SELECT on the column)";
  read_checks_.emplace(column, why);
  return why;
}

namespace {

// Whether an error raised by a type's input function says the value is invalid
// (a data exception or a violated domain check: SQLSTATE class 22 or 23). Any
// other error (a cancel, a lock timeout, out of memory) is not a finding.
bool is_invalid_input(const ErrorData* e) {
  if (!e) return false;
  int category = ERRCODE_TO_CATEGORY(e->sqlerrcode);
  return category == ERRCODE_TO_CATEGORY(ERRCODE_DATA_EXCEPTION) ||
         category == ERRCODE_TO_CATEGORY(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION);
}

}  // namespace

// Empty when the column's type input function (with the column's type
// modifier: varchar(n), numeric(p, s), enum labels, domain checks) accepts
// `value`, else its complaint. Runs as the journey owner, like the field
// update itself, inside a subtransaction that catches only invalid-input
// errors: anything else propagates.
std::string CatalogEnv::check_column_value(const std::string& column,
                                           const std::string& value) const {
  auto it = column_types_.find(column);
  if (it == column_types_.end()) return {};
  const ColumnType type = it->second;
  const char* text = value.c_str();
  MemoryContext outer_context = CurrentMemoryContext;
  ResourceOwner outer_owner = CurrentResourceOwner;
  pg_guard([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(outer_context);
  ErrorData* error = nullptr;
  try {
    AsOwner as_owner(owner_, /*restricted=*/true);
    pg_guard([&] {
      Oid input = InvalidOid, ioparam = InvalidOid;
      getTypeInputInfo(type.type, &input, &ioparam);
      (void)OidInputFunctionCall(input, const_cast<char*>(text), ioparam, type.typmod);
    });
  } catch (const PgError& e) {
    error = e.data();
  }
  if (error)
    pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
  else
    pg_guard([] { ReleaseCurrentSubTransaction(); });
  MemoryContextSwitchTo(outer_context);
  CurrentResourceOwner = outer_owner;
  if (!error) return {};
  if (!is_invalid_input(error)) throw PgError(error);
  return error->message ? error->message : "invalid input";
}

// Empty when the journey owner may UPDATE this column of the audience (field
// updates run with the owner's privileges) and the column can be written at
// all (not generated, not an identity GENERATED ALWAYS), else why not.
std::string CatalogEnv::check_update_column(const std::string& column) const {
  if (!audience_) return {};
  auto rows = spi_rows(
      "SELECT has_column_privilege($1::oid, a.relation, $2::text, 'UPDATE'),"
      "       $1::oid::regrole::text, coalesce(c.attgenerated <> '', false),"
      "       coalesce(c.attidentity = 'a', false)"
      "  FROM journey.audiences a"
      "  LEFT JOIN pg_attribute c ON c.attrelid = a.relation AND c.attname = $2::text"
      "                          AND NOT c.attisdropped"
      " WHERE a.relation = journey._find_audience($3)",
      {std::to_string(owner_), column, audience_->relation});
  if (rows.empty()) return {};
  if (*rows[0][2] == "t")
    return "column \"" + column + "\" of audience " + audience_->relation +
           " is a generated column and cannot be set";
  if (*rows[0][3] == "t")
    return "column \"" + column + "\" of audience " + audience_->relation +
           " is an identity column GENERATED ALWAYS and cannot be set";
  if (*rows[0][0] == "t") return {};
  return "journey owner " + *rows[0][1] + " may not update column \"" + column + "\" of " +
         audience_->relation;
}

// Empty when `function(text, jsonb) returns jsonb` exists and the journey owner
// may execute it; otherwise why not.
std::string CatalogEnv::check_call_function(const std::string& function) const {
  static const std::regex name_syntax(
      R"(^("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)(\.("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*))?$)");
  if (!std::regex_match(function, name_syntax)) return "invalid function name \"" + function + "\"";
  auto rows = spi_rows(
      "SELECT p.prorettype = 'jsonb'::regtype, has_function_privilege($2::oid, p.oid, 'EXECUTE'),"
      "       $2::oid::regrole::text"
      "  FROM pg_proc p WHERE p.oid = to_regprocedure($1 || '(text, jsonb)')",
      {function, std::to_string(owner_)});
  if (rows.empty())
    return "function " + function + "(customer_id text, context jsonb) does not exist";
  if (*rows[0][0] != "t") return "function " + function + "(text, jsonb) must return jsonb";
  if (*rows[0][1] != "t")
    return "journey owner " + *rows[0][2] + " may not execute function " + function;
  return {};
}

}  // namespace pgj::pg
