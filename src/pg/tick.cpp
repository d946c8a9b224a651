// The engine tick. Reads and writes are batched: one claim query, one customer
// read per audience, and one statement per kind of write for a whole batch. The
// batch runs inside one subtransaction; only if it fails is it rerun one
// enrollment per subtransaction, so that just the failing one is marked.
#include "pg/tick.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"
#include "core/policy.hpp"
#include "pg/as_owner.hpp"
#include "pg/bridge.hpp"
#include "pg/cells.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/due_index.hpp"
#include "pg/ending.hpp"
#include "pg/journey_cache.hpp"
#include "pg/pg_runtime.hpp"
#include "pg/spi.hpp"
#include "pg/step_guard.hpp"

extern "C" {
#include "commands/extension.h"
#include "utils/inval.h"
}

namespace pgj::pg {

namespace {

constexpr size_t kBatchSize = 500;

// Why a subtransaction failed: its message, whether it was a transient
// conflict (deadlock, serialization) that should be retried, not charged, and
// whether it was our own pg_journey.step_timeout.
struct Failure {
  std::string message;
  bool transient = false;
  bool step_timeout = false;
  std::string sqlstate = "XX000";  // kept in last_error_code
};

// What a claim reads of a due enrollment ($1: as_of), for both claims below.
#define PGJ_CLAIM_DUE                                                                           \
  "SELECT e.id, e.journey_id, e.version, e.customer_id, e.entity_key, e.step_key,"              \
  "       (extract(epoch from e.parked_at) * 1000000)::int8,"                                   \
  "       (extract(epoch from e.wait_deadline) * 1000000)::int8,"                               \
  "       e.context::text, e.last_event::text, e.woken_by::text, e.visits, e.holdout, e.rearm," \
  "       e.attempts, e.xmin::text::int8"                                                       \
  "  FROM journey.enrollments e"                                                                \
  " WHERE e.status = 'active' AND e.next_run_at <= $1"

// Statements of the tick, prepared once per backend.
PreparedStatement claim_statement(
    PGJ_CLAIM_DUE
    "   AND EXISTS (SELECT 1 FROM journey.journeys j"
    "                WHERE j.id = e.journey_id AND j.state = 'published')"
    " ORDER BY e.next_run_at, e.id"
    " LIMIT $2"
    " FOR UPDATE OF e SKIP LOCKED",
    {TIMESTAMPTZOID, INT4OID});

// The claim of a simulation's tick: the same, for one journey version only
// (begin_simulation), due no earlier than $5 (set_simulation_floor): the index
// walk starts there, past the entries of the rows the run has already moved on
// (dead to nobody before the rollback, so never removed).
PreparedStatement simulation_claim_statement(PGJ_CLAIM_DUE
                                             "   AND e.next_run_at >= $5"
                                             "   AND e.journey_id = $3 AND e.version = $4"
                                             " ORDER BY e.next_run_at, e.id"
                                             " LIMIT $2"
                                             " FOR UPDATE OF e SKIP LOCKED",
                                             {TIMESTAMPTZOID, INT4OID, INT8OID, INT4OID,
                                              TIMESTAMPTZOID});

// The journey version a simulation in this backend runs (begin_simulation).
struct Simulation {
  bool active = false;
  int level = 0;  // the subtransaction it runs in: its rollback ends it
  int64_t journey_id = 0;
  int32_t version = 0;
  TimestampTz floor = DT_NOBEGIN;  // claims nothing due earlier
  bool wrote_customers = false;    // a tick wrote field updates since it was last asked
} simulation;

// A visit converts the enrollment only if it was not converted before; the
// first visit of a run arrived when the enrollment parked there (passed), or
// else when it left its previous step, or else when it entered. The lookups
// name the customer: on a Citus shard the keys lead with customer_id.
PreparedStatement activity_statement(
    "INSERT INTO journey.activity"
    "  (enrollment_id, journey_id, version, customer_id, step_key, step_type, branch, visit, at,"
    "   outcome, converted, arrived_at)"
    " SELECT u.e, u.j, u.v, u.c, u.s, u.t::journey.step_type, u.b, u.n, $9, u.o,"
    "        u.cv AND NOT EXISTS (SELECT 1 FROM journey.enrollments x"
    "                              WHERE x.customer_id = u.c AND x.id = u.e"
    "                                AND x.converted_at IS NOT NULL),"
    "        coalesce(u.ar, (SELECT max(a.at) FROM journey.activity a"
    "                         WHERE a.customer_id = u.c AND a.enrollment_id = u.e),"
    "                 (SELECT x.entered_at FROM journey.enrollments x"
    "                   WHERE x.customer_id = u.c AND x.id = u.e))"
    "   FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::text[], $5::text[], $6::text[],"
    "               $7::text[], $8::int4[], $10::text[], $11::bool[], $12::timestamptz[])"
    "        u(e, j, v, c, s, t, b, n, o, cv, ar)",
    {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
     TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZOID, TEXTARRAYOID, BOOLARRAYOID, TIMESTAMPTZARRAYOID});

// The id is the column's default, spelled out: on Citus the tick writes the
// shard of messages, which has no default (docs/scale-out.md).
PreparedStatement message_statement(
    "INSERT INTO journey.messages (id, enrollment_id, journey_id, version, step_key, visit,"
    "  customer_id, channel, payload, status, reason, created_at, send_after, recipient)"
    " SELECT nextval('journey.messages_id_seq'), u.e, u.j, u.v, u.s, u.n, u.c, u.ch, u.p::jsonb,"
    "        u.st, u.r, $12, u.sa, u.rc"
    "   FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::text[], $5::int4[], $6::text[],"
    "               $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],"
    "               $13::text[])"
    "        u(e, j, v, s, n, c, ch, p, st, r, sa, rc)",
    {INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
     TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID,
     TEXTARRAYOID});

// The suppressions (journey.suppressions) of the customers of a batch's
// messages; core::stopping_suppression decides which one stops each message
// (docs/delivery.md). One batched read, run on the tick's node: on a Citus node
// it reads the suppressions shard of the tick's shard group (a function call
// per message would be planned by Citus each time).
PreparedStatement suppression_statement(
    // The audience by its id (journey.audiences.id), given back as this node's
    // OID: the OID in a suppression's audience column is the writing node's,
    // and a shard move copies it as is.
    "SELECT x.customer_id, au.relation::oid::int8, x.id, x.channel, x.reason, x.at"
    "  FROM journey.suppressions x JOIN journey.audiences au ON au.id = x.audience_id"
    " WHERE x.customer_id = ANY($1::text[])",
    {TEXTARRAYOID});

// The new state of the enrollments a run parked (still active). Those it ended
// are end_enrollments' alone (src/pg/ending.cpp), which writes their final
// state in the same update: each row is updated once.
PreparedStatement enrollment_statement(
    "UPDATE journey.enrollments e"
    "   SET step_key = u.s, next_run_at = u.nr, parked_at = u.pa, wait_deadline = u.wd,"
    "       waiting_for = u.wf, context = u.cx::jsonb, last_event = u.le::jsonb, visits = u.vi,"
    "       converted_at = coalesce(e.converted_at, u.cv), exit_reason = NULL,"
    "       last_error = NULL, last_error_code = NULL, attempts = 0, woken_by = '[]',"
    "       rearm = false"
    "  FROM unnest($1::int8[], $2::text[], $3::timestamptz[], $4::timestamptz[],"
    "              $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::int4[],"
    "              $10::timestamptz[], $11::text[])"
    "       u(id, s, nr, pa, wd, wf, cx, le, vi, cv, c)"
    // An enrollment this very batch ended (a field update fired an exit rule of
    // the customer table's trigger) keeps that ending.
    // The customer too: on a Citus shard the key is (customer_id, id).
    " WHERE e.customer_id = u.c AND e.id = u.id AND e.status = 'active'",
    {INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
     TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID});

// What a failure is charged to: the failing enrollments' attempts so far, and
// their version (whose compiled settings give max_attempts; its settings object
// only where this backend has not compiled it: charge_failures).
// core::charge_failure decides, charge_statement writes.
PreparedStatement failed_rows_statement(
    "SELECT e.id, e.attempts, e.step_key, v.definition->'settings', j.name, e.version,"
    "       e.journey_id"
    "  FROM journey.enrollments e"
    "  JOIN journey.versions v ON v.journey_id = e.journey_id AND v.version = e.version"
    "  JOIN journey.journeys j ON j.id = e.journey_id"
    " WHERE e.id = ANY($1) AND e.status = 'active'",
    {INT8ARRAYOID});

// The enrollments whose step an interrupted tick was running (see
// step_guard.hpp): only while their row is as that tick claimed it (same xmin)
// and nobody holds it (a tick running it again now is left alone).
PreparedStatement interrupted_rows_statement(
    "SELECT x.id, x.attempts, x.step_key, v.definition->'settings', j.name, x.version,"
    "       x.journey_id"
    "  FROM journey.enrollments x"
    "  JOIN unnest($1::int8[], $2::int8[]) r(id, rv) ON r.id = x.id"
    "  JOIN journey.versions v ON v.journey_id = x.journey_id AND v.version = x.version"
    "  JOIN journey.journeys j ON j.id = x.journey_id"
    " WHERE x.status = 'active' AND x.xmin::text::int8 = r.rv"
    "   FOR UPDATE OF x SKIP LOCKED",
    {INT8ARRAYOID, INT8ARRAYOID});

// Writes charged failures: attempts, the error and its SQLSTATE, and either
// the next try or the end (`failed`).
PreparedStatement charge_statement(
    "UPDATE journey.enrollments e"
    "   SET attempts = u.a, last_error = u.m, last_error_code = u.c, next_run_at = u.nr"
    "  FROM unnest($1::int8[], $2::int4[], $3::text[], $4::text[], $5::timestamptz[])"
    "       u(id, a, m, c, nr)"
    " WHERE e.id = u.id AND e.status = 'active'",
    {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID});

// Whether an enrollment is still active, asked after a call step's function
// returned (it may have ended it: see CallInProgress).
PreparedStatement status_statement(
    "SELECT e.status = 'active' FROM journey.enrollments e WHERE e.customer_id = $1 AND e.id = $2",
    {TEXTOID, INT8OID});

// Ends (failed) the enrollments out of attempts, through end_enrollments
// (which writes the visit of the step they failed at).
void end_failed(const std::vector<int64_t>& ids,
                const std::vector<std::optional<std::string>>& errors, TimestampTz as_of) {
  if (ids.empty()) return;
  Endings endings;
  endings.id = ids;
  endings.status.assign(ids.size(), std::string("failed"));
  endings.reason = errors;
  endings.goal.assign(ids.size(), false);
  end_enrollments(endings, as_of, std::nullopt, /*lock_first=*/false);
}

// Retries a transient failure uncharged, at $2 (core::transient_retry_at).
PreparedStatement defer_statement(
    "UPDATE journey.enrollments e SET next_run_at = $2 WHERE e.id = $1", {INT8OID, TIMESTAMPTZOID});

PreparedStatement recent_messages_statement(
    "SELECT m.customer_id, count(*) FROM journey.messages m"
    " WHERE m.customer_id = ANY($1) AND m.created_at > $2"
    "   AND m.status IN ('pending', 'claimed', 'sent')"
    " GROUP BY m.customer_id",
    {TEXTARRAYOID, TIMESTAMPTZOID});

// Citus: the shards of journey.enrollments placed on this node, and their
// metadata lock (local_shard_groups).
PreparedStatement local_placements_statement(
    "SELECT s.shardid FROM pg_catalog.pg_dist_shard s"
    "  JOIN pg_catalog.pg_dist_placement p USING (shardid)"
    " WHERE s.logicalrelid = 'journey.enrollments'::regclass"
    "   AND p.groupid = (SELECT groupid FROM pg_catalog.pg_dist_local_group)"
    " ORDER BY s.shardid",
    {});
PreparedStatement lock_shards_statement("SELECT pg_catalog.lock_shard_metadata(5, $1)",
                                        {INT8ARRAYOID});

// Customer reads and field writes are per audience (and column): prepared on
// first use, kept by key.
std::map<std::string, std::unique_ptr<PreparedStatement>> dynamic_statements;

PreparedStatement& dynamic_statement(const std::string& sql, std::vector<Oid> types) {
  auto it = dynamic_statements.find(sql);
  if (it == dynamic_statements.end())
    it = dynamic_statements.emplace(sql, std::make_unique<PreparedStatement>(sql, std::move(types)))
             .first;
  return *it->second;
}

void reset_plans() {
  for (PreparedStatement* s :
       {&claim_statement, &simulation_claim_statement, &activity_statement, &message_statement,
        &enrollment_statement, &failed_rows_statement, &interrupted_rows_statement,
        &charge_statement, &status_statement, &defer_statement, &recent_messages_statement,
        &suppression_statement, &local_placements_statement, &lock_shards_statement})
    s->reset();
  for (auto& [sql, statement] : dynamic_statements) statement->reset();
  dynamic_statements.clear();
  PgRuntime::reset_plans();
}

std::string quote_ident(const std::string& name) {
  const char* quoted = pg_guard([&] { return quote_identifier(name.c_str()); });
  return quoted;
}

// A string as an SQL literal.
std::string quote_literal(const std::string& text) {
  const char* t = text.c_str();
  return pg_guard([&] { return static_cast<const char*>(quote_literal_cstr(t)); });
}

// An enrollment claimed by this tick.
struct Claimed {
  core::Enrollment state;
  int64_t journey_id = 0;
  int32_t version = 0;
  int64_t row_version = 0;  // xmin of its row as claimed
  std::string step_key;
  const CachedJourney* journey = nullptr;
  std::optional<Failure> prepare_error;  // its journey could not be loaded
};

// A batch's customer rows are keyed by audience and customer (customer_key):
// a batch runs journeys of several audiences, whose tables may share ids.
using CustomerRows = std::unordered_map<std::string, std::vector<core::Value>>;
// Per customer, the exact text of its numeric columns (read as float8 for
// conditions; merge tags render these digits): run_enrollment's exact_text.
using CustomerTexts = std::unordered_map<std::string, std::vector<std::optional<std::string>>>;

std::string customer_key(Oid audience, const std::string& customer) {
  return std::to_string(audience) + '/' + customer;
}

// A cell of the customer read (see read_customers) as the column's Value:
// times arrive as Unix micros (int8).
core::Value customer_value(core::Value cell, const core::ColumnClass& kind) {
  if (kind.holds_time())
    if (const int64_t* micros = std::get_if<int64_t>(&cell)) return core::Timestamp{*micros};
  return cell;
}

// Reads the rows of `customers` from an audience table in one query: only
// `columns` (what the batch's journeys read), each converted by its category;
// the other columns read as null. Timestamps and dates as Unix micros, with
// ±infinity as the core's kInfinity / kMinusInfinity.
void read_customers(const AudienceInfo& audience, const std::vector<std::string>& customers,
                    const std::vector<int>& columns, CustomerRows& rows,
                    CustomerTexts* texts = nullptr, bool read_only = true) {
  std::vector<int> numerics;  // columns also read as text (numeric: float8 loses digits)
  std::string sql = "SELECT t." + quote_ident(audience.schema.key_column) + "::text";
  for (int i : columns) {
    std::string col = "t." + quote_ident(audience.schema.columns[i].name);
    const core::ValueType type = audience.columns[i].kind.type;
    const bool is_date = type == core::ValueType::Date;
    if (type == core::ValueType::Int)
      sql += ", " + col + "::int8";
    else if (type == core::ValueType::Float)
      sql += ", " + col + "::float8";
    else if (audience.columns[i].kind.holds_time())
      // Finite values past 294246 AD do not fit microseconds since 1970 in an
      // int8: journey._timestamp_beyond names the column instead of "bigint
      // out of range".
      sql += ", CASE WHEN " + col + " IS NULL THEN NULL WHEN isfinite(" + col + ") AND " + col +
             " >= '294247-01-01'::" + (is_date ? "date" : "timestamp") +
             " THEN journey._timestamp_beyond(" + quote_literal(audience.schema.columns[i].name) +
             ", " + quote_literal(audience.qualified_name) + ", " +
             // A date by its fields: to_char would cast it to timestamp, whose
             // range ends before the date's ("date out of range for timestamp").
             (is_date ? "extract(year from " + col + ") || '-' || lpad(extract(month from " + col +
                            ")::text, 2, '0') || '-' || lpad(extract(day from " + col +
                            ")::text, 2, '0')"
                      : "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS\"+00\"')") +
             ") WHEN isfinite(" + col + ") THEN (extract(epoch from " + col +
             (is_date ? "::timestamp" : "") + ") * 1000000)::int8 WHEN " + col +
             " > 'epoch' THEN '9223372036854775807'::int8 ELSE '-9223372036854775808'::int8 END";
    else
      sql += ", " + col + (type == core::ValueType::Bool ? "" : "::text");
  }
  if (texts)
    for (int i : columns)
      if (audience.columns[i].kind.exact_text) {
        numerics.push_back(i);
        sql += ", t." + quote_ident(audience.schema.columns[i].name) + "::text";
      }
  sql += " FROM " + audience.qualified_name + " t WHERE t." +
         quote_ident(audience.schema.key_column) + " = ANY($1::text[]::" + audience.key_type +
         "[])";
  std::vector<std::optional<std::string>> keys(customers.begin(), customers.end());
  Datum args[1] = {text_array(keys)};
  const char nulls[1] = {' '};
  dynamic_statement(sql, {TEXTARRAYOID}).execute(args, nulls, read_only);
  for (std::vector<core::Value>& row : spi_result_values()) {
    std::vector<core::Value> values(audience.schema.columns.size());
    for (size_t k = 0; k < columns.size(); ++k)
      values[columns[k]] = customer_value(std::move(row[k + 1]), audience.columns[columns[k]].kind);
    std::string key = customer_key(audience.relid, value_text(row[0]));
    if (!numerics.empty()) {
      std::vector<std::optional<std::string>> exact(audience.schema.columns.size());
      for (size_t k = 0; k < numerics.size(); ++k) {
        const core::Value& text = row[columns.size() + 1 + k];
        if (!value_null(text)) exact[numerics[k]] = value_text(text);
      }
      (*texts)[key] = std::move(exact);
    }
    rows[key] = std::move(values);
  }
}

// The tick's runtime: around a call step it lets an ending the function
// causes end the enrollment at the call step (CallInProgress), then tells the
// run whether it goes on and refreshes the customer's row as the function
// left it (only after call steps: one status check and one row read each).
class TickRuntime : public PgRuntime {
 public:
  explicit TickRuntime(CustomerTexts& texts) : texts_(texts) {}

