// The execution engine: compiles published journeys and advances enrollments.
#include "core/engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "core/compile.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "core/policy.hpp"

namespace pgj::core {

namespace {

// Whether an update_field value is the {"now": true} marker.
bool is_now(const Json& v) {
  return v.is_object() && v.size() == 1 && v.contains("now") && v["now"] == true;
}

// The path of an update_field value {"from": "context.<key>"} or {"from":
// "event.<prop>"}; nullopt for any other value (a literal).
std::optional<std::string> from_path(const Json& v) {
  if (!v.is_object() || v.size() != 1 || !v.contains("from") || !v["from"].is_string())
    return std::nullopt;
  const std::string& p = v["from"].get_ref<const std::string&>();
  if ((p.rfind("context.", 0) == 0 && p.size() > 8) || (p.rfind("event.", 0) == 0 && p.size() > 6))
    return p;
  return std::nullopt;
}

// Whether a JSON value can be written to a column of this type (null always can).
bool fits_column(const Json& v, const Column& c) {
  if (v.is_null()) return true;
  switch (c.type) {
    case ValueType::Bool:
      return v.is_boolean();
    case ValueType::Int:
      return v.is_number_integer();
    case ValueType::Float:
      return v.is_number();
    case ValueType::Text:
    case ValueType::Other:
      return v.is_string();
    case ValueType::Timestamp:
    case ValueType::Date:
      return v.is_string() && parse_timestamp(v.get<std::string>(), nullptr).has_value();
    case ValueType::Json:
      return true;
  }
  return false;
}

// Walks `path` (dot-separated keys) below `root`; nullptr when missing.
const Json* walk(const Json& root, std::string_view path) {
  const Json* cur = &root;
  while (true) {
    if (!cur->is_object()) return nullptr;
    size_t dot = path.find('.');
    std::string k(path.substr(0, dot));
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) return cur;
    path.remove_prefix(dot + 1);
  }
}

// Text of a JSON value for a merge tag: strings as is, null as missing, others as JSON.
std::optional<std::string> json_text(const Json* v) {
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

// Converts an update_field JSON value to the in-memory Value of a column type.
Value json_to_value(const Json& v, const Column& col, int64_t as_of) {
  if (v.is_null()) return std::monostate{};
  switch (col.type) {
    case ValueType::Bool:
      if (v.is_boolean()) return v.get<bool>();
      break;
    case ValueType::Int:
      if (v.is_number_integer()) return v.get<int64_t>();
      if (v.is_number()) return static_cast<int64_t>(std::llround(v.get<double>()));
      break;
    case ValueType::Float:
      if (v.is_number()) return v.get<double>();
      break;
    case ValueType::Timestamp:
    case ValueType::Date: {
      std::optional<int64_t> ts;
      if (is_now(v))
        ts = as_of;
      else if (v.is_string())
        ts = parse_timestamp(v.get<std::string>(), nullptr);
      if (!ts) break;
      int64_t t = *ts;
      if (col.type == ValueType::Date && !is_infinite(t)) {  // a date is its midnight UTC
        int64_t r = t % kMicrosPerDay;
        t -= r < 0 ? r + kMicrosPerDay : r;
      }
      return Timestamp{t};
    }
    case ValueType::Json:
      return v.dump();
    case ValueType::Text:
    case ValueType::Other:
      break;
  }
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// Answers behaviour leaves for one enrollment through the Runtime.
struct RuntimeBehaviour : BehaviourLookup {
  Runtime& runtime;
  const Enrollment& enrollment;
  int64_t as_of;
  RuntimeBehaviour(Runtime& r, const Enrollment& e, int64_t t)
      : runtime(r), enrollment(e), as_of(t) {}
  bool happened(const std::string& event, const std::string& step,
                std::optional<Duration> within) override {
    return runtime.happened(enrollment, event, step, within, as_of);
  }
  bool message_happened(const std::string& kind, const std::string& message_of,
                        std::optional<Duration> within) override {
    return runtime.message_happened(enrollment, kind, message_of, within, as_of);
  }
};

// Advances one enrollment; the state of run_enrollment.
class Runner {
 public:
  Runner(const CompiledJourney& j, const AudienceSchema& a, const Enrollment& e,
         std::vector<Value>& row, int64_t as_of, Runtime& rt, int max_run,
         const std::vector<std::optional<std::string>>* exact_text, RunProgress* progress,
         int stop_after)
      : j_(j),
        a_(a),
        e_(e),
        row_(row),
        exact_text_(exact_text),
        as_of_(as_of),
        rt_(rt),
        max_run_(max_run),
        progress_(progress),
        stop_after_(stop_after),
        behaviour_(rt, e, as_of) {}

  // Runs until the enrollment parks or ends.
  RunResult run() {
    r_.step = e_.step;
    r_.parked = e_.parked;
    r_.parked_at = e_.parked_at;
    r_.wait_deadline = e_.wait_deadline;
    r_.context = e_.context.is_object() ? e_.context : Json::object();
    r_.last_event = e_.last_event;
    r_.visits = e_.visits;
    if (r_.parked && r_.step >= 0 && r_.step < static_cast<int>(j_.steps.size()) &&
        j_.steps[r_.step].type == StepType::WaitForEvent)
      r_.waiting_for = j_.steps[r_.step].event;
    if (r_.step < 0 || r_.step >= static_cast<int>(j_.steps.size()))
      throw Error(sqlstate::kInternal,
                  "enrollment " + std::to_string(e_.id) + " is at step " + std::to_string(r_.step) +
                      ", which does not exist in journey " + quote_name(j_.name) + " version " +
                      std::to_string(j_.version));
    while (!done_) {
      if (progress_) *progress_ = RunProgress{r_.step, run_visits_};
      if (stop_after_ >= 0 && run_visits_ >= stop_after_) {
        // Replaying a failed run: stop at the step that failed, due now.
        r_.parked = false;
        r_.parked_at = 0;
        r_.next_run_at = as_of_;
        r_.wait_deadline.reset();
        r_.waiting_for.clear();
        finish(RunResult::Outcome::Parked);
        break;
      }
      step_once();
    }
    if (r_.outcome != RunResult::Outcome::Parked) {
      r_.parked = false;
      r_.next_run_at.reset();
      r_.wait_deadline.reset();
      r_.waiting_for.clear();
    }
    return std::move(r_);
  }

 private:
  const CompiledJourney& j_;
  const AudienceSchema& a_;
  const Enrollment& e_;
  std::vector<Value>& row_;
  // Exact text of the row's numeric values (run_enrollment); a column an
  // update_field step changed renders from row_ instead.
  const std::vector<std::optional<std::string>>* exact_text_;
  std::set<int> updated_columns_;
  int64_t as_of_;
  Runtime& rt_;
  int max_run_;
  RunProgress* progress_;
  int stop_after_;
  RuntimeBehaviour behaviour_;
  RunResult r_;
  int run_visits_ = 0;
  bool done_ = false;

  const CompiledStep& cur() const { return j_.steps[r_.step]; }

  // Ends the run with an outcome.
  void finish(RunResult::Outcome o) {
    r_.outcome = o;
    done_ = true;
  }

  // Records a visit of the current step leaving by `branch`.
  void visit(const std::string& branch) {
    const CompiledStep& s = cur();
    r_.visits_log.push_back(Visit{s.key, s.type, branch, ++r_.visits});
    ++run_visits_;
  }

  // Visits the current step leaving by `branch`, then moves to its target or completes.
  void move(const std::string& branch) {
    visit(branch);
    int t = cur().target(branch);
    if (t < 0) {
      finish(RunResult::Outcome::Completed);
      return;
    }
    r_.step = t;
    r_.parked = false;
    r_.wait_deadline.reset();
    r_.waiting_for.clear();
  }

  // Parks at the current step until next_run_at (nullopt: until woken).
  void park(std::optional<int64_t> next_run_at) {
    r_.parked = true;
    r_.next_run_at = next_run_at;
    r_.waiting_for = cur().type == StepType::WaitForEvent ? cur().event : std::string();
    finish(RunResult::Outcome::Parked);
  }

  // Condition input with the row, context, clock and behaviour (event optional).
  EvalInput input(const Json* event) {
    EvalInput in;
    in.row = &row_;
    in.event = event;
    in.context = &r_.context;
    in.now_micros = as_of_;
    in.behaviour = &behaviour_;
    return in;
  }

  // One iteration: caps, exit rules, then the current step.
  void step_once() {
    const CompiledStep& s = cur();
    if (r_.visits >= j_.settings.max_step_visits) {
      r_.error = "step visit limit (" + std::to_string(j_.settings.max_step_visits) +
                 ") reached at step " + quote_name(s.key);
      r_.error_code = kVisitLimitSqlstate;
      finish(RunResult::Outcome::Failed);
      return;
    }
    if (run_visits_ >= max_run_) {
      r_.error = "more than " + std::to_string(max_run_) + " steps in one run at step " +
                 quote_name(s.key) + " (a loop?)";
      r_.error_code = kVisitLimitSqlstate;
      finish(RunResult::Outcome::Failed);
      return;
    }
    for (const CompiledExitRule& rule : j_.exit_rules) {
      if (rule.kind != CompiledExitRule::Kind::Condition || !rule.condition) continue;
      EvalInput in;
      in.row = &row_;
      in.context = &r_.context;
      in.now_micros = as_of_;
      if (!evaluate(*rule.condition, in)) continue;
      r_.exit_reason = exit_reason_of(rule);
      r_.exit_goal = rule.is_goal;
      if (rule.is_goal && !r_.converted_at) r_.converted_at = as_of_;
      finish(RunResult::Outcome::Exited);
      return;
    }
    switch (s.type) {
      case StepType::SendEmail:
      case StepType::Send:
        send(s);
        move("next");
        break;
      case StepType::Delay:
        delay(s);
        break;
      case StepType::WaitForEvent:
        wait_for_event(s);
        break;
      case StepType::WaitUntil:
        wait_until(s);
        break;
      case StepType::Condition:
        move(evaluate(*s.condition, input(&r_.last_event)) ? "yes" : "no");
        break;
      case StepType::Branch: {
        EvalInput in = input(&r_.last_event);
        for (const auto& [name, cond] : s.cases)
          if (evaluate(cond, in)) {
            move(name);
            return;
          }
        move("else");
        break;
      }
      case StepType::Split: {
        size_t i = pick_variant(s.variant_weights, j_.name, e_.customer_id,
                                s.split_draws_own ? std::string_view(s.key) : std::string_view());
        move(i < s.variant_names.size() ? s.variant_names[i] : std::string());
        break;
      }
      case StepType::UpdateField:
        update_field(s);
        move("next");
        break;
      case StepType::Call:
        call(s);
        if (!done_) move("next");
        break;
      case StepType::Goal:
        if (!r_.converted_at) r_.converted_at = as_of_;
        move("next");
        break;
      case StepType::Exit:
        visit("");
        finish(RunResult::Outcome::Completed);
        break;
    }
  }

  // Value of a merge tag path: a column, context.<path> or event.<path>.
  std::optional<std::string> tag(const std::string& path) {
    if (path.rfind("context.", 0) == 0) return json_text(walk(r_.context, path.substr(8)));
    if (path.rfind("event.", 0) == 0) return json_text(walk(r_.last_event, path.substr(6)));
    int col = a_.find(path);
    if (col < 0 || col >= static_cast<int>(row_.size())) return std::nullopt;
    // A numeric's digits, not its float8, while the row still holds that value
    // (not changed by an update_field step of this run or of another
    // enrollment of the customer in the same batch).
    if (exact_text_ && col < static_cast<int>(exact_text_->size()) && (*exact_text_)[col] &&
        std::holds_alternative<double>(row_[col]) && !updated_columns_.count(col) &&
        std::strtod((*exact_text_)[col]->c_str(), nullptr) == std::get<double>(row_[col]))
      return *(*exact_text_)[col];
    return value_to_text(row_[col]);
  }

  // Renders template text (compiled here: payload strings).
  std::string render_text(const std::string& text) {
    return render(compile_template(text), [this](const std::string& p) { return tag(p); });
  }

  // Renders every string of a payload, recursively.
  Json render_payload(const Json& v) {
    if (v.is_string()) return render_text(v.get<std::string>());
    if (v.is_object()) {
      Json out = Json::object();
      for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = render_payload(*it);
      return out;
    }
    if (v.is_array()) {
      Json out = Json::array();
      for (const Json& e : v) out.push_back(render_payload(e));
      return out;
    }
    return v;
  }

  // Renders the message of a send_email / send step.
  void send(const CompiledStep& s) {
    TagLookup lookup = [this](const std::string& p) { return tag(p); };
    Json payload;
    if (!s.template_name.empty()) {
      const TemplateDef* t = rt_.find_template(s.template_name);
      if (!t)
        throw Error(sqlstate::kInternal, "step " + quote_name(s.key) + ": template " +
                                             quote_name(s.template_name) + " does not exist");
      // Publish checks the channel; a version frozen before that check existed
      // (or a damaged one) must still never send a template to another channel.
      if (t->channel != s.channel)
        throw Error(sqlstate::kInvalidParameter, "step " + quote_name(s.key) + ": template " +
                                                     quote_name(s.template_name) +
                                                     " is for channel " + quote_name(t->channel) +
                                                     ", not " + quote_name(s.channel));
      Json subject = t->subject ? Json(render(*t->subject, lookup)) : Json();
      // An e-mail's HTML body escapes its merge tags' output (unless "| raw"),
      // and only the links the template itself wrote may be click-tracked:
      // the sender wraps payload.tracked_links, never a link from customer data.
      const bool html = s.type == StepType::SendEmail && is_html_template(t->body);
      std::vector<TagSpan> spans;
      std::string body = render(t->body, lookup, html, &spans);
      if (s.type == StepType::SendEmail) {
        int col = s.to_field >= 0 ? s.to_field : a_.email_column;
        Json to;
        if (col >= 0 && col < static_cast<int>(row_.size()))
          if (auto text = value_to_text(row_[col])) to = *text;
        payload = Json::object();
        payload["to"] = to;
        payload["subject"] = subject;
        payload["body"] = body;
        payload["template"] = s.template_name;
        payload["format"] = html ? "html" : "text";
        std::vector<std::string> links = template_links(body, html, spans);
        if (!links.empty()) payload["tracked_links"] = links;
      } else {
        payload = Json::object();
        payload["template"] = s.template_name;
        if (t->subject) payload["subject"] = subject;
        payload["body"] = body;
      }
    } else {
      payload = render_payload(s.payload);
    }
    MessageOut out;
    out.visit = r_.visits + 1;
    out.step_key = s.key;
    out.channel = s.channel;
    out.payload = std::move(payload);
    out.holdout = e_.holdout;
    int to = s.to_field >= 0 ? s.to_field : a_.recipient_column(s.channel);
    if (to >= 0) {
      std::optional<std::string> text;
      if (to < static_cast<int>(row_.size())) text = value_to_text(row_[to]);
      if (text && !text->empty())
        out.recipient = *text;
      else
        out.no_recipient = true;
    }
    r_.messages.push_back(std::move(out));
  }

  // The zone of a delay: the step's zone, the customer's, or the journey's.
  std::string delay_zone(const CompiledStep& s) {
    if (s.delay_kind != CompiledStep::DelayKind::Until || s.until_timezone.empty())
      return j_.settings.timezone;
    if (s.until_timezone != "customer") return s.until_timezone;
    return customer_zone(a_, &row_, j_.settings.timezone,
                         [this](const std::string& z) { return rt_.known_zone(z); });
  }

  // Runs a delay step: park until the wake time, or move on when it is due.
  void delay(const CompiledStep& s) {
    const std::string zone = delay_zone(s);
    if (r_.parked) {
      // Re-armed (a migration to a new version, or resume's catch_up 'skip'):
      // the wake time follows this version's config, counted from the arrival
      // at the step; a time of day waits for its next window instead.
      if (e_.rearm) {
        std::optional<int64_t> wake;
        switch (s.delay_kind) {
          case CompiledStep::DelayKind::Duration:
            wake = rt_.add_duration(r_.parked_at, s.duration, zone);
            break;
          case CompiledStep::DelayKind::Until:
            wake = rt_.next_local_time(as_of_, s.until_time_sec, s.until_days, zone);
            if (*wake > as_of_) r_.parked_at = as_of_;
            break;
          case CompiledStep::DelayKind::UntilField:
            wake = until_field_wake(s, zone);
            break;
        }
        if (wake && *wake > as_of_) {
          park(*wake == kInfinity ? std::nullopt : wake);
          return;
        }
      }
      move("next");
      return;
    }
    std::optional<int64_t> wake;
    switch (s.delay_kind) {
      case CompiledStep::DelayKind::Duration:
        wake = rt_.add_duration(as_of_, s.duration, zone);
        break;
      case CompiledStep::DelayKind::Until:
        wake = rt_.next_local_time(as_of_, s.until_time_sec, s.until_days, zone);
        break;
      case CompiledStep::DelayKind::UntilField:
        wake = until_field_wake(s, zone);
        break;
    }
    if (!wake || *wake <= as_of_) {
      move("next");
      return;
    }
    r_.parked_at = as_of_;
    r_.wait_deadline.reset();
    // Until 'infinity': parked for good (never due); exit rules and exit() still end it.
    park(*wake == kInfinity ? std::nullopt : wake);
  }

  // Wake-up time of an until_field delay: the column plus the offset; null when
  // the column is null; ±infinity stays ±infinity (never / already due).
  std::optional<int64_t> until_field_wake(const CompiledStep& s, const std::string& zone) {
    if (s.until_field < 0 || s.until_field >= static_cast<int>(row_.size()) ||
        !std::holds_alternative<Timestamp>(row_[s.until_field]))
      return std::nullopt;
    int64_t at = std::get<Timestamp>(row_[s.until_field]).micros_since_unix_epoch;
    if (is_infinite(at)) return at;
    return rt_.add_duration(at, s.offset, zone);
  }

  // Runs a wait_for_event step: park, or take "event" / "timeout" when woken or due.
  void wait_for_event(const CompiledStep& s) {
    if (!r_.parked) {
      park_until_timeout(s);
      return;
    }
    rearm_deadline(s);
    if (e_.woken_by.is_array() && r_.step == e_.step) {
      for (const Json& ev : e_.woken_by) {
        const Json& name = member(ev, "name");
        if (!name.is_string() || name.get_ref<const std::string&>() != s.event) continue;
        // Only engagement with the message this enrollment's visit of the
        // message_of step created (journey.message_event adds "message").
        if (!s.message_of.empty()) {
          const Json& message = member(ev, "message");
          const Json& step = member(message, "step");
          const Json& enrollment = member(message, "enrollment_id");
          if (!step.is_string() || step.get_ref<const std::string&>() != s.message_of ||
              !enrollment.is_number_integer() || enrollment.get<int64_t>() != e_.id)
            continue;
        }
        const Json& props = member(ev, "properties");
        if (s.condition && !evaluate(*s.condition, input(&props))) continue;
        r_.last_event = props;
        move("event");
        return;
      }
    }
    timeout_or_park();
  }

  // A re-armed wait (migrated to a new version) takes that version's timeout,
  // counted from its arrival at the step.
  void rearm_deadline(const CompiledStep& s) {
    if (!e_.rearm) return;
    r_.wait_deadline.reset();
    if (s.timeout)
      r_.wait_deadline = rt_.add_duration(r_.parked_at, *s.timeout, j_.settings.timezone);
  }

  // Arms a wait step: parks with the step's timeout (if any) as deadline.
  void park_until_timeout(const CompiledStep& s) {
    r_.wait_deadline.reset();
    if (s.timeout) r_.wait_deadline = rt_.add_duration(as_of_, *s.timeout, j_.settings.timezone);
    r_.parked_at = as_of_;
    park(r_.wait_deadline);
  }

  // A parked wait that did not end another way: "timeout" once the deadline has
  // come, else park again until it.
  void timeout_or_park() {
    if (r_.wait_deadline && as_of_ >= *r_.wait_deadline) {
      move("timeout");
      return;
    }
    park(r_.wait_deadline);
  }

  // Runs a wait_until step: take "met" when `when` holds, "timeout" when due, else park.
  void wait_until(const CompiledStep& s) {
    if (evaluate(*s.condition, input(nullptr))) {
      move("met");
      return;
    }
    if (!r_.parked) {
      park_until_timeout(s);
      return;
    }
    rearm_deadline(s);
    timeout_or_park();
  }

  // "update_field step "k": <source> is <value>, not a value for column "c"
  // (<type>)", or "...: <value> is not a value ..." for a value the step sets.
  static std::string not_a_value(const CompiledStep& s, const Column& c, const std::string* source,
                                 const Json& value) {
    return "update_field step " + quote_name(s.key) + ": " +
           (source ? *source + " is " + value.dump() + "," : value.dump() + " is") +
           " not a value for column " + quote_name(c.name) + " (" + c.type_name + ")";
  }

  // Runs an update_field step: record the updates and apply them to the row.
  void update_field(const CompiledStep& s) {
    for (const auto& [col, value] : s.set) {
      const Column& c = a_.columns.at(col);
      const bool now =
          is_now(value) && (c.type == ValueType::Timestamp || c.type == ValueType::Date);
      Json out = now ? Json(format_timestamp(as_of_)) : value;
      const std::optional<std::string> path = from_path(value);
      if (path) {
        // {"from": "context.<key>"} or {"from": "event.<prop>"}: the value now
        // (JSON null sets null).
        const bool context = path->rfind("context.", 0) == 0;
        const Json* found =
            context ? walk(r_.context, path->substr(8)) : walk(r_.last_event, path->substr(6));
        if (!found) continue;  // a missing key leaves the column as it is
        out = *found;
        if (c.type == ValueType::Text && (out.is_number() || out.is_boolean())) out = out.dump();
        if (!fits_column(out, c))
          throw Error(sqlstate::kInvalidParameter, not_a_value(s, c, &*path, out));
      }
      if (!out.is_null() && !now) {
        try {
          rt_.check_column_value(col, out);
        } catch (const Error& e) {
          throw Error(e.sqlstate(),
                      not_a_value(s, c, path ? &*path : nullptr, out) + ": " + e.what());
        }
      }
      if (col < static_cast<int>(row_.size())) row_[col] = json_to_value(out, c, as_of_);
      updated_columns_.insert(col);
      r_.updates.push_back(FieldUpdateOut{col, std::move(out)});
    }
  }

  // Runs a call step: merge the function's object result into the context.
  void call(const CompiledStep& s) {
    // A simulation calls nothing: the step's declared result stands in.
    const bool simulating = rt_.simulating();
    if (!simulating) rt_.before_call(e_, s, r_.visits, r_.context, r_.last_event);
    Json res = simulating ? s.simulate_result.value_or(Json())
                          : rt_.call_function(s.function, e_.customer_id, r_.context);
    if (!res.is_null() && !res.is_object())
      throw Error(sqlstate::kInvalidParameter, "call step " + quote_name(s.key) + ": function " +
                                                   s.function + " returned " + res.type_name() +
                                                   ", expected a JSON object");
    if (res.is_object())
      for (auto it = res.begin(); it != res.end(); ++it) r_.context[it.key()] = *it;
    if (simulating) return;
    // The function may have ended the enrollment, or changed the customer's
    // row: later steps read the row as it left it.
    if (!rt_.after_call(e_, row_, updated_columns_)) {
      r_.ended_by_call = true;
      finish(RunResult::Outcome::Exited);
    }
  }
};

}  // namespace

// Target step index of a branch.
int CompiledStep::target(std::string_view branch) const {
  for (const auto& [name, index] : branches)
    if (name == branch) return index;
  return -1;
}

// Step index by key.
int CompiledJourney::find(std::string_view key) const {
  auto it = by_key.find(std::string(key));
  return it == by_key.end() ? -1 : it->second;
}

// The exit_reason of an enrollment a rule ends; see the header.
std::string exit_reason_of(const std::string& name, int position) {
  if (!name.empty()) return name;
  return "exit rule exit[" + std::to_string(position) + "]";
}

std::string exit_reason_of(const CompiledExitRule& rule) {
  return exit_reason_of(rule.name, rule.position);
}

// Marks the splits another split leads to (split_draws_own). A split no other
// split reaches keeps the journey-wide draw, so single-split journeys assign
// as 0.1 did. One walk from every split's successors at once, each step
// taking at most two distinct origins: a split reached from some other split
// always gets an origin other than itself.
void mark_nested_splits(CompiledJourney& journey) {
  const int n = static_cast<int>(journey.steps.size());
  std::vector<std::vector<int>> origins(n);
  std::vector<std::pair<int, int>> queue;  // (step, origin split)
  auto reach = [&](int step, int origin) {
    if (step < 0 || step >= n) return;
    std::vector<int>& seen = origins[step];
    if (seen.size() >= 2 || std::find(seen.begin(), seen.end(), origin) != seen.end()) return;
    seen.push_back(origin);
    queue.emplace_back(step, origin);
  };
  for (int i = 0; i < n; ++i)
    if (journey.steps[i].type == StepType::Split)
      for (const auto& branch : journey.steps[i].branches) reach(branch.second, i);
  for (size_t q = 0; q < queue.size(); ++q) {
    auto [step, origin] = queue[q];
    for (const auto& branch : journey.steps[step].branches) reach(branch.second, origin);
  }
  for (int i = 0; i < n; ++i) {
    CompiledStep& s = journey.steps[i];
    if (s.type != StepType::Split) continue;
    for (int origin : origins[i]) s.split_draws_own = s.split_draws_own || origin != i;
  }
}

// Compiles a published definition against its audience: the validator's
// parser (compile.hpp) builds the compiled form.
CompiledJourney compile_journey(const Json& definition, const AudienceSchema& audience,
                                int64_t journey_id, int32_t version) {
  ValidationEnv env;
  env.audience = &audience;
  Compilation c = compile_definition(definition, env);
  if (!c.usable()) throw Error(c.unusable_code, c.unusable_message());
  c.journey.journey_id = journey_id;
  c.journey.version = version;
  mark_nested_splits(c.journey);
  return std::move(c.journey);
}

namespace {

// Adds the columns named by merge tags of every string in a payload.
void payload_columns(const Json& v, const AudienceSchema& audience, std::vector<int>& out) {
  if (v.is_string()) {
    for (const std::string& tag : tags_of(v.get_ref<const std::string&>()))
      if (int c = audience.find(tag); c >= 0) out.push_back(c);
  } else if (v.is_array() || v.is_object()) {
    for (const Json& e : v) payload_columns(e, audience, out);
  }
}

}  // namespace

// The send steps addressing their channel's column; see the header.
std::vector<std::pair<std::string, std::string>> channels_sent(const CompiledJourney& journey) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const CompiledStep& s : journey.steps)
    if ((s.type == StepType::SendEmail || s.type == StepType::Send) && s.to_field < 0 &&
        !s.channel.empty())
      out.emplace_back(s.key, s.channel);
  return out;
}

