// Helpers shared by the unit tests (test/unit/*.cpp): audiences, a runtime
// that finds templates by name, and rendering templates from a map.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "core/engine.hpp"
#include "core/json.hpp"
#include "core/schema.hpp"
#include "core/template.hpp"

namespace pgj::unit {

using core::AudienceSchema;

// An audience named `relation`, keyed by its column "id"; the test sets its columns.
inline AudienceSchema audience_schema(const std::string& relation) {
  AudienceSchema s;
  s.relation = relation;
  s.key_column = "id";
  return s;
}

// A definition of journey "j" on `audience` with these steps (the first is
// the start), extra top-level members merged.
inline core::Json journey_def(const std::string& audience, const char* steps,
                              const char* extra = "{}") {
  core::Json d = {{"name", "j"}, {"audience", audience}};
  d["steps"] = core::Json::parse(steps);
  d["start"] = d["steps"][0]["key"];
  core::Json e = core::Json::parse(extra);
  for (auto it = e.begin(); it != e.end(); ++it) d[it.key()] = *it;
  return d;
}

// A runtime whose templates are those add() gave it; the rest is the test's.
struct TemplatesRuntime : core::Runtime {
  std::map<std::string, core::TemplateDef> templates;
  const core::TemplateDef* find_template(const std::string& name) override {
    auto it = templates.find(name);
    return it == templates.end() ? nullptr : &it->second;
  }
  void add(const std::string& name, const std::string& channel, const std::string& body) {
    core::TemplateDef t;
    t.name = name;
    t.channel = channel;
    t.body = core::compile_template(body);
    templates[name] = std::move(t);
  }
};

// Renders template text with values from a map (absent keys are missing).
inline std::string R(const std::string& text, const std::map<std::string, std::string>& values) {
  core::CompiledTemplate t = core::compile_template(text);
  EXPECT_TRUE(t.errors.empty()) << text << ": " << (t.errors.empty() ? "" : t.errors[0]);
  return core::render(t, [&](const std::string& path) -> std::optional<std::string> {
    auto it = values.find(path);
    if (it == values.end()) return std::nullopt;
    return it->second;
  });
}

// The first error of template text that must be invalid.
inline std::string E(const std::string& text) {
  auto errs = core::template_errors(text);
  EXPECT_FALSE(errs.empty()) << text;
  return errs.empty() ? "" : errs[0];
}

}  // namespace pgj::unit
