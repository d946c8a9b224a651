// Validates a whole journey definition (the JSON of journey.export) and reports
// every problem at once, each tied to the step (or trigger/rule/setting) it is in.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/json.hpp"
#include "core/schema.hpp"

namespace pgj::core {

struct Issue {
  std::string step_key;  // step key, "entry[N]", "exit[N]", "settings", or "" (journey-level)
  std::string severity;  // "error" or "warning"
  std::string message;
};

// What the validator needs to know about the database, supplied by the pg layer
// (or by a test). Unset callbacks mean "accept anything".
struct ValidationEnv {
  // The audience table; null when the definition's audience is not registered.
  const AudienceSchema* audience = nullptr;
  // No audience at hand on purpose (journeyctl validate --offline): a missing
  // audience is not an error and column names are not checked.
  bool audience_unchecked = false;
  // Channel of the named template, or nullopt when no such template exists.
  std::function<std::optional<std::string>(const std::string& name)> template_channel;
  // Whether a time zone name is known to the server.
  std::function<bool(const std::string& zone)> is_valid_timezone;
  // Empty when `function` is callable by a call step, else a message saying why not.
  std::function<std::string(const std::string& function)> check_call_function;
  // Empty when an update_field step may set this audience column, else why not.
  std::function<std::string(const std::string& column)> check_update_column;
  // Empty when the installed scheduler (pg_cron) accepts this schedule, else its
  // reason; called only for schedules of the syntax the core accepts.
  std::function<std::string(const std::string& schedule)> check_schedule;
  // Empty when a segment's SQL query plans as the journey owner, else why not.
  std::function<std::string(const std::string& query)> check_segment_query;
  // The merge-tag paths of the named template's subject and body (empty when
  // the template does not exist).
  std::function<std::vector<std::string>(const std::string& name)> template_tags;
  // The audience columns the named template renders without a default
  // (core::required_columns of its subject and body): the audience must have
  // them, as must a send payload's tags. Unset: neither is checked (the DDL
  // guard's validation: a column only a message renders may change).
  std::function<std::vector<std::string>(const std::string& name)> template_columns;
  // Empty when the journey owner may read this audience column (a message
  // renders it), else why not.
  std::function<std::string(const std::string& column)> check_read_column;
  // Empty when `value` (the text a field update writes) is valid input for
  // this audience column's type (with its length limit, domain checks, enum
  // labels), else why not.
  std::function<std::string(const std::string& column, const std::string& value)>
      check_column_value;
};

std::vector<Issue> validate_journey(const Json& definition, const ValidationEnv& env);

// The top-level keys of a definition object that a definition does not have
// (name, audience, description, settings, entry, exit, start, steps, and
// export's version, state, id, layout), in the object's order: validate warns
// of them, journey.import refuses them (a setting misplaced at the top level
// would otherwise be dropped without a word).
std::vector<std::string> unknown_definition_keys(const Json& definition);

// A duration value of a definition (`name`: its key, for the messages): the
// duration when it parses, even one that breaks a rule (positive when
// `positive`, at most 5000 years: the engine runs with any); each problem is
// appended to `problems` in the words validate_journey reports. The compilers
// of scheduled triggers (schedule_rules.hpp) check their durations with it.
std::optional<Duration> check_duration(const Json& v, const std::string& name, bool positive,
                                       std::vector<std::string>& problems);

// Just the settings object (journey.set_settings checks it before storing).
std::vector<Issue> validate_settings(const Json& settings, const ValidationEnv& env);

}  // namespace pgj::core