  // The journey whose enrollment runs next and its audience.
  void set_running(const CachedJourney* journey) {
    set_journey(journey);
    journey_ = journey;
  }

  void before_call(const core::Enrollment& enrollment, const core::CompiledStep& step,
                   int32_t visits, const core::Json& context,
                   const core::Json& last_event) override {
    call_ = CallInProgress{
        enrollment.id, step.key, visits, context.dump(),
        last_event.is_null() ? std::nullopt : std::optional<std::string>(last_event.dump())};
  }

  core::Json call_function(const std::string& function, const std::string& customer_id,
                           const core::Json& context) override {
    // Cleared however the function returns (a C++ exception carries its errors).
    struct Clear {
      ~Clear() { set_call_in_progress(nullptr); }
    } clear;
    set_call_in_progress(&call_);
    return PgRuntime::call_function(function, customer_id, context);
  }

  bool after_call(const core::Enrollment& enrollment, std::vector<core::Value>& row,
                  const std::set<int>& keep) override {
    Datum args[2] = {string_to_text(enrollment.customer_id), Int64GetDatum(enrollment.id)};
    const char nulls[2] = {' ', ' '};
    // Not read-only: a new snapshot, which sees what the function wrote.
    status_statement.execute(args, nulls, false);
    std::vector<std::vector<core::Value>> status = spi_result_values();
    if (status.empty() || !value_bool(status[0][0])) return false;
    if (!journey_) return true;
    const AudienceInfo& audience = *journey_->audience;
    CustomerRows fresh;
    CustomerTexts fresh_texts;
    read_customers(audience, {enrollment.customer_id}, journey_->columns, fresh, &fresh_texts,
                   /*read_only=*/false);
    const std::string key = customer_key(audience.relid, enrollment.customer_id);
    auto found = fresh.find(key);
    if (found == fresh.end()) return true;  // gone: the audience trigger ends it
    auto texts = fresh_texts.find(key);
    auto& exact = texts_[key];
    for (int col : journey_->columns) {
      if (keep.count(col) || col >= static_cast<int>(row.size())) continue;
      row[col] = found->second[col];
      if (texts != fresh_texts.end() && col < static_cast<int>(texts->second.size())) {
        if (exact.size() < texts->second.size()) exact.resize(texts->second.size());
        exact[col] = texts->second[col];
      }
    }
    return true;
  }