// The templates a journey renders; see the header.
std::vector<std::string> templates_named(const CompiledJourney& journey) {
  std::set<std::string> names;
  for (const CompiledStep& s : journey.steps)
    if ((s.type == StepType::SendEmail || s.type == StepType::Send) && !s.template_name.empty())
      names.insert(s.template_name);
  return {names.begin(), names.end()};
}

// The columns a journey reads; see the header.
std::vector<int> columns_read(const CompiledJourney& journey, const AudienceSchema& audience,
                              const std::map<std::string, TemplateDef>& templates) {
  std::vector<int> out;
  auto condition = [&](const std::optional<CompiledCondition>& c) {
    if (c) out.insert(out.end(), c->columns_read.begin(), c->columns_read.end());
  };
  auto tags = [&](const CompiledTemplate& t) {
    for (const std::string& tag : tags_of(t))
      if (int c = audience.find(tag); c >= 0) out.push_back(c);
  };
  bool customer_zone = false;
  for (const CompiledStep& s : journey.steps) {
    condition(s.condition);
    for (const auto& [name, c] : s.cases)
      out.insert(out.end(), c.columns_read.begin(), c.columns_read.end());
    if (s.type == StepType::SendEmail || s.type == StepType::Send) {
      if (!s.template_name.empty()) {
        auto t = templates.find(s.template_name);
        if (t != templates.end()) {
          if (t->second.subject) tags(*t->second.subject);
          tags(t->second.body);
        }
      } else {
        payload_columns(s.payload, audience, out);
      }
      int to = s.to_field >= 0 ? s.to_field : audience.recipient_column(s.channel);
      if (to >= 0) out.push_back(to);
    }
    if (s.type == StepType::Delay) {
      if (s.delay_kind == CompiledStep::DelayKind::UntilField) out.push_back(s.until_field);
      if (s.delay_kind == CompiledStep::DelayKind::Until && s.until_timezone == "customer")
        customer_zone = true;
    }
  }
  for (const CompiledExitRule& r : journey.exit_rules) condition(r.condition);
  if (journey.settings.quiet_hours && journey.settings.quiet_hours->timezone == "customer")
    customer_zone = true;
  if (customer_zone && audience.timezone_column >= 0) out.push_back(audience.timezone_column);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.erase(std::remove_if(
                out.begin(), out.end(),
                [&](int c) { return c < 0 || c >= static_cast<int>(audience.columns.size()); }),
            out.end());
  return out;
}

// Advances one enrollment until it parks or ends.
RunResult run_enrollment(const CompiledJourney& journey, const AudienceSchema& audience,
                         const Enrollment& enrollment, std::vector<Value>& row, int64_t as_of,
                         Runtime& runtime, int max_visits_this_run,
                         const std::vector<std::optional<std::string>>* exact_text,
                         RunProgress* progress, int stop_after_visits) {
  Runner runner(journey, audience, enrollment, row, as_of, runtime, max_visits_this_run, exact_text,
                progress, stop_after_visits);
  return runner.run();
}

}  // namespace pgj::core
