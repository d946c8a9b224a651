// Version migration and resume's re-arm, decided from the compiled steps.
#include "core/migration.hpp"

#include <algorithm>

namespace pgj::core {

Migration migration_of(StepType old_type, const CompiledStep* new_step, bool parked,
                       std::optional<int64_t> next_run_at, int64_t now) {
  Migration m;
  m.next_run_at = next_run_at;
  if (!new_step) return m;
  m.moves = true;
  m.keeps_place = new_step->type == old_type;
  if (!parked) return m;
  m.rearm = m.keeps_place;
  if (m.keeps_place && new_step->type == StepType::WaitForEvent) m.waiting_for = new_step->event;
  m.next_run_at = next_run_at ? std::min(*next_run_at, now) : now;
  return m;
}

bool rearms_on_skip(const CompiledStep& step, bool parked, std::optional<int64_t> next_run_at,
                    int64_t now) {
  return parked && next_run_at && *next_run_at <= now && step.type == StepType::Delay &&
         step.delay_kind == CompiledStep::DelayKind::Until;
}

}  // namespace pgj::core