 private:
  CustomerTexts& texts_;
  const CachedJourney* journey_ = nullptr;
  CallInProgress call_;
};

// Collects the effects of a batch and writes them in a few statements.
class BatchWriter {
 public:
  BatchWriter(TimestampTz as_of, PgRuntime& runtime) : as_of_(as_of), runtime_(runtime) {}

  // Adds one enrollment's run.
  void add(const Claimed& e, core::RunResult run, const CustomerRows& rows);
  // Writes everything added.
  void flush();

 private:
  struct PendingMessage {
    const Claimed* enrollment;
    const core::MessageOut* message;
    std::string status;
    std::optional<std::string> reason;
    int64_t send_after;
  };
  void apply_suppressions();
  void apply_frequency_caps();
  void write_messages();
  void write_field_updates();

  TimestampTz as_of_;
  PgRuntime& runtime_;
  std::vector<std::unique_ptr<core::RunResult>> results_;
  std::vector<PendingMessage> messages_;
  // activity
  std::vector<int64_t> a_enrollment_, a_journey_;
  std::vector<int32_t> a_version_, a_visit_;
  std::vector<std::optional<std::string>> a_customer_, a_step_, a_type_, a_branch_, a_outcome_;
  std::vector<bool> a_converted_;
  std::vector<std::optional<int64_t>> a_arrived_;
  // enrollments the run ended, with their final state (end_enrollments)
  Endings ended_;
  // enrollments the run parked
  std::vector<int64_t> e_id_;
  std::vector<std::optional<std::string>> e_customer_, e_step_, e_waiting_, e_context_, e_event_;
  std::vector<std::optional<int64_t>> e_next_, e_parked_, e_deadline_, e_converted_;
  std::vector<int32_t> e_visits_;
  // field updates: (owner, audience, column) -> customer -> value, last write wins
  std::map<std::tuple<Oid, const AudienceInfo*, int>,
           std::map<std::string, std::optional<std::string>>>
      updates_;
};

const char* status_of(core::RunResult::Outcome outcome) {
  switch (outcome) {
    case core::RunResult::Outcome::Parked:
      return "active";
    case core::RunResult::Outcome::Completed:
      return "completed";
    case core::RunResult::Outcome::Exited:
      return "exited";
    case core::RunResult::Outcome::Failed:
      return "failed";
  }
  return "active";
}

std::optional<std::string> nonempty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

void BatchWriter::add(const Claimed& e, core::RunResult run, const CustomerRows& rows) {
  // Kept alive until flush: pending messages point into it.
  results_.push_back(std::make_unique<core::RunResult>(std::move(run)));
  const core::RunResult& r = *results_.back();
  const core::CompiledJourney& journey = e.journey->compiled;
  const int64_t now = pg_to_unix(as_of_);
  bool goal_visited = false;
  for (size_t i = 0; i < r.visits_log.size(); ++i) {
    const core::Visit& v = r.visits_log[i];
    // The last visit of a run that completed ended the journey there.
    bool last = i + 1 == r.visits_log.size();
    a_outcome_.push_back(std::string(
        last && r.outcome == core::RunResult::Outcome::Completed ? "completed" : "moved"));
    // The first goal visit of the run converts (if nothing did before).
    bool converts = !goal_visited && r.converted_at && v.type == core::StepType::Goal;
    goal_visited = goal_visited || converts;
    a_converted_.push_back(converts);
    // The first visit arrived when the enrollment parked there (else: see
    // activity_statement); the others when the previous visit left.
    a_arrived_.push_back(i > 0            ? std::optional<int64_t>(now)
                         : e.state.parked ? std::optional<int64_t>(e.state.parked_at)
                                          : std::nullopt);
    a_enrollment_.push_back(e.state.id);
    a_journey_.push_back(e.journey_id);
    a_version_.push_back(e.version);
    a_customer_.push_back(e.state.customer_id);
    a_step_.push_back(v.step_key);
    a_type_.push_back(core::step_type_name(v.type));
    a_branch_.push_back(nonempty(v.branch));
    a_visit_.push_back(v.visit);
  }
  auto row = rows.find(customer_key(e.journey->audience->relid, e.state.customer_id));
  const std::vector<core::Value>* customer = row == rows.end() ? nullptr : &row->second;
  for (const core::MessageOut& m : r.messages) {
    core::Delivery d = core::decide_delivery(journey.settings, e.journey->audience->schema,
                                             customer, m.holdout, m.no_recipient, now, runtime_);
    messages_.push_back(PendingMessage{&e, &m, d.suppressed ? "suppressed" : "pending",
                                       nonempty(d.reason), d.send_after});
  }
  for (const core::FieldUpdateOut& u : r.updates)
    updates_[{e.journey->owner, e.journey->audience.get(), u.column}][e.state.customer_id] =
        json_to_column_text(u.value);

  const std::string& step = r.step >= 0 ? journey.steps[r.step].key : e.step_key;
  std::optional<std::string> last_event =
      r.last_event.is_null() ? std::nullopt : std::optional<std::string>(r.last_event.dump());
  // A conversion by the goal exit rule is end_enrollments' to record.
  std::optional<int64_t> converted = goal_visited ? r.converted_at : std::nullopt;
  // Ended by its call step's function: that ending wrote its final state.
  if (r.ended_by_call) return;
  if (r.outcome != core::RunResult::Outcome::Parked) {
    // Ended: completed at its last step (whose visit is written above), or
    // exited or failed at the step it was at, without a visit of it (which
    // end_enrollments writes).
    bool exited = r.outcome == core::RunResult::Outcome::Exited;
    ended_.id.push_back(e.state.id);
    ended_.customer.push_back(e.state.customer_id);
    ended_.status.push_back(std::string(status_of(r.outcome)));
    ended_.reason.push_back(exited ? nonempty(r.exit_reason)
                            : r.outcome == core::RunResult::Outcome::Failed ? nonempty(r.error)
                                                                            : std::nullopt);
    ended_.goal.push_back(exited && r.exit_goal);
    ended_.final.push_back(true);
    ended_.visited.push_back(r.outcome == core::RunResult::Outcome::Completed);
    ended_.step.push_back(step);
    ended_.context.push_back(r.context.dump());
    ended_.last_event.push_back(last_event);
    ended_.visits.push_back(r.visits);
    ended_.converted_at.push_back(converted);
    ended_.error_code.push_back(nonempty(r.error.empty() ? std::string() : r.error_code));
    return;
  }
  e_id_.push_back(e.state.id);
  e_customer_.push_back(e.state.customer_id);
  e_step_.push_back(step);
  e_next_.push_back(r.next_run_at);
  e_parked_.push_back(r.parked ? std::optional<int64_t>(r.parked_at) : std::nullopt);
  e_deadline_.push_back(r.wait_deadline);
  e_waiting_.push_back(nonempty(r.waiting_for));
  e_context_.push_back(r.context.dump());
  e_event_.push_back(last_event);
  e_visits_.push_back(r.visits);
  e_converted_.push_back(converted);
}

// Messages to suppressed customers (journey.suppressions) are recorded as
// suppressed, reason "suppression: <its reason>"; the claim checks again. Which
// suppression stops a message is core's rule (core::suppressed_reason), with
// the reasons its journey's compiled settings ignore.
void BatchWriter::apply_suppressions() {
  std::set<std::string> keys;
  for (const PendingMessage& m : messages_)
    if (m.status == "pending") keys.insert(m.enrollment->state.customer_id);
  if (keys.empty()) return;
  std::vector<std::optional<std::string>> customers(keys.begin(), keys.end());
  Datum args[1] = {text_array(customers)};
  const char nulls[1] = {' '};
  suppression_statement.execute(args, nulls, true);
  // (customer, audience) -> its suppressions
  std::map<std::pair<std::string, int64_t>, std::vector<core::Suppression>> found;
  for (const std::vector<core::Value>& row : spi_result_values()) {
    core::Suppression x;
    x.id = value_int(row[2]);
    if (!value_null(row[3])) x.channel = value_text(row[3]);
    x.reason = value_text(row[4]);
    x.at = value_int(row[5]);
    found[{value_text(row[0]), value_int(row[1])}].push_back(std::move(x));
  }
  if (found.empty()) return;
  for (PendingMessage& m : messages_) {
    if (m.status != "pending") continue;
    auto it = found.find(
        {m.enrollment->state.customer_id, int64_t(m.enrollment->journey->audience->relid)});
    if (it == found.end()) continue;
    auto why = core::suppressed_reason(
        false, it->second, m.message->channel,
        core::ignored_suppression_reasons(m.enrollment->journey->compiled.settings));
    if (!why) continue;
    m.status = "suppressed";
    m.reason = *why;
  }
}

// Messages beyond a journey's frequency_cap (per customer, across journeys,
// counting this batch too) are recorded as suppressed.
void BatchWriter::apply_frequency_caps() {
  // The start of each message's cap window (same for every message of a journey).
  std::vector<std::optional<int64_t>> window_start(messages_.size());
  std::map<int64_t, std::set<std::string>> windows;  // window start -> customers to count
  for (size_t i = 0; i < messages_.size(); ++i) {
    const PendingMessage& m = messages_[i];
    const auto& cap = m.enrollment->journey->compiled.settings.frequency_cap;
    if (!cap || m.status != "pending") continue;
    core::Duration back{-cap->per.months, -cap->per.days, -cap->per.micros};
    window_start[i] = runtime_.add_duration(pg_to_unix(as_of_), back, "UTC");
    windows[*window_start[i]].insert(m.enrollment->state.customer_id);
  }
  // Messages already counted against each customer, per window: one query per window.
  core::EarlierMessages earlier;
  for (const auto& [since, customers] : windows) {
    std::vector<std::optional<std::string>> keys(customers.begin(), customers.end());
    Datum args[2] = {text_array(keys), TimestampTzGetDatum(unix_to_pg(since))};
    const char nulls[2] = {' ', ' '};
    recent_messages_statement.execute(args, nulls, true);
    for (const std::vector<core::Value>& row : spi_result_values())
      earlier[{since, value_text(row[0])}] = value_int(row[1]);
  }
  std::vector<core::CappedMessage> capped;
  capped.reserve(messages_.size());
  for (size_t i = 0; i < messages_.size(); ++i) {
    const PendingMessage& m = messages_[i];
    const auto& cap = m.enrollment->journey->compiled.settings.frequency_cap;
    capped.push_back({m.enrollment->state.customer_id, m.status == "pending", window_start[i],
                      cap ? cap->max : 0});
  }
  std::vector<bool> suppressed = core::frequency_capped(capped, earlier);
  for (size_t i = 0; i < messages_.size(); ++i)
    if (suppressed[i]) {
      messages_[i].status = "suppressed";
      messages_[i].reason = "frequency_cap";
    }
}

void BatchWriter::write_messages() {
  if (messages_.empty()) return;
  apply_suppressions();
  apply_frequency_caps();
  std::vector<int64_t> enrollment, journey;
  std::vector<int32_t> version, visit;
  std::vector<std::optional<std::string>> step, customer, channel, payload, status, reason,
      recipient;
  std::vector<std::optional<int64_t>> send_after;
  for (const PendingMessage& m : messages_) {
    enrollment.push_back(m.enrollment->state.id);
    journey.push_back(m.enrollment->journey_id);
    version.push_back(m.enrollment->version);
    step.push_back(m.message->step_key);
    visit.push_back(m.message->visit);
    customer.push_back(m.enrollment->state.customer_id);
    channel.push_back(m.message->channel);
    payload.push_back(m.message->payload.dump());
    status.push_back(m.status);
    reason.push_back(m.reason);
    send_after.push_back(m.send_after);
    recipient.push_back(m.message->recipient);
  }
  Datum args[13] = {int8_array(enrollment),
                    int8_array(journey),
                    int4_array(version),
                    text_array(step),
                    int4_array(visit),
                    text_array(customer),
                    text_array(channel),
                    text_array(payload),
                    text_array(status),
                    text_array(reason),
                    timestamptz_array(send_after),
                    TimestampTzGetDatum(as_of_),
                    text_array(recipient)};
  const char nulls[13] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
  message_statement.execute(args, nulls, false);
}

void BatchWriter::write_field_updates() {
  for (const auto& [target, values] : updates_) {
    const auto& [owner, audience_info, column] = target;
    const AudienceInfo& audience = *audience_info;
    std::string sql = "UPDATE " + audience.qualified_name + " t SET " +
                      quote_ident(audience.schema.columns[column].name) +
                      " = u.v::" + audience.columns[column].type_name +
                      " FROM unnest($1::text[], $2::text[]) u(k, v)" + " WHERE t." +
                      quote_ident(audience.schema.key_column) + " = u.k::" + audience.key_type;
    std::vector<std::optional<std::string>> keys, column_values;
    for (const auto& [customer, value] : values) {
      keys.push_back(customer);
      column_values.push_back(value);
    }
    Datum args[2] = {text_array(keys), text_array(column_values)};
    const char nulls[2] = {' ', ' '};
    // With the privileges of the journey owner, not of the extension.
    // Not a restricted operation: deferred constraints of the customer table must
    // still fire at commit. Settings changed by its triggers are undone all the same.
    AsOwner as_owner(owner, /*restricted=*/false);
    if (simulation.active) simulation.wrote_customers = true;  // its triggers may wake others
    dynamic_statement(sql, {TEXTARRAYOID, TEXTARRAYOID}).execute(args, nulls, false);
  }
}

// Writes activity, messages, the new state of the parked enrollments, the
// endings (end_enrollments, with the final state of the ended ones), then the
// field updates: the customer table's trigger they fire sees each enrollment
// where this batch left it (an exit rule it fires ends the enrollment at that
// step).
void BatchWriter::flush() {
  if (!a_enrollment_.empty()) {
    Datum args[12] = {
        int8_array(a_enrollment_), int8_array(a_journey_),   int4_array(a_version_),
        text_array(a_customer_),   text_array(a_step_),      text_array(a_type_),
        text_array(a_branch_),     int4_array(a_visit_),     TimestampTzGetDatum(as_of_),
        text_array(a_outcome_),    bool_array(a_converted_), timestamptz_array(a_arrived_)};
    const char nulls[12] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    activity_statement.execute(args, nulls, false);
  }
  write_messages();
  if (!e_id_.empty()) {
    Datum args[11] = {int8_array(e_id_),
                      text_array(e_step_),
                      timestamptz_array(e_next_),
                      timestamptz_array(e_parked_),
                      timestamptz_array(e_deadline_),
                      text_array(e_waiting_),
                      text_array(e_context_),
                      text_array(e_event_),
                      int4_array(e_visits_),
                      timestamptz_array(e_converted_),
                      text_array(e_customer_)};
    const char nulls[11] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    enrollment_statement.execute(args, nulls, false);
  }
  // The claim holds their locks.
  end_enrollments(ended_, as_of_, std::nullopt, /*lock_first=*/false);
  write_field_updates();
}

// Whether an error must end the whole statement rather than one enrollment: a
// real cancel or statement timeout, or the server running out of memory. Judged
// by where it was raised, not by its SQLSTATE alone, which user code can fake.
bool must_propagate(const ErrorData* e) {
  if (!e || !e->funcname) return false;
  // A cancel or statement timeout (not a lock timeout, also raised there: that
  // one is the enrollment's own failure).
  if (strcmp(e->funcname, "ProcessInterrupts") == 0) return e->sqlerrcode == ERRCODE_QUERY_CANCELED;
  return e->sqlerrcode == ERRCODE_OUT_OF_MEMORY && e->filename &&
         (strstr(e->filename, "mcxt.c") || strstr(e->filename, "aset.c") ||
          strstr(e->filename, "generation.c") || strstr(e->filename, "slab.c"));
}

// Whether an error is a real deadlock of the lock manager: retried later
// without charging the enrollment.
bool is_deadlock(const ErrorData* e) {
  return e && e->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED && e->funcname &&
         strcmp(e->funcname, "DeadLockReport") == 0;
}

// Runs `work` in an internal subtransaction; returns why it failed (the
// subtransaction is then rolled back), or nullopt. Errors that must end the
// statement are rethrown after the rollback.
template <typename Work>
std::optional<Failure> in_subtransaction(Work&& work) {
  MemoryContext outer_context = CurrentMemoryContext;
  ResourceOwner outer_owner = CurrentResourceOwner;
  pg_guard([] { BeginInternalSubTransaction(nullptr); });
  // Keep allocating in the tick's context: results must outlive the subtransaction.
  MemoryContextSwitchTo(outer_context);
  std::optional<Failure> failure;
  ErrorData* fatal = nullptr;
  try {
    work();
  } catch (const PgError& e) {
    std::string code = unpack_sql_state(e.data()->sqlerrcode);
    if (is_step_timeout(e.data()))
      failure = Failure{e.what(), false, true, code};  // our own timeout: an ordinary failure
    else if (must_propagate(e.data()))
      fatal = e.data();
    if (!failure) failure = Failure{e.what(), is_deadlock(e.data()), false, code};
  } catch (const core::Error& e) {
    failure = Failure{e.what(), false, false,
                      e.sqlstate().size() == 5 ? e.sqlstate() : std::string("XX000")};
  } catch (const std::bad_alloc& e) {
    failure = Failure{"out of memory in pg_journey", false, false, "53200"};
  } catch (const std::exception& e) {
    failure = Failure{e.what(), false, false, "XX000"};
  }
  step_timer_stop();
  // An ordinary failure is charged by the caller. What was in flight when an
  // error must end the statement stays set: the rollback's abort callback then
  // records it for the next tick, whichever backend runs it.
  if (!fatal) inflight_clear();
  if (failure) {
    pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
  } else {
    pg_guard([] { ReleaseCurrentSubTransaction(); });
  }
  MemoryContextSwitchTo(outer_context);
  CurrentResourceOwner = outer_owner;
  if (fatal) throw PgError(fatal);
  return failure;
}

// Which enrollment (or batch) the tick is working on: its error context
// callback adds this to every error and log line raised meanwhile, so a
// failure, a NOTICE of a call step's function or a worker's log line says
// which journey, version, step and enrollment it comes from.
struct WorkLabel {
  int64_t enrollment = 0;  // 0: none
  int64_t journey_id = 0;
  const char* journey = nullptr;  // its name; null when not known (not loaded)
  int32_t version = 0;
  const char* step = nullptr;  // the step the run started from
  size_t batch = 0;            // >0: writing the effects of this many enrollments
  // While a run goes: where it is (the step named instead of `step`).
  const core::RunProgress* progress = nullptr;
  const core::CompiledJourney* compiled = nullptr;
};

// The tick's error context callback (arg: the WorkLabel); tick_work_of reads
// its lines back.
void work_label_context(void* arg) {
  const auto* l = static_cast<const WorkLabel*>(arg);
  if (l->batch > 0) {
    errcontext("pg_journey tick writing the effects of a batch of %zu enrollments", l->batch);
  } else if (l->enrollment != 0) {
    const char* step = l->step ? l->step : "";
    if (l->progress && l->compiled && l->progress->step >= 0 &&
        static_cast<size_t>(l->progress->step) < l->compiled->steps.size())
      step = l->compiled->steps[l->progress->step].key.c_str();
    if (l->journey)
      errcontext("pg_journey enrollment %lld of journey \"%s\" version %d at step \"%s\"",
                 static_cast<long long>(l->enrollment), l->journey, l->version, step);
    else
      errcontext("pg_journey enrollment %lld of journey %lld version %d at step \"%s\"",
                 static_cast<long long>(l->enrollment), static_cast<long long>(l->journey_id),
                 l->version, step);
  }
}

// Pushes work_label_context onto error_context_stack for its scope.
class WorkLabelScope {
 public:
  explicit WorkLabelScope(WorkLabel* label) {
    callback_.callback = work_label_context;
    callback_.arg = label;
    callback_.previous = error_context_stack;
    error_context_stack = &callback_;
  }
  ~WorkLabelScope() { error_context_stack = callback_.previous; }
  WorkLabelScope(const WorkLabelScope&) = delete;
  WorkLabelScope& operator=(const WorkLabelScope&) = delete;

