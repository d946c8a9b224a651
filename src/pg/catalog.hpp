// What the core's validator needs to know about the database: the audience
// table's columns, templates, time zones, callable functions.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "core/json.hpp"
#include "core/validator.hpp"
#include "pg/columns.hpp"
#include "pg/postgres.hpp"

namespace pgj::pg {

// A registered audience with what the engine needs to read and write its rows.
struct AudienceInfo {
  Oid relid = InvalidOid;
  std::string qualified_name;           // quoted schema.table
  core::AudienceSchema schema;          // columns in attribute order
  std::vector<AudienceColumn> columns;  // the same columns: types and classification
  std::string key_type;                 // format_type of the key column
};

// Loads the registered audience with this relation OID from `audiences` (that
// table or a local placement of it: journey._citus_local_table); nullopt when
// the relation is not a registered audience.
std::optional<AudienceInfo> load_audience_info(Oid relid,
                                               const std::string& audiences = "journey.audiences");

// Loads the registered audience named `name` (as written in a definition:
// qualified or by table name alone); nullopt when it is not registered.
std::optional<core::AudienceSchema> load_audience(const std::string& name);

// True when the server knows the time zone `zone`.
bool is_known_timezone(const std::string& zone);

// The SQL that runs a segment's query: its first column, as text[].
std::string segment_query_sql(const std::string& query);

// Raises 42601 unless `query` is exactly one SELECT statement (a segment's query
// is run inside another statement; nothing else may ride along). A plain
// PostgreSQL call: it may ereport (also for a syntax error).
void require_single_select(const char* query);

// Catalog facts for one validation, loaded once (SPI must be connected).
class CatalogEnv {
 public:
  // templates: a version's frozen templates ({name: {channel, subject, body}},
  // journey.versions.templates) to check instead of journey.templates.
  CatalogEnv(const core::Json& definition, Oid owner, const core::Json* templates = nullptr);
  CatalogEnv(const CatalogEnv&) = delete;  // env_ points into this object
  CatalogEnv& operator=(const CatalogEnv&) = delete;
  const core::ValidationEnv& env() const { return env_; }

 private:
  std::string check_call_function(const std::string& function) const;
  std::string check_update_column(const std::string& column) const;
  std::string check_schedule(const std::string& schedule) const;
  std::string check_segment_query(const std::string& query) const;
  std::string check_read_column(const std::string& column) const;
  std::string check_column_value(const std::string& column, const std::string& value) const;

  struct TemplateText {
    std::string channel;
    std::vector<std::string> tags;     // merge tags of subject and body
    std::vector<std::string> columns;  // the columns they need (core::required_columns)
  };
  void add_template(const std::string& name, const std::string& channel, const std::string& text);
  // The named template's text facts (empty ones for an unknown name).
  const TemplateText& template_text(const std::string& name) const;
  struct ColumnType {
    Oid type = InvalidOid;
    int32 typmod = -1;
  };

  Oid owner_;
  Oid audience_relid_ = InvalidOid;
  std::optional<core::AudienceSchema> audience_;
  std::map<std::string, TemplateText> templates_;
  std::map<std::string, ColumnType> column_types_;
  mutable std::map<std::string, std::string> read_checks_;  // column -> why not ("" = ok)
  core::ValidationEnv env_;
};

}  // namespace pgj::pg
