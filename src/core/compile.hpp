// One compile of a journey definition: the validator's issues and the engine's
// compiled form come out of the same pass over the definition, so step configs,
// settings and exit rules are parsed in one place (src/core/validator.cpp).
// validate_journey reports the issues; compile_journey and parse_settings
// (engine.hpp) use the compiled form.
#pragma once
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/validator.hpp"

namespace pgj::core {

struct Compilation {
  // What the definition compiles to against env.audience. Complete only when
  // usable(): the validator may report errors the engine can still run with
  // (a rule added after a version was published, say), but not the reverse.
  CompiledJourney journey;
  std::vector<Issue> issues;  // exactly what validate_journey reports
  // Empty when the compiled form is complete; else the first part that could
  // not be compiled ("step \"k\"", "exit[N]", "settings", "journey \"name\"")
  // and why (the issue reported there).
  std::string unusable_where;
  std::string unusable_why;
  // Its SQLSTATE: 42703 when the audience lacks a column the definition reads,
  // 42804 when a column has another type, else XX000 (a published version
  // compiled when it was published: only a change of its table breaks it).
  std::string unusable_code = sqlstate::kInternal;

  bool usable() const { return unusable_where.empty(); }
  // The internal error compile_journey raises when it is not usable:
  // "cannot compile <where> of a published journey: <why>".
  std::string unusable_message() const;
};

// Validates and compiles a definition in one pass. Without env.audience the
// issues are complete but the compiled form is not usable (columns cannot be
// resolved). Never throws for a problem of the definition.
Compilation compile_definition(const Json& definition, const ValidationEnv& env);

}  // namespace pgj::core