 private:
  ErrorContextCallback callback_;
};

}  // namespace

char* tick_work_of(const ErrorData* e) {
  if (!e || !e->context) return nullptr;
  // The lines work_label_context writes, and what each says the tick was doing.
  static const struct {
    const char* line_start;
    const char* doing;
  } kLines[] = {{"pg_journey enrollment ", "running enrollment "},
                {"pg_journey tick writing ", "writing "}};
  for (const char* line = e->context; *line;) {
    const char* end = strchr(line, '\n');
    const size_t len = end ? static_cast<size_t>(end - line) : strlen(line);
    for (const auto& l : kLines) {
      const size_t start = strlen(l.line_start);
      if (len >= start && strncmp(line, l.line_start, start) == 0)
        return psprintf("%s%.*s", l.doing, static_cast<int>(len - start), line + start);
    }
    if (!end) break;
    line = end + 1;
  }
  return nullptr;
}

namespace {

// A failure to charge to an enrollment.
struct Charge {
  int64_t enrollment = 0;
  std::string message;   // empty: the run was interrupted (the message names its step)
  std::string sqlstate;  // its SQLSTATE
};

// The max_attempts of a failing enrollment's version (a row of charge_failures):
// from the compiled journey this backend ran it with (cached); only a version it
// has not compiled (one that does not compile, or another backend's interrupted
// run) is read from its settings object (core::max_attempts_of: the default
// when they do not parse).
int max_attempts_of_row(const std::vector<core::Value>& row) {
  const CachedJourney* journey =
      find_cached_journey(value_int(row[6]), static_cast<int32_t>(value_int(row[5])));
  if (journey) return journey->compiled.settings.max_attempts;
  return core::max_attempts_of(value_null(row[3]) ? core::Json()
                                                  : core::Json::parse(value_text(row[3])));
}

// Charges failures: reads each enrollment's attempts and version (rows of
// failed_rows_statement / interrupted_rows_statement read as binary datums: id,
// attempts, step_key, settings, journey name, version, journey id), lets
// core::charge_failure decide (retry after a backoff, or failed) with the
// version's max_attempts, writes it, and logs each failure under its label.
// Enrollments no longer active (or held elsewhere) are skipped.
void charge_failures(const std::vector<std::vector<core::Value>>& rows,
                     const std::vector<Charge>& charges, TimestampTz as_of, WorkLabel& label) {
  std::map<int64_t, const Charge*> by_id;
  for (const Charge& c : charges) by_id.emplace(c.enrollment, &c);
  std::vector<int64_t> ids;
  std::vector<int32_t> attempts;
  std::vector<std::optional<std::string>> messages, codes;
  std::vector<bool> failed;
  std::vector<std::optional<int64_t>> next_run;
  for (const std::vector<core::Value>& row : rows) {
    int64_t id = value_int(row[0]);
    auto found = by_id.find(id);
    if (found == by_id.end()) continue;
    const Charge& c = *found->second;
    std::string step = value_text(row[2]);
    // Bounded: what a failure keeps (last_error, the activity reason, this
    // LOG line) is at most core::kMaxKeptErrorMessage bytes.
    std::string message = core::bounded_message(
        !c.message.empty() ? c.message
                           : "cancelled while running step " + step +
                                 " (statement timeout, pg_cancel_backend, pg_terminate_backend or"
                                 " shutdown)");
    const int max_attempts = max_attempts_of_row(row);
    core::Retry retry =
        core::charge_failure(static_cast<int>(value_int(row[1])), max_attempts, pg_to_unix(as_of));
    ids.push_back(id);
    attempts.push_back(retry.attempts);
    messages.push_back(message);
    codes.push_back(c.sqlstate);
    failed.push_back(retry.failed);
    next_run.push_back(retry.next_run_at);
    const std::string name = value_text(row[4]);
    label = WorkLabel{id,           value_int(row[6]),
                      name.c_str(), static_cast<int32_t>(value_int(row[5])),
                      step.c_str(), 0};
    const char* code = c.sqlstate.c_str();
    pg_guard([&] {
      ereport(LOG,
              (errcode(MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])),
               errmsg("pg_journey: enrollment failed (attempt %d of %d%s): %s", retry.attempts,
                      max_attempts, retry.failed ? ", no more retries" : "", message.c_str())));
    });
    label = WorkLabel{};
  }
  if (ids.empty()) return;
  Datum args[5] = {int8_array(ids), int4_array(attempts), text_array(messages), text_array(codes),
                   timestamptz_array(next_run)};
  const char nulls[5] = {' ', ' ', ' ', ' ', ' '};
  charge_statement.execute(args, nulls, false);
  // Out of attempts: journey._end_enrollments makes them failed.
  std::vector<int64_t> ended;
  std::vector<std::optional<std::string>> errors;
  for (size_t i = 0; i < ids.size(); ++i)
    if (failed[i]) {
      ended.push_back(ids[i]);
      errors.push_back(messages[i]);
    }
  end_failed(ended, errors, as_of);
}

