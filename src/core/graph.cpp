// Parsing of journey definition JSON into a JourneyGraph.
#include "core/graph.hpp"

#include <algorithm>
#include <unordered_set>

namespace pgj::core {

namespace {

struct TypeInfo {
  StepType type;
  const char* name;
};

const TypeInfo kTypes[] = {
    {StepType::SendEmail, "send_email"},
    {StepType::Send, "send"},
    {StepType::Delay, "delay"},
    {StepType::WaitForEvent, "wait_for_event"},
    {StepType::WaitUntil, "wait_until"},
    {StepType::Condition, "condition"},
    {StepType::Branch, "branch"},
    {StepType::Split, "split"},
    {StepType::UpdateField, "update_field"},
    {StepType::Call, "call"},
    {StepType::Goal, "goal"},
    {StepType::Exit, "exit"},
};

// Appends an error issue when issues is non-null.
void add_error(std::vector<Issue>* issues, std::string key, std::string msg) {
  if (issues) issues->push_back(Issue{std::move(key), "error", std::move(msg)});
}

// Appends the distinct "name" members of the objects in arr (skipping malformed ones
// and names already in *out).
void names_of(const Json& arr, std::vector<std::string>* out) {
  if (!arr.is_array()) return;
  std::unordered_set<std::string> seen(out->begin(), out->end());
  for (const Json& e : arr)
    if (e.is_object()) {
      auto it = e.find("name");
      if (it != e.end() && it->is_string() && !it->get_ref<const std::string&>().empty() &&
          seen.insert(it->get<std::string>()).second)
        out->push_back(it->get<std::string>());
    }
}

// Builds a GraphBranch from a target JSON value.
GraphBranch make_branch(const std::string& name, const Json& target) {
  GraphBranch b;
  b.name = name;
  if (target.is_string() && !target.get_ref<const std::string&>().empty()) {
    b.target = target.get<std::string>();
    b.target_ok = true;
  }
  return b;
}

}  // namespace

// Step type by name.
std::optional<StepType> parse_step_type(std::string_view name) {
  for (const TypeInfo& t : kTypes)
    if (name == t.name) return t.type;
  return std::nullopt;
}

// Name of a step type.
const char* step_type_name(StepType type) {
  for (const TypeInfo& t : kTypes)
    if (t.type == type) return t.name;
  return "?";
}

// Types that park an enrollment.
bool is_wait_type(StepType type) {
  return type == StepType::Delay || type == StepType::WaitForEvent || type == StepType::WaitUntil;
}

// Target of a branch of this step.
const std::string* GraphStep::target(std::string_view branch) const {
  for (const GraphBranch& b : branches)
    if (b.name == branch && b.target_ok) return &b.target;
  return nullptr;
}

// Step by key.
const GraphStep* JourneyGraph::find(std::string_view key) const {
  auto it = by_key.find(std::string(key));
  return it == by_key.end() ? nullptr : &steps[it->second];
}

// Lenient parse of a definition into a graph.
JourneyGraph parse_graph(const Json& def, std::vector<Issue>* issues) {
  JourneyGraph g;
  if (!def.is_object()) {
    add_error(issues, "", "journey definition must be a JSON object");
    return g;
  }
  auto str = [&](const char* k) {
    auto it = def.find(k);
    return it != def.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  g.name = str("name");
  g.audience = str("audience");
  g.description = str("description");
  g.start = str("start");
  if (auto it = def.find("settings"); it != def.end() && it->is_object()) g.settings = *it;
  if (auto it = def.find("entry"); it != def.end() && it->is_array()) g.entry = *it;
  if (auto it = def.find("exit"); it != def.end() && it->is_array()) g.exit = *it;
  auto sit = def.find("steps");
  if (sit == def.end() || sit->is_null()) return g;
  if (!sit->is_array()) {
    add_error(issues, "", "\"steps\" must be an array");
    return g;
  }
  int index = -1;
  for (const Json& s : *sit) {
    ++index;
    const std::string pos = "step #" + std::to_string(index + 1);
    if (!s.is_object()) {
      add_error(issues, "", pos + " must be a JSON object");
      continue;
    }
    auto kit = s.find("key");
    if (kit == s.end() || !kit->is_string()) {
      add_error(issues, "", pos + " has no key (a string)");
      continue;
    }
    GraphStep step;
    step.index = index;
    step.key = kit->get<std::string>();
    if (auto tit = s.find("type"); tit != s.end() && tit->is_string()) {
      step.type_name = tit->get<std::string>();
      step.type = parse_step_type(step.type_name);
    }
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      if (k == "key" || k == "type" || k == "next" || k == "branches") continue;
      step.config[k] = *it;
    }
    const Json* next = nullptr;
    if (auto nit = s.find("next"); nit != s.end() && !nit->is_null()) {
      next = &*nit;
      step.branches.push_back(make_branch("next", *nit));
    }
    if (auto bit = s.find("branches"); bit != s.end() && !bit->is_null()) {
      if (!bit->is_object()) {
        add_error(issues, step.key,
                  "\"branches\" of step \"" + step.key +
                      "\" must be an object mapping branch names to step keys");
      } else {
        for (auto it = bit->begin(); it != bit->end(); ++it) {
          if (it.key() == "next" && next) {
            if (*next != *it)
              add_error(issues, step.key,
                        "step \"" + step.key + "\" has two different \"next\" targets");
            continue;
          }
          step.branches.push_back(make_branch(it.key(), *it));
        }
      }
    }
    if (!g.by_key.count(step.key)) g.by_key.emplace(step.key, g.steps.size());
    g.steps.push_back(std::move(step));
  }
  return g;
}

// Branch names valid for a step type and config.
std::vector<std::string> allowed_branches(StepType type, const Json& config) {
  std::vector<std::string> out;
  switch (type) {
    case StepType::WaitForEvent:
      return {"event", "timeout"};
    case StepType::WaitUntil:
      return {"met", "timeout"};
    case StepType::Condition:
      return {"yes", "no"};
    case StepType::Branch:
      if (auto it = config.find("cases"); it != config.end()) names_of(*it, &out);
      if (std::find(out.begin(), out.end(), "else") == out.end()) out.push_back("else");
      return out;
    case StepType::Split:
      if (auto it = config.find("variants"); it != config.end()) names_of(*it, &out);
      return out;
    case StepType::Exit:
      return {};
    default:
      return {"next"};
  }
}

// Longest path without a repeated step from the start: the search's
// connections to a step still on its stack close a cycle and are left out;
// the rest is acyclic, so each step's longest way on is known when the search
// leaves it (what it reaches was left before it).
std::vector<size_t> longest_acyclic_path(const JourneyGraph& g) {
  auto start = g.by_key.find(g.start);
  if (start == g.by_key.end()) return {};
  const size_t n = g.steps.size();
  enum : char { kNew, kOnStack, kDone };
  std::vector<char> state(n, kNew);
  std::vector<size_t> length(n, 0);
  std::vector<long> next(n, -1);
  // (step, next branch to look at)
  std::vector<std::pair<size_t, size_t>> work{{start->second, 0}};
  state[start->second] = kOnStack;
  while (!work.empty()) {
    auto& [u, bi] = work.back();
    const std::vector<GraphBranch>& branches = g.steps[u].branches;
    if (bi < branches.size()) {
      const GraphBranch& b = branches[bi++];
      if (!b.target_ok) continue;
      auto it = g.by_key.find(b.target);
      if (it == g.by_key.end()) continue;
      size_t v = it->second;
      if (state[v] == kNew) {
        state[v] = kOnStack;
        work.push_back({v, 0});
      }
      continue;
    }
    // Every step u reaches is done or on the stack: its longest way on.
    size_t best = 0;
    for (const GraphBranch& b : branches) {
      if (!b.target_ok) continue;
      auto it = g.by_key.find(b.target);
      if (it == g.by_key.end() || state[it->second] != kDone) continue;
      if (length[it->second] > best) {
        best = length[it->second];
        next[u] = static_cast<long>(it->second);
      }
    }
    length[u] = 1 + best;
    state[u] = kDone;
    work.pop_back();
  }
  std::vector<size_t> path;
  for (long u = static_cast<long>(start->second); u >= 0; u = next[static_cast<size_t>(u)])
    path.push_back(static_cast<size_t>(u));
  return path;
}

}  // namespace pgj::core
