// The journey graph parsed from definition JSON (SPEC section 7): steps in
// definition order with their type, inline config and outgoing branches. The
// validator checks it; the engine compiles published definitions from it.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json.hpp"
#include "core/validator.hpp"

namespace pgj::core {

enum class StepType {
  SendEmail,
  Send,
  Delay,
  WaitForEvent,
  WaitUntil,
  Condition,
  Branch,
  Split,
  UpdateField,
  Call,
  Goal,
  Exit
};

// The step type named `name` ("send_email", ...), or nullopt.
std::optional<StepType> parse_step_type(std::string_view name);
// The JSON / SQL enum name of a step type.
const char* step_type_name(StepType type);
// Whether a step of this type parks the enrollment (delay, wait_for_event,
// wait_until): every cycle must contain one.
bool is_wait_type(StepType type);

// The most steps one run of an enrollment may take in a tick (from the start
// step, or leaving a delay or wait, up to the next delay or wait it parks at):
// past it the run fails as a probable loop. The validator refuses a journey
// with a longer chain of steps that never park.
inline constexpr int kMaxStepsPerRun = 200;
// The step visits an enrollment may make over its whole life when the
// journey's settings do not say (max_step_visits).
inline constexpr int kDefaultMaxStepVisits = 1000;

// One outgoing connection: branch name -> target step key.
struct GraphBranch {
  std::string name;
  std::string target;      // empty when target_ok is false
  bool target_ok = false;  // the target was a non-empty string
};

struct GraphStep {
  int index = 0;  // position in the definition's "steps" array
  std::string key;
  std::string type_name;              // as written
  std::optional<StepType> type;       // nullopt for an unknown type
  Json config = Json::object();       // every member but key, type, next, branches
  std::vector<GraphBranch> branches;  // "next" (if any) first, then "branches" by name

  // Target key of `branch`, or nullptr when the step has no such connection.
  const std::string* target(std::string_view branch) const;
};

struct JourneyGraph {
  std::string name;
  std::string audience;
  std::string description;
  std::string start;
  Json settings = Json::object();
  Json entry = Json::array();
  Json exit = Json::array();
  std::vector<GraphStep> steps;                    // steps with a string key, in order
  std::unordered_map<std::string, size_t> by_key;  // key -> index into steps (first one)

  // The step with this key, or nullptr.
  const GraphStep* find(std::string_view key) const;
};

// Parses a definition leniently (never throws). Structural problems (not an
// object, steps not an array, a step without a key, malformed next/branches)
// are appended to *issues when issues is non-null; everything else is left to
// validate_journey. A published definition has passed validation, so the
// engine can call parse_graph(def, nullptr) on it.
JourneyGraph parse_graph(const Json& definition, std::vector<Issue>* issues);

// The branch names a step of this type may use: "next" for single-output
// types, the case names plus "else" for branch, the variant names for split,
// none for exit.
std::vector<std::string> allowed_branches(StepType type, const Json& config);

// The longest path from the start step that visits no step twice, as indexes
// into g.steps (empty without a valid start step). A depth-first search from
// the start (branches in definition order) drops the connections that close a
// cycle; the longest path of what is left is taken, the first one of equal
// length. Every path it returns exists, though a graph with cycles may have a
// longer one through another order. The validator warns when it is longer
// than max_step_visits: every enrollment that follows it fails.
std::vector<size_t> longest_acyclic_path(const JourneyGraph& g);

}  // namespace pgj::core