// The memory of one batch: what PostgreSQL allocates for it (array datums,
// customer reads, rendered text) lives in a context of its own, deleted when
// the batch is done, so a tick of many batches does not grow. While an error
// unwinds it is kept (the error's data may live there): the transaction's
// abort frees it with its parent.
class BatchMemory {
 public:
  BatchMemory() : outer_(CurrentMemoryContext) {
    context_ = pg_guard([] {
      return AllocSetContextCreate(CurrentMemoryContext, "pg_journey tick batch",
                                   ALLOCSET_DEFAULT_SIZES);
    });
    MemoryContextSwitchTo(context_);
  }
  ~BatchMemory() {
    MemoryContextSwitchTo(outer_);
    if (std::uncaught_exceptions() == 0) MemoryContextDelete(context_);
  }
  BatchMemory(const BatchMemory&) = delete;
  BatchMemory& operator=(const BatchMemory&) = delete;

 private:
  MemoryContext outer_;
  MemoryContext context_ = nullptr;
};

class Tick {
 public:
  Tick(TimestampTz as_of, Oid extension, std::set<int64_t> suspects)
      : as_of_(as_of), extension_(extension), suspects_(std::move(suspects)) {}

  int run(int max_enrollments) {
    WorkLabelScope scope(&label_);
    std::vector<Claimed> claimed = claim(max_enrollments);
    for (size_t start = 0; start < claimed.size(); start += kBatchSize) {
      size_t end = std::min(claimed.size(), start + kBatchSize);
      process_batch(claimed, start, end);
    }
    return static_cast<int>(claimed.size());
  }

