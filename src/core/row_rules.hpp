// The customer-table trigger's decisions, without PostgreSQL: what a change of
// one customer row does to the journeys of its audience. The pg layer
// (src/pg/audience_trigger.cpp) reads the transition tables, calls these, and
// writes the effects (enrollments, exits, wake-ups) in a few statements.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/condition.hpp"

namespace pgj::core {

// The row rules of one journey version: what a change of a customer row can do.
struct RowRules {
  int64_t journey_id = 0;
  int32_t version = 0;
  std::vector<CompiledCondition> entries;  // attribute entry triggers (live version only)
  struct Exit {
    std::string reason;  // its exit_reason (core::exit_reason_of)
    bool is_goal = false;
    const CompiledCondition* condition = nullptr;
  };
  std::vector<Exit> exits;  // condition exit rules, in order
  struct Wait {
    std::string step_key;
    const CompiledCondition* condition = nullptr;
  };
  std::vector<Wait> waits;  // wait_until steps

  bool empty() const { return entries.empty() && exits.empty() && waits.empty(); }
};

// Whether a condition reads a column the statement updated (`updated` is
// indexed like the audience's columns; null: every column, as for an INSERT).
bool reads_updated(const CompiledCondition& condition, const std::vector<bool>* updated);

// What the trigger must read for a statement, once its rules are narrowed.
struct RowReads {
  std::vector<int> columns;  // sorted audience column indexes any kept condition reads
  bool needs_old = false;    // an entry condition must be judged on the OLD row too
  bool any = false;          // some rule is left
};

// Drops from `rules` the conditions no updated column can affect (an entry,
// exit or wait whose condition reads none of them cannot change its verdict),
// and says which columns and rows the rest read. is_update: OLD rows exist.
RowReads narrow_rules(std::vector<RowRules>& rules, const std::vector<bool>* updated,
                      bool is_update);

// The effects of one row change.
struct RowEffects {
  std::vector<size_t> entered;  // rules (index) whose journey the customer enters
  struct Exit {
    size_t rule = 0;
    const RowRules::Exit* exit = nullptr;  // the first matching exit rule
  };
  std::vector<Exit> exits;
  struct Wake {
    size_t rule = 0;
    const RowRules::Wait* wait = nullptr;
  };
  std::vector<Wake> wakes;
};

// The OLD row of the changed row, or null (an INSERT, or a changed key: a new
// customer); asked only when a condition needs it.
using OldRow = std::function<const std::vector<Value>*()>;

// What a change of one customer row does, per journey version:
//  - entry: an attribute trigger fires on the edge: NEW matches and OLD did not
//    (one that compares OLD and NEW itself, changed / changed_to, fires as it
//    evaluates); the first that fires enrolls the customer;
//  - exit: the first condition exit rule NEW matches ends the enrollment;
//  - wake-up: every wait_until step whose condition NEW matches, or that reads
//    the enrollment's context (only the engine can judge it), is made due.
RowEffects row_change_effects(const std::vector<RowRules>& rules, const std::vector<Value>& row,
                              const OldRow& old_row, int64_t now);

// Which journey versions the trigger evaluates, and so when it must capture
// the changed rows (journey._audience_capture): one rule for both, so that the
// triggers capture exactly while the trigger has something to do with the rows.

// Whether a journey in this state may hold active enrollments (published,
// paused): a deleted customer's end with exit_reason 'customer_deleted'.
bool enrollments_may_be_active(std::string_view journey_state);

// Which rules of a journey version the trigger evaluates: the condition exit
// rules and wait_until steps of the published and retired versions of a journey
// whose enrollments may be active (a retired version still holds enrollments),
// and the attribute entry triggers of the live version only (the published
// version of a published journey: a paused one enrolls no one).
struct TriggerScope {
  bool rules = false;    // condition exit rules and wait_until steps
  bool entries = false;  // attribute entry triggers
};
TriggerScope trigger_scope(std::string_view journey_state, std::string_view version_status,
                           bool published_version);

// The journey states and version statuses trigger_scope can accept: the pg
// layer asks only for these (parameters of its query), so that it never reads
// a version it would drop.
const std::vector<std::string>& trigger_journey_states();
const std::vector<std::string>& trigger_version_statuses();

// A journey of the audience as the trigger loaded it, with one of its versions
// (none: no version the trigger reads) and what that version's rules hold.
struct TriggerVersion {
  std::string journey_state;
  std::optional<std::string> version_status;
  bool published_version = false;
  // False: its rules did not compile against the table; the trigger skips it
  // with a WARNING saying why, so it keeps capturing for that WARNING.
  bool compiles = true;
  bool entries = false;  // it has attribute entry triggers
  bool exits = false;    // condition exit rules
  bool waits = false;    // wait_until steps
};

// What the audience's triggers capture:
//   changes (INSERT, UPDATE: NEW, and OLD for UPDATE): some version the trigger
//     evaluates (trigger_scope) has a rule of its scope, or does not compile;
//   deletes (OLD): some journey's enrollments may be active.
struct CaptureNeeds {
  bool changes = false;
  bool deletes = false;
};
CaptureNeeds capture_needs(const std::vector<TriggerVersion>& versions);

}  // namespace pgj::core
