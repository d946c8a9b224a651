// The customer-table trigger's decisions: narrowing the rules to what a
// statement can affect, and the effects of one row change.
#include "core/row_rules.hpp"

#include <set>
#include <utility>

namespace pgj::core {

bool reads_updated(const CompiledCondition& condition, const std::vector<bool>* updated) {
  if (!updated) return true;
  for (int column : condition.columns_read)
    if (column >= 0 && static_cast<size_t>(column) < updated->size() && (*updated)[column])
      return true;
  return false;
}

RowReads narrow_rules(std::vector<RowRules>& rules, const std::vector<bool>* updated,
                      bool is_update) {
  std::set<int> columns;
  RowReads reads;
  auto read = [&columns](const CompiledCondition& c) {
    columns.insert(c.columns_read.begin(), c.columns_read.end());
  };
  for (RowRules& r : rules) {
    std::vector<CompiledCondition> entries;
    for (CompiledCondition& c : r.entries)
      if (reads_updated(c, updated)) entries.push_back(std::move(c));
    r.entries = std::move(entries);
    std::vector<RowRules::Exit> exits;
    for (const RowRules::Exit& e : r.exits)
      if (reads_updated(*e.condition, updated)) exits.push_back(e);
    r.exits = std::move(exits);
    std::vector<RowRules::Wait> waits;
    for (RowRules::Wait& w : r.waits)
      if (reads_updated(*w.condition, updated)) waits.push_back(std::move(w));
    r.waits = std::move(waits);
    for (const CompiledCondition& c : r.entries) read(c);
    for (const RowRules::Exit& e : r.exits) read(*e.condition);
    for (const RowRules::Wait& w : r.waits) read(*w.condition);
    reads.needs_old = reads.needs_old || (is_update && !r.entries.empty());
    reads.any = reads.any || !r.empty();
  }
  reads.columns.assign(columns.begin(), columns.end());
  return reads;
}

namespace {

// Whether entry condition c fires for this change (see row_change_effects).
bool entry_fires(const CompiledCondition& c, const EvalInput& input, const OldRow& old_row) {
  if (c.uses_trigger_ops) return evaluate(c, input);
  if (!evaluate(c, input)) return false;
  // Edge-triggered: it fires only if OLD did not match already.
  EvalInput before = input;
  before.row = old_row();
  return !(before.row && evaluate(c, before));
}

}  // namespace

RowEffects row_change_effects(const std::vector<RowRules>& rules, const std::vector<Value>& row,
                              const OldRow& old_row, int64_t now) {
  bool trigger_ops = false;
  for (const RowRules& r : rules)
    for (const CompiledCondition& c : r.entries) trigger_ops |= c.uses_trigger_ops;
  EvalInput input;
  input.row = &row;
  input.old_row = trigger_ops ? old_row() : nullptr;
  input.now_micros = now;
  RowEffects fx;
  for (size_t i = 0; i < rules.size(); ++i) {
    const RowRules& r = rules[i];
    for (const CompiledCondition& c : r.entries)
      if (entry_fires(c, input, old_row)) {
        fx.entered.push_back(i);
        break;
      }
    for (const RowRules::Exit& e : r.exits)
      if (evaluate(*e.condition, input)) {
        fx.exits.push_back({i, &e});
        break;
      }
    // A condition on the context cannot be judged here: wake, the engine decides.
    for (const RowRules::Wait& w : r.waits)
      if (w.condition->uses_context || evaluate(*w.condition, input)) fx.wakes.push_back({i, &w});
  }
  return fx;
}

bool enrollments_may_be_active(std::string_view journey_state) {
  return journey_state == "published" || journey_state == "paused";
}

TriggerScope trigger_scope(std::string_view journey_state, std::string_view version_status,
                           bool published_version) {
  TriggerScope scope;
  scope.rules = enrollments_may_be_active(journey_state) &&
                (version_status == "published" || version_status == "retired");
  scope.entries = scope.rules && journey_state == "published" && published_version;
  return scope;
}

const std::vector<std::string>& trigger_journey_states() {
  static const std::vector<std::string> states = {"published", "paused"};
  return states;
}

const std::vector<std::string>& trigger_version_statuses() {
  static const std::vector<std::string> statuses = {"published", "retired"};
  return statuses;
}

CaptureNeeds capture_needs(const std::vector<TriggerVersion>& versions) {
  CaptureNeeds needs;
  for (const TriggerVersion& v : versions) {
    if (enrollments_may_be_active(v.journey_state)) needs.deletes = true;
    if (!v.version_status) continue;
    TriggerScope scope = trigger_scope(v.journey_state, *v.version_status, v.published_version);
    if (scope.rules && (!v.compiles || v.exits || v.waits || (scope.entries && v.entries)))
      needs.changes = true;
  }
  return needs;
}

}  // namespace pgj::core