 private:
  std::vector<Claimed> claim(int max_enrollments) {
    Datum args[5] = {TimestampTzGetDatum(as_of_), Int32GetDatum(max_enrollments),
                     Int64GetDatum(simulation.journey_id), Int32GetDatum(simulation.version),
                     TimestampTzGetDatum(simulation.floor)};
    const char nulls[5] = {' ', ' ', ' ', ' ', ' '};
    // Claim by walking the due index in order, whatever the statistics say.
    // (The production claim uses $1 and $2 only: a plan reads its own nargs.)
    int guc_level = pg_guard([] { return begin_due_index_walk(); });
    (simulation.active ? simulation_claim_statement : claim_statement).execute(args, nulls, false);
    pg_guard([&] { end_due_index_walk(guc_level); });
    std::vector<Claimed> claimed;
    for (std::vector<core::Value>& row : spi_result_values()) {
      Claimed c;
      c.state.id = value_int(row[0]);
      c.journey_id = value_int(row[1]);
      c.version = static_cast<int32_t>(value_int(row[2]));
      c.state.customer_id = value_text(row[3]);
      c.state.entity_key = value_text(row[4]);
      c.step_key = value_text(row[5]);
      c.state.parked = !value_null(row[6]);
      c.state.parked_at = value_int(row[6]);
      if (!value_null(row[7])) c.state.wait_deadline = value_int(row[7]);
      c.state.context = core::Json::parse(value_text(row[8]));
      if (!value_null(row[9])) c.state.last_event = core::Json::parse(value_text(row[9]));
      c.state.woken_by = core::Json::parse(value_text(row[10]));
      c.state.visits = static_cast<int32_t>(value_int(row[11]));
      c.state.holdout = value_bool(row[12]);
      c.state.rearm = value_bool(row[13]);
      c.row_version = value_int(row[15]);
      claimed.push_back(std::move(c));
    }
    return claimed;
  }

  // Compiles (or finds) each enrollment's journey and reads its customer rows:
  // per audience, the columns any of the batch's journeys reads.
  void prepare(std::vector<Claimed>& claimed, size_t start, size_t end, CustomerRows& rows) {
    struct Reads {
      std::vector<std::string> customers;
      std::set<int> columns;
    };
    std::map<const AudienceInfo*, Reads> reads;
    for (size_t i = start; i < end; ++i) {
      Claimed& c = claimed[i];
      c.journey = &cached_journey(c.journey_id, c.version);
      c.state.step = c.journey->compiled.find(c.step_key);
      Reads& r = reads[c.journey->audience.get()];
      r.customers.push_back(c.state.customer_id);
      r.columns.insert(c.journey->columns.begin(), c.journey->columns.end());
    }
    for (const auto& [audience, r] : reads)
      read_customers(*audience, r.customers, std::vector<int>(r.columns.begin(), r.columns.end()),
                     rows, &texts_);
  }

  // prepare() for the batch; if that fails, one enrollment at a time, marking
  // those whose journey or customer cannot be read.
  void prepare_isolated(std::vector<Claimed>& claimed, size_t start, size_t end,
                        CustomerRows& rows) {
    if (!in_subtransaction([&] { prepare(claimed, start, end, rows); })) return;
    rows.clear();
    texts_.clear();
    for (size_t i = start; i < end; ++i) {
      claimed[i].journey = nullptr;
      label(claimed[i]);
      claimed[i].prepare_error = in_subtransaction([&] { prepare(claimed, i, i + 1, rows); });
    }
    label_ = WorkLabel{};
  }

  // Runs one enrollment; a customer row that is gone ends it. Its user code
  // runs under pg_journey.step_timeout, and an interrupt meanwhile is charged
  // to it by the next tick (step_guard.hpp).
  // stop_after >= 0: replay a failed run up to the step that failed (see
  // core::run_enrollment).
  core::RunResult run_one(const Claimed& c, CustomerRows& rows, int stop_after = -1) {
    const std::string key = customer_key(c.journey->audience->relid, c.state.customer_id);
    auto row = rows.find(key);
    if (row == rows.end()) {
      core::RunResult gone;
      gone.outcome = core::RunResult::Outcome::Exited;
      gone.exit_reason = "customer_deleted";
      gone.step = c.state.step;
      gone.context = c.state.context;
      gone.last_event = c.state.last_event;
      gone.visits = c.state.visits;
      return gone;
    }
    if (c.state.step < 0)
      throw core::Error("XX000", "step \"" + c.step_key + "\" is not in version " +
                                     std::to_string(c.version) + " of journey " +
                                     c.journey->compiled.name);
    runtime_->set_running(c.journey);
    label(c);
    progress_ = core::RunProgress{c.state.step, 0};
    label_.progress = &progress_;
    label_.compiled = &c.journey->compiled;
    running_ = &c;
    inflight_running(extension_, c.state.id, c.row_version);
    step_timer_start();
    auto exact = texts_.find(key);
    core::RunResult result = core::run_enrollment(
        c.journey->compiled, c.journey->audience->schema, c.state, row->second, pg_to_unix(as_of_),
        *runtime_, core::kMaxStepsPerRun, exact == texts_.end() ? nullptr : &exact->second,
        &progress_, stop_after);
    step_returned();
    inflight_clear();
    running_ = nullptr;
    label_ = WorkLabel{};
    return result;
  }

