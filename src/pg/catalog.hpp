// What the core's validator needs to know about the database: the audience
// table's columns, templates, time zones, callable functions.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "core/json.hpp"
#include "core/validator.hpp"
#include "pg/postgres.hpp"

namespace pgj::pg {

// Loads the registered audience named `name` (as written in a definition:
// qualified or as regclass prints it); nullopt when it is not registered.
std::optional<core::AudienceSchema> load_audience(const std::string& name);

// True when the server knows the time zone `zone`.
bool is_known_timezone(const std::string& zone);

// Catalog facts for one validation, loaded once (SPI must be connected).
class CatalogEnv {
 public:
  CatalogEnv(const core::Json& definition, Oid owner);
  CatalogEnv(const CatalogEnv&) = delete;  // env_ points into this object
  CatalogEnv& operator=(const CatalogEnv&) = delete;
  const core::ValidationEnv& env() const { return env_; }

 private:
  std::string check_call_function(const std::string& function) const;

  Oid owner_;
  std::optional<core::AudienceSchema> audience_;
  std::map<std::string, std::string> template_channels_;
  core::ValidationEnv env_;
};

}  // namespace pgj::pg