  // The message charged for a run that passed pg_journey.step_timeout; `at`:
  // the step it hung at when the run had moved on from its first step.
  std::string timeout_message(const Claimed& c, bool writing, const std::string& at = {}) const {
    std::string what = writing ? "while writing its effects (field updates fire the customer "
                                 "table's triggers)"
                               : "in the run from step \"" + c.step_key + "\"";
    if (!writing && !at.empty()) what += ", at step \"" + at + "\"";
    return "timed out after pg_journey.step_timeout (" + std::to_string(step_timeout_ms()) +
           " ms) " + what;
  }

  // A run of c that passed pg_journey.step_timeout after it moved on from its
  // first step hung at the step it had reached (progress_ of that run): its
  // visits before it are kept (replayed up to that step) and the failure is
  // charged there, as for any other failure; else at the step it started from.
  void charge_timeout(const Claimed& c, const std::string& sqlstate, const CustomerRows& pristine) {
    const core::RunProgress hung = progress_;
    std::string at;
    if (hung.visits > 0 && c.journey && hung.step >= 0 &&
        static_cast<size_t>(hung.step) < c.journey->compiled.steps.size()) {
      at = c.journey->compiled.steps[hung.step].key;
      replay_to_failure(c, hung.visits, pristine);
    }
    record_failure(c, timeout_message(c, false, at), sqlstate);
  }

  void process_batch(std::vector<Claimed>& claimed, size_t start, size_t end) {
    BatchMemory memory;
    // Per batch: the runtime keeps datums (time zones) allocated in the batch's memory.
    runtime_ = std::make_unique<TickRuntime>(texts_);
    texts_.clear();
    CustomerRows pristine;
    prepare_isolated(claimed, start, end, pristine);
    // The batch, and those to run one at a time: enrollments an interrupted
    // tick was writing when it could not tell which one hung.
    std::vector<size_t> batch, alone;
    for (size_t i = start; i < end; ++i) {
      if (claimed[i].prepare_error)
        record_failure(claimed[i], claimed[i].prepare_error->message,
                       claimed[i].prepare_error->sqlstate);
      else if (suspects_.count(claimed[i].state.id))
        alone.push_back(i);
      else
        batch.push_back(i);
    }

    // Happy path: the whole batch in one subtransaction. A run that passes
    // pg_journey.step_timeout is that enrollment's failure: it is charged, and
    // the batch is retried without it (a few times, then one at a time).
    for (int attempt = 0; !batch.empty(); ++attempt) {
      auto failure = in_subtransaction([&] {
        CustomerRows rows = pristine;
        BatchWriter writer(as_of_, *runtime_);
        for (size_t i : batch) writer.add(claimed[i], run_one(claimed[i], rows), rows);
        std::vector<int64_t> ids;
        ids.reserve(batch.size());
        for (size_t i : batch) ids.push_back(claimed[i].state.id);
        inflight_writing(extension_, ids);
        label_ = WorkLabel{};
        label_.batch = ids.size();
        step_timer_start();
        writer.flush();
        step_returned();
        inflight_clear();
      });
      const Claimed* culprit = running_;
      running_ = nullptr;
      label_ = WorkLabel{};
      if (!failure) break;
      if (failure->step_timeout && culprit && attempt < 3) {
        charge_timeout(*culprit, failure->sqlstate, pristine);
        batch.erase(
            std::find(batch.begin(), batch.end(), static_cast<size_t>(culprit - claimed.data())));
        continue;
      }
      // Something failed and it is not clear which: one per subtransaction.
      alone.insert(alone.end(), batch.begin(), batch.end());
      break;
    }

    for (size_t i : alone) {
      Claimed& c = claimed[i];
      bool writing = false;
      auto failure_of_one = run_alone(c, pristine, -1, writing);
      // A deadlock is not the enrollment's fault: retried uncharged (core::transient_retry_at).
      if (failure_of_one && failure_of_one->transient)
        defer(c);
      else if (failure_of_one && failure_of_one->step_timeout && !writing)
        charge_timeout(c, failure_of_one->sqlstate, pristine);
      else if (failure_of_one && failure_of_one->step_timeout)
        record_failure(c, timeout_message(c, writing), failure_of_one->sqlstate);
      else if (failure_of_one) {
        // A run that failed after it moved on from its first step failed at
        // the step it had reached: the visits before it are kept (replayed up
        // to that step) and the failure is charged there.
        if (!writing && progress_.visits > 0) replay_to_failure(c, progress_.visits, pristine);
        record_failure(c, failure_of_one->message, failure_of_one->sqlstate);
      }
    }
  }

  // Replays enrollment c's failed run up to the step that failed (after
  // `visits` visits) and writes it: its visits, messages and field updates
  // before that step, and the enrollment at that step, due now. When the
  // replay fails too, nothing is written (the failure stays at the first step).
  void replay_to_failure(const Claimed& c, int visits, const CustomerRows& pristine) {
    bool writing = false;
    (void)run_alone(c, pristine, visits, writing);
  }

  // Runs enrollment c alone from the customer rows as the batch read them (up
  // to `stop_after` visits, -1 for the whole run) and writes it, in a
  // subtransaction; `writing` tells whether a failure came while writing.
  std::optional<Failure> run_alone(const Claimed& c, const CustomerRows& pristine, int stop_after,
                                   bool& writing) {
    auto failure = in_subtransaction([&] {
      CustomerRows rows = pristine;
      BatchWriter writer(as_of_, *runtime_);
      writer.add(c, run_one(c, rows, stop_after), rows);
      writing = true;
      label(c);
      inflight_running(extension_, c.state.id, c.row_version);
      step_timer_start();
      writer.flush();
      step_returned();
      inflight_clear();
    });
    running_ = nullptr;
    label_ = WorkLabel{};
    return failure;
  }

  void defer(const Claimed& c) {
    const int64_t retry_at = core::transient_retry_at(pg_to_unix(as_of_));
    Datum args[2] = {Int64GetDatum(c.state.id), TimestampTzGetDatum(unix_to_pg(retry_at))};
    const char nulls[2] = {' ', ' '};
    defer_statement.execute(args, nulls, false);
  }

  void record_failure(const Claimed& c, const std::string& error, const std::string& sqlstate) {
    Datum args[1] = {int8_array({c.state.id})};
    const char nulls[1] = {' '};
    failed_rows_statement.execute(args, nulls, false);  // sees this tick's writes
    std::vector<std::vector<core::Value>> rows = spi_result_values();
    charge_failures(rows, {Charge{c.state.id, error, sqlstate}}, as_of_, label_);
  }

  // Labels the tick's work with enrollment c (see WorkLabel).
  void label(const Claimed& c) {
    label_ = WorkLabel{
        c.state.id, c.journey_id,       c.journey ? c.journey->compiled.name.c_str() : nullptr,
        c.version,  c.step_key.c_str(), 0};
  }

  TimestampTz as_of_;
  Oid extension_;
  std::set<int64_t> suspects_;
  std::unique_ptr<TickRuntime> runtime_;
  CustomerTexts texts_;               // of the batch being processed (prepare)
  const Claimed* running_ = nullptr;  // the enrollment whose run is under way
  core::RunProgress progress_;        // where that run is (see WorkLabel)
  WorkLabel label_;                   // what the error context callback says
};

}  // namespace

namespace {
// Set while a tick runs in this backend: a call step must not start another
// one (it would see the outer tick's claimed rows as its own and rerun them).
bool tick_running = false;

// Charges the enrollments whose step an interrupted tick was running, in any
// backend; returns the enrollments it was writing as a batch (run them one at
// a time). The records are removed when this transaction commits.
void charge_interrupted_runs(const Interrupted& interrupted, TimestampTz as_of) {
  if (!interrupted.runs.empty()) {
    std::vector<int64_t> ids, versions;
    for (const InterruptedRun& run : interrupted.runs) {
      ids.push_back(run.enrollment);
      versions.push_back(run.row_version);
    }
    Datum args[2] = {int8_array(ids), int8_array(versions)};
    const char nulls[2] = {' ', ' '};
    interrupted_rows_statement.execute(args, nulls, false);  // locks: not read-only
    std::vector<std::vector<core::Value>> rows = spi_result_values();
    std::vector<Charge> charges;
    for (int64_t id : ids) charges.push_back(Charge{id, "", "57014"});
    WorkLabel label;
    WorkLabelScope scope(&label);
    charge_failures(rows, charges, as_of, label);
  }
}

std::set<int64_t> charge_interrupted(Oid extension, TimestampTz as_of) {
  Interrupted interrupted = take_interrupted(extension);
  charge_interrupted_runs(interrupted, as_of);
  return std::move(interrupted.suspects);
}

// Citus (docs/scale-out.md): this node's shard groups, kept per backend. A
// tick lists the shards of journey.enrollments placed on this node, takes
// their metadata lock in share mode (no move or cleanup of them starts before
// the tick's transaction ends) and lists them again (a move that finished
// before the lock took them away). Only when that list differs from the kept
// one, or after any relcache invalidation (Citus invalidates the relcache of a
// table whose shards or placements change; a table newly co-located, a
// dropped or created extension or a reset of the caches invalidate one too),
// are the groups mapped again (journey._citus_shard_groups: the co-located
// shard of every table, which costs ms a tick).
struct LocalShardGroups {
  bool checked = false;         // distributed is known (cleared by any relcache invalidation)
  bool citus = false;           // the citus extension is installed in this database
  bool distributed = false;     // journey.enrollments is a Citus distributed table
  bool mapped = false;          // groups map shards (cleared by any relcache invalidation)
  std::vector<int64_t> shards;  // its shards placed on this node, ascending
  std::vector<TableMap> groups;
};
LocalShardGroups local_groups;
bool local_groups_callback = false;

void forget_local_shard_groups(Datum, Oid) {
  local_groups.checked = false;
  local_groups.mapped = false;
}

std::vector<int64_t> local_placements() {
  std::vector<int64_t> shards;
  local_placements_statement.execute(nullptr, nullptr, false);  // a fresh snapshot
  for (const std::vector<core::Value>& row : spi_result_values())
    shards.push_back(value_int(row[0]));
  return shards;
}

// The co-located shard groups of the distributed journey tables placed on this
// node, each as the map from the tables' names to its shards' (their moves held
// off until this transaction ends). nullopt where journey.enrollments is not a
// distributed table (a single-node install): the tick runs on the tables. Sets
// *skip (and returns nullopt) while journey.distribute runs on this node.
std::optional<std::vector<TableMap>> local_shard_groups(bool* skip) {
  *skip = false;
  if (!local_groups_callback) {
    pg_guard([] { CacheRegisterRelcacheCallback(forget_local_shard_groups, 0); });
    local_groups_callback = true;
  }
  if (!local_groups.checked) {
    local_groups.citus = pg_guard([] { return get_extension_oid("citus", true); }) != InvalidOid;
    local_groups.distributed =
        local_groups.citus && spi_rows("SELECT journey._citus_distributed()")[0][0] == Cell("t");
    local_groups.checked = true;
  }
  if (local_groups.citus && !local_groups.distributed) {
    // Not yet distributed, with Citus: journey.distribute holds this lock while
    // it converts the tables, and a single-node claim on them fails once it
    // commits ("could not run distributed query with FOR UPDATE/SHARE",
    // attack-13d F7). So skip the tick while it runs; else hold it off until
    // this transaction ends and ask again (it may have committed since the
    // answer above).
    const char* try_lock =
        "SELECT pg_try_advisory_xact_lock_shared(hashtext('journey.distribute')::bigint)";
    if (spi_rows(try_lock)[0][0] != Cell("t")) {
      *skip = true;
      return std::nullopt;
    }
    // read_only false: a fresh snapshot, taken after the lock.
    const Row answer = spi_rows("SELECT journey._citus_distributed()", {}, false)[0];
    local_groups.distributed = answer[0] == Cell("t");
  }
  if (!local_groups.distributed) return std::nullopt;
  std::vector<int64_t> shards = local_placements();
  if (!shards.empty()) {
    Datum args[1] = {int8_array(shards)};
    const char nulls[1] = {' '};
    lock_shards_statement.execute(args, nulls, false);
    shards = local_placements();
  }
  // The reads above accepted the invalidations sent so far: a change they saw,
  // or a list that changed, maps the groups again.
  if (!local_groups.mapped || shards != local_groups.shards) {
    std::string list;
    for (int64_t shard : shards) list += (list.empty() ? "" : ",") + std::to_string(shard);
    std::vector<TableMap> groups;
    for (const Row& row : spi_rows("SELECT shard, relation, shard_relation"
                                   "  FROM journey._citus_shard_groups($1::bigint[])"
                                   " ORDER BY shard",
                                   {Cell("{" + list + "}")}, false)) {
      if (groups.empty() || groups.back().key != *row[0]) groups.push_back(TableMap{*row[0], {}});
      groups.back().names.emplace_back(*row[1], *row[2]);
    }
    local_groups.groups = std::move(groups);
    local_groups.shards = std::move(shards);
    local_groups.mapped = true;
  }
  return local_groups.groups;
}
}  // namespace

namespace {
bool simulation_callback_registered = false;

// The end of the top transaction ends any simulation (journey.simulate ends
// its own; this covers an error that skipped that).
void end_simulation_at_transaction_end(XactEvent event, void*) {
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
      event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
      event == XACT_EVENT_PREPARE)
    simulation = Simulation{};
}

// The rollback of the simulation's subtransaction ends it, and its compiled
// version is forgotten, even when the error that rolled it back skips
// journey.simulate's own ending (a cancel caught further out).
void end_simulation_at_rollback(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event == SUBXACT_EVENT_ABORT_SUB && simulation.active &&
      GetCurrentTransactionNestLevel() <= simulation.level) {
    simulation = Simulation{};
    forget_cached_journeys();
  }
}
}  // namespace

void begin_simulation(int64_t journey_id, int32_t version) {
  if (!simulation_callback_registered) {
    pg_guard([] {
      RegisterXactCallback(end_simulation_at_transaction_end, nullptr);
      RegisterSubXactCallback(end_simulation_at_rollback, nullptr);
    });
    simulation_callback_registered = true;
  }
  simulation.level = pg_guard([] { return GetCurrentTransactionNestLevel(); });
  simulation.active = true;
  simulation.journey_id = journey_id;
  simulation.version = version;
}

void end_simulation() {
  simulation = Simulation{};
}

void set_simulation_floor(TimestampTz floor) {
  simulation.floor = floor;
}

bool simulation_wrote_customers() {
  bool wrote = simulation.wrote_customers;
  simulation.wrote_customers = false;
  return wrote;
}

bool simulating() {
  return simulation.active;
}

bool tick_in_progress() {
  return tick_running;
}

namespace {
bool tick_on_shards = false;
}

bool last_tick_on_shards() {
  return tick_on_shards;
}

int run_tick(int max_enrollments, TimestampTz as_of) {
  if (tick_running)
    throw core::Error("55000", "journey.run_due cannot run inside a running tick",
                      "a call step's function called journey.run_due");
  // Cleared on every exit: a failing tick aborts the transaction, and the
  // next call starts afresh.
  struct Running {
    Running() { tick_running = true; }
    ~Running() { tick_running = false; }
  } running;
  SpiConnection spi;
  static uint64_t seen_generation = 0;
  if (uint64_t generation = refresh_cache_generation(); generation != seen_generation) {
    reset_plans();
    seen_generation = generation;
  }
  CachePin pin;  // from here on, claimed enrollments point into the journey cache
  Oid extension = pg_guard([] { return get_extension_oid("pg_journey", true); });
  // On a Citus node, one tick per local shard group, each on that group's
  // shards directly: a claim with SKIP LOCKED cannot span shards.
  bool skip;
  std::optional<std::vector<TableMap>> groups = local_shard_groups(&skip);
  if (skip) {
    spi.finish();
    return 0;
  }
  tick_on_shards = groups.has_value();
  if (groups) {
    Interrupted interrupted = take_interrupted(extension);
    int processed = 0;
    for (const TableMap& group : *groups) {
      if (processed >= max_enrollments) break;
      TableMapScope scope(&group);
      charge_interrupted_runs(interrupted, as_of);
      Tick tick(as_of, extension, interrupted.suspects);
      processed += tick.run(max_enrollments - processed);
    }
    spi.finish();
    return processed;
  }
  // A simulation leaves the records of interrupted ticks to the real ticks: it
  // would take them, and its rollback would lose the charges.
  std::set<int64_t> suspects =
      simulation.active ? std::set<int64_t>() : charge_interrupted(extension, as_of);
  int processed;
  {
    Tick tick(as_of, extension, std::move(suspects));
    processed = tick.run(max_enrollments);
  }
  spi.finish();
  return processed;
}

bool read_customer_row(const AudienceInfo& audience, const std::string& customer,
                       const std::vector<int>& columns, std::vector<core::Value>* row,
                       std::vector<std::optional<std::string>>* exact_text) {
  CustomerRows rows;
  CustomerTexts texts;
  read_customers(audience, {customer}, columns, rows, exact_text ? &texts : nullptr);
  const std::string key = customer_key(audience.relid, customer);
  auto it = rows.find(key);
  if (it == rows.end()) return false;
  *row = std::move(it->second);
  if (exact_text) {
    auto t = texts.find(key);
    if (t != texts.end()) *exact_text = std::move(t->second);
  }
  return true;
}

}  // namespace pgj::pg
