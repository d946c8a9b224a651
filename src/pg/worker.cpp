// Background processing: GUCs, a launcher that keeps pg_journey.workers workers
// running in each database of pg_journey.database, the workers' tick loop, and
// the wake-up path (enroll/track set a worker's latch after commit, through
// shared memory, not NOTIFY).
//
// This file is written in the C style of PostgreSQL's own background workers:
// the loops hold no C++ objects, so PostgreSQL errors may longjmp through them;
// the engine itself is reached through SQL (journey.run_due) and its bridge.
#include "pg/worker.hpp"
#include "pg/version.hpp"

#include <algorithm>

#include "pg/bridge.hpp"
#include "pg/due_index.hpp"
#include "pg/step_guard.hpp"
#include "pg/tick.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "storage/lmgr.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"
}

namespace {

constexpr int kMaxWorkers = 64;  // slots in shared memory, over all databases

// GUCs.
char* guc_databases = nullptr;
int guc_workers = 1;
int guc_naptime_ms = 1000;
int guc_batch_size = 500;
char* guc_role = nullptr;
bool guc_enabled = true;
int guc_compact_interval_s = 600;

// One running worker, as seen by everyone through shared memory.
struct WorkerSlot {
  Oid database;
  int index;     // worker number within its database
  pid_t pid;     // 0 when the slot is free
  PGPROC* proc;  // its latch is proc->procLatch
};

struct WorkerShared {
  slock_t mutex;
  WorkerSlot slots[kMaxWorkers];
};

WorkerShared* shared = nullptr;
shmem_request_hook_type previous_shmem_request = nullptr;
shmem_startup_hook_type previous_shmem_startup = nullptr;

volatile sig_atomic_t got_sigterm = false;
volatile sig_atomic_t in_tick = false;  // a worker is running a tick
bool wake_on_commit = false;
bool xact_callback_registered = false;

// SIGTERM (pg_terminate_backend, fast shutdown, the launcher stopping): between
// ticks the loop ends cleanly. During a tick it also cancels the tick, as
// PostgreSQL's StatementCancelHandler does (the next CHECK_FOR_INTERRUPTS, in
// a sleeping call step too, raises it), so that a step that sleeps or hangs
// cannot hold up a shutdown: the tick's transaction rolls back, nothing of it
// commits, the next tick charges the step it was running (step_guard.hpp), and
// the worker exits cleanly. If user code swallows the cancel, the tick ends the
// backend as die() would once control returns to it.
void handle_sigterm(SIGNAL_ARGS) {
  int saved_errno = errno;
  got_sigterm = true;
  if (in_tick && !proc_exit_inprogress) {
    pgj::pg::request_tick_termination();
    InterruptPending = true;
    QueryCancelPending = true;
  }
  SetLatch(MyLatch);
  errno = saved_errno;
}

void request_shmem() {
  if (previous_shmem_request) previous_shmem_request();
  RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

void startup_shmem() {
  if (previous_shmem_startup) previous_shmem_startup();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  shared = static_cast<WorkerShared*>(ShmemInitStruct("pg_journey", sizeof(WorkerShared), &found));
  if (!found) {
    memset(shared, 0, sizeof(WorkerShared));
    SpinLockInit(&shared->mutex);
  }
  LWLockRelease(AddinShmemInitLock);
}

// Sets the latch of every worker of the current database.
void wake_workers_now() {
  if (!shared) return;
  PGPROC* procs[kMaxWorkers];
  int n = 0;
  SpinLockAcquire(&shared->mutex);
  for (int i = 0; i < kMaxWorkers; ++i) {
    WorkerSlot& slot = shared->slots[i];
    if (slot.pid != 0 && slot.database == MyDatabaseId && slot.proc) procs[n++] = slot.proc;
  }
  SpinLockRelease(&shared->mutex);
  // Not inside the spinlock. A worker that just exited leaves a PGPROC that may
  // be reused: setting its latch only wakes that process once, harmlessly.
  for (int i = 0; i < n; ++i) SetLatch(&procs[i]->procLatch);
}

void on_transaction_end(XactEvent event, void*) {
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
    if (wake_on_commit) wake_workers_now();
    wake_on_commit = false;
  } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    wake_on_commit = false;
  }
}

// Frees this worker's slot when the process exits.
void release_slot(int, Datum arg) {
  int i = DatumGetInt32(arg);
  SpinLockAcquire(&shared->mutex);
  if (shared->slots[i].pid == MyProcPid) shared->slots[i].pid = 0;
  SpinLockRelease(&shared->mutex);
}

// Claims the slot of (database, index); false when a live worker has it.
bool claim_slot(Oid database, int index) {
  int free_slot = -1;
  SpinLockAcquire(&shared->mutex);
  for (int i = 0; i < kMaxWorkers; ++i) {
    WorkerSlot& slot = shared->slots[i];
    if (slot.pid != 0 && slot.database == database && slot.index == index) {
      SpinLockRelease(&shared->mutex);
      return false;
    }
    if (slot.pid == 0 && free_slot < 0) free_slot = i;
  }
  if (free_slot >= 0) {
    shared->slots[free_slot] = WorkerSlot{database, index, MyProcPid, MyProc};
  }
  SpinLockRelease(&shared->mutex);
  if (free_slot < 0) return false;
  before_shmem_exit(release_slot, Int32GetDatum(free_slot));
  return true;
}

// Labels a worker's log lines.
struct WorkerLabel {
  const char* database;
  int index;
};

void worker_error_context(void* arg) {
  auto* label = static_cast<WorkerLabel*>(arg);
  errcontext("pg_journey worker %d of database \"%s\"", label->index, label->database);
}

// The OID of the database of that name, or InvalidOid. A heap scan of
// pg_database, as the autovacuum launcher does: the launcher is connected to no
// database, so only nailed catalogs may be read.
Oid database_oid(const char* name) {
  Oid found = InvalidOid;
  Relation rel = table_open(DatabaseRelationId, AccessShareLock);
  TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
  HeapTuple tuple;
  while (!OidIsValid(found) && HeapTupleIsValid(tuple = heap_getnext(scan, ForwardScanDirection))) {
    auto* db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
    if (strcmp(NameStr(db->datname), name) == 0) found = db->oid;
  }
  table_endscan(scan);
  table_close(rel, AccessShareLock);
  return found;
}

// Whether a live worker already serves (database, index): after a launcher
// restart its old workers keep running, and must not be started twice.
bool slot_taken(Oid database, int index) {
  bool taken = false;
  SpinLockAcquire(&shared->mutex);
  for (int i = 0; i < kMaxWorkers && !taken; ++i) {
    const WorkerSlot& slot = shared->slots[i];
    taken = slot.pid != 0 && slot.database == database && slot.index == index;
  }
  SpinLockRelease(&shared->mutex);
  return taken;
}

// The database names of pg_journey.database, split (a palloc'd list of char*).
List* configured_databases() {
  List* names = NIL;
  char* raw = pstrdup(guc_databases ? guc_databases : "");
  if (!SplitIdentifierString(raw, ',', &names)) {
    ereport(LOG, (errmsg("pg_journey: invalid pg_journey.database list \"%s\"", guc_databases)));
    return NIL;
  }
  return names;
}

// The installed extension's OID, share-locked, or InvalidOid when it is not
// installed. DROP EXTENSION takes this lock first, so a tick and a DROP queue
// up instead of deadlocking over the tables; the second lookup sees a drop
// that happened while we waited.
Oid lock_extension() {
  Oid extension = get_extension_oid("pg_journey", true);
  if (OidIsValid(extension)) {
    LockDatabaseObject(ExtensionRelationId, extension, 0, AccessShareLock);
    if (get_extension_oid("pg_journey", true) != extension) extension = InvalidOid;
  }
  return extension;
}

// Whether the last tick found the worker role without journey_app's
// privileges: the worker then naps kGrantWaitMs (at least) between checks.
bool waiting_for_grant = false;
constexpr long kGrantWaitMs = 5000;

// Runs one tick through SQL in its own transaction; returns the number of
// enrollments processed and sets *next_due_ms (-1: nothing due later).
int run_one_tick(long* next_due_ms) {
  int processed = 0;
  *next_due_ms = -1;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  PushActiveSnapshot(GetTransactionSnapshot());
  Oid extension = lock_extension();
  if (!OidIsValid(extension)) {
    pgstat_report_activity(STATE_IDLE, "waiting for CREATE EXTENSION pg_journey");
    PopActiveSnapshot();
    CommitTransactionCommand();
    return 0;
  }
  // A library of another version than the installed extension waits for the
  // DBA's ALTER EXTENSION pg_journey UPDATE (said once in the log).
  static bool version_mismatch_logged = false;
  if (char* installed = pgj::pg::installed_extension_version();
      installed && strcmp(installed, pgj::pg::library_version()) != 0) {
    if (!version_mismatch_logged)
      ereport(WARNING, (errmsg("pg_journey worker waits: library version %s, installed extension "
                               "version %s",
                               pgj::pg::library_version(), installed),
                        errhint("Run ALTER EXTENSION pg_journey UPDATE in database \"%s\".",
                                get_database_name(MyDatabaseId))));
    version_mismatch_logged = true;
    pgstat_report_activity(STATE_IDLE, "waiting for ALTER EXTENSION pg_journey UPDATE");
    PopActiveSnapshot();
    CommitTransactionCommand();
    return 0;
  }
  version_mismatch_logged = false;
  // A worker role without journey_app's privileges would fail every tick with
  // "permission denied for schema journey": said once, with the fix, and the
  // worker naps longer until the GRANT (the next check sees it).
  static bool grant_missing_logged = false;
  if (Oid app = get_role_oid("journey_app", true);
      OidIsValid(app) && !has_privs_of_role(GetUserId(), app)) {
    const char* role = GetUserNameFromId(GetUserId(), false);
    if (!grant_missing_logged)
      ereport(WARNING,
              (errmsg("pg_journey worker waits: role \"%s\" (pg_journey.role) is not a member of "
                      "journey_app",
                      role),
               errhint("GRANT journey_app TO %s;", quote_identifier(role))));
    grant_missing_logged = true;
    waiting_for_grant = true;
    pgstat_report_activity(STATE_IDLE, "waiting for GRANT journey_app");
    PopActiveSnapshot();
    CommitTransactionCommand();
    return 0;
  }
  grant_missing_logged = false;
  waiting_for_grant = false;
  pgstat_report_activity(STATE_RUNNING, "journey.run_due");
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_journey: SPI_connect failed");
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(guc_batch_size)};
  int rc = SPI_execute_with_args("SELECT journey.run_due($1)", 1, types, values, nullptr, false, 1);
  if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "pg_journey: run_due failed");
  bool isnull = false;
  processed =
      DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  if (processed < guc_batch_size && !pgj::pg::last_tick_on_shards()) {
    // Nothing more due now: when is the next? Walk the due index in order
    // (statistics may be stale right after a bulk enrollment).
    int guc_level = pgj::pg::begin_due_index_walk();
    rc = SPI_execute(
        // Rounded up: the next tick's clock (its transaction start) is then at
        // or after the due time.
        "SELECT ceil(extract(epoch from e.next_run_at - clock_timestamp()) * 1000)::int8"
        "  FROM journey.enrollments e"
        " WHERE e.status = 'active' AND e.next_run_at IS NOT NULL"
        "   AND EXISTS (SELECT 1 FROM journey.journeys j"
        "                WHERE j.id = e.journey_id AND j.state = 'published')"
        " ORDER BY e.next_run_at LIMIT 1",
        true, 1);
    pgj::pg::end_due_index_walk(guc_level);
    if (rc == SPI_OK_SELECT && SPI_processed == 1) {
      Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
      if (!isnull) *next_due_ms = std::max<int64>(0, DatumGetInt64(d));
    }
  }
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
  pgstat_report_stat(false);
  return processed;
}

// Worker 0 of a database merges the roll-up rows of the hours that have ended
// (journey.compact_activity_hours) every pg_journey.compact_interval, in a
// transaction of its own after a tick. Due at start-up too, but never ahead of
// the engine: while the tick left more due (`backlog`: a full batch, as after a
// restart) it waits, up to one more interval, so that merging a big roll-up
// does not hold up the ticks that drain it. Waits, as the tick does, while the
// extension is missing or of another version, or the role lacks journey_app.
void compact_when_due(int index, bool backlog) {
  static TimestampTz last = 0;       // the last run
  static TimestampTz due_since = 0;  // when it fell due, while a backlog defers it
  if (index != 0 || guc_compact_interval_s <= 0 || waiting_for_grant) return;
  TimestampTz now = GetCurrentTimestamp();
  if (last != 0 && !TimestampDifferenceExceeds(last, now, guc_compact_interval_s * 1000)) return;
  if (due_since == 0) due_since = now;
  if (backlog && !TimestampDifferenceExceeds(due_since, now, guc_compact_interval_s * 1000)) return;
  last = now;  // a failed run (logged) is tried again an interval later, not every tick
  due_since = 0;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  PushActiveSnapshot(GetTransactionSnapshot());
  Oid extension = lock_extension();
  char* installed = OidIsValid(extension) ? pgj::pg::installed_extension_version() : nullptr;
  if (installed && strcmp(installed, pgj::pg::library_version()) == 0) {
    pgstat_report_activity(STATE_RUNNING, "journey.compact_activity_hours");
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_journey: SPI_connect failed");
    if (SPI_execute("SELECT journey.compact_activity_hours()", false, 1) != SPI_OK_SELECT)
      elog(ERROR, "pg_journey: compact_activity_hours failed");
    SPI_finish();
  }
  PopActiveSnapshot();
  CommitTransactionCommand();
  pgstat_report_activity(STATE_IDLE, nullptr);
}

}  // namespace

namespace pgj::pg {

void define_gucs(bool preloading) {
  // Settings of the workers' topology exist only when the library is preloaded:
  // PostgreSQL refuses PGC_POSTMASTER settings defined after start-up, and
  // without preloading there are no workers for them to configure.
  if (preloading) {
    DefineCustomStringVariable(
        "pg_journey.database", "Databases whose journeys the background workers run (a list).",
        nullptr, &guc_databases, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pg_journey.workers", "Background workers per database.", nullptr,
                            &guc_workers, 1, 0, 16, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "pg_journey.role", "Role the workers connect as (must not be a superuser).", nullptr,
        &guc_role, "journey_worker", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
  }
  DefineCustomIntVariable(
      "pg_journey.naptime", "Longest sleep of a worker between ticks when nothing is due.", nullptr,
      &guc_naptime_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pg_journey.batch_size", "Enrollments a worker advances per transaction.",
                          nullptr, &guc_batch_size, 500, 1, 100000, PGC_SIGHUP, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomIntVariable(
      "pg_journey.compact_interval",
      "How often worker 0 merges journey.activity_hours' rows of ended hours (0: never).", nullptr,
      &guc_compact_interval_s, 600, 0, 7 * 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
      nullptr);
  DefineCustomBoolVariable("pg_journey.enabled", "Whether the background workers advance journeys.",
                           nullptr, &guc_enabled, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  define_step_guard_gucs();
  MarkGUCPrefixReserved("pg_journey");
}

void register_launcher() {
  previous_shmem_request = shmem_request_hook;
  shmem_request_hook = request_shmem;
  previous_shmem_startup = shmem_startup_hook;
  shmem_startup_hook = startup_shmem;

  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 10;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_journey");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgj_launcher_main");
  snprintf(worker.bgw_name, BGW_MAXLEN, "pg_journey launcher");
  snprintf(worker.bgw_type, BGW_MAXLEN, "pg_journey launcher");
  RegisterBackgroundWorker(&worker);
}

void wake_workers_after_commit() {
  if (!shared) return;  // not preloaded: no workers to wake
  if (!xact_callback_registered) {
    RegisterXactCallback(on_transaction_end, nullptr);
    xact_callback_registered = true;
  }
  wake_on_commit = true;
}

bool wakes_workers_on_commit() {
  return wake_on_commit;
}

void set_wake_workers_on_commit(bool wake) {
  wake_on_commit = wake;
}

}  // namespace pgj::pg

extern "C" {

PGDLLEXPORT void pgj_launcher_main(Datum);
PGDLLEXPORT void pgj_worker_main(Datum);

// The launcher: keeps pg_journey.workers workers running in each configured
// database that exists, once the worker role exists and is not a superuser.
void pgj_launcher_main(Datum) {
  pqsignal(SIGTERM, handle_sigterm);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  // Connected to no database: enough to read the shared catalogs.
  BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
  pgstat_report_appname("pg_journey launcher");

  BackgroundWorkerHandle* handles[kMaxWorkers] = {};
  bool role_complaint_logged = false;
  while (!got_sigterm) {
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    StartTransactionCommand();
    Oid role = get_role_oid(guc_role, true);
    bool role_ok = OidIsValid(role) && !superuser_arg(role);
    if (!role_ok && !role_complaint_logged) {
      if (!OidIsValid(role))
        ereport(LOG,
                (errmsg("pg_journey: role \"%s\" (pg_journey.role) does not exist; no "
                        "worker is started",
                        guc_role),
                 errhint("CREATE ROLE %s LOGIN; GRANT journey_app TO %s;", guc_role, guc_role)));
      else
        ereport(LOG, (errmsg("pg_journey: role \"%s\" (pg_journey.role) is a superuser; no "
                             "worker is started",
                             guc_role),
                      errhint("workers run as an ordinary role that is a member of journey_app")));
      role_complaint_logged = true;
    }
    if (role_ok) role_complaint_logged = false;
    List* databases = role_ok ? configured_databases() : NIL;
    int slot = 0;
    ListCell* cell;
    foreach (cell, databases) {
      const char* database = static_cast<const char*>(lfirst(cell));
      Oid database_id = database_oid(database);
      for (int i = 0; i < guc_workers && slot < kMaxWorkers; ++i, ++slot) {
        pid_t pid;
        bool running = handles[slot] && GetBackgroundWorkerPid(handles[slot], &pid) != BGWH_STOPPED;
        if (running || !OidIsValid(database_id) || slot_taken(database_id, i)) continue;
        BackgroundWorker worker;
        memset(&worker, 0, sizeof(worker));
        worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
        worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
        worker.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it
        snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_journey");
        snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgj_worker_main");
        snprintf(worker.bgw_name, BGW_MAXLEN, "pg_journey worker %d (%s)", i, database);
        snprintf(worker.bgw_type, BGW_MAXLEN, "pg_journey worker");
        worker.bgw_main_arg = Int32GetDatum(i);
        strlcpy(worker.bgw_extra, database, BGW_EXTRALEN);
        worker.bgw_notify_pid = MyProcPid;
        // The handle must outlive this transaction: allocate it for good.
        if (handles[slot]) pfree(handles[slot]);
        handles[slot] = nullptr;
        MemoryContext outer = MemoryContextSwitchTo(TopMemoryContext);
        bool registered = RegisterDynamicBackgroundWorker(&worker, &handles[slot]);
        MemoryContextSwitchTo(outer);
        if (!registered)
          ereport(LOG,
                  (errmsg("pg_journey: could not start worker %d for database \"%s\"", i, database),
                   errhint("raise max_worker_processes")));
      }
    }
    CommitTransactionCommand();
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  for (int i = 0; i < kMaxWorkers; ++i)
    if (handles[i]) TerminateBackgroundWorker(handles[i]);
  proc_exit(0);
}

// A worker: ticks in its database until SIGTERM, sleeping on its latch until
// the next due time or pg_journey.naptime, whichever comes first.
void pgj_worker_main(Datum arg) {
  int index = DatumGetInt32(arg);
  char database[BGW_EXTRALEN];
  strlcpy(database, MyBgworkerEntry->bgw_extra, BGW_EXTRALEN);
  WorkerLabel label{database, index};
  ErrorContextCallback context;
  context.callback = worker_error_context;
  context.arg = &label;
  context.previous = error_context_stack;
  error_context_stack = &context;

  pqsignal(SIGTERM, handle_sigterm);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(database, guc_role, 0);
  if (superuser())
    ereport(FATAL, (errmsg("pg_journey: pg_journey.role \"%s\" is a superuser", guc_role),
                    errhint("workers run as an ordinary role that is a member of journey_app")));
  if (!claim_slot(MyDatabaseId, index)) proc_exit(0);  // another worker has this slot
  pgstat_report_appname("pg_journey worker");

  MemoryContext loop_context =
      AllocSetContextCreate(TopMemoryContext, "pg_journey worker loop", ALLOCSET_DEFAULT_SIZES);
  while (!got_sigterm) {
    volatile long timeout_ms = guc_naptime_ms;
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
      timeout_ms = guc_naptime_ms;
    }
    if (guc_enabled) {
      MemoryContext outer = MemoryContextSwitchTo(loop_context);
      volatile int processed = 0;
      long next_due = -1;
      long* volatile next_due_ms = &next_due;
      in_tick = true;
      if (got_sigterm) break;  // arrived before in_tick was set
      PG_TRY();
      {
        processed = run_one_tick(next_due_ms);
        compact_when_due(index, processed >= guc_batch_size);
      }
      PG_CATCH();
      {
        // Log, roll back, and try again after a nap: a worker survives errors.
        // The cancel a SIGTERM raised is not an error: the loop ends below.
        MemoryContextSwitchTo(loop_context);
        // What the tick was doing (its enrollment, journey, version and step),
        // read from the cancel's error context before it is flushed.
        char* work = got_sigterm ? pgj::pg::tick_work_of(CopyErrorData()) : nullptr;
        if (!got_sigterm) EmitErrorReport();
        FlushErrorState();
        AbortCurrentTransaction();
        if (got_sigterm)
          ereport(LOG, (errmsg("pg_journey worker: SIGTERM interrupted a tick%s%s, which was "
                               "rolled back; the next tick charges the step it was running",
                               work ? " " : "", work ? work : "")));
        pgstat_report_activity(STATE_IDLE, nullptr);
        processed = 0;
        *next_due_ms = -1;
      }
      PG_END_TRY();
      in_tick = false;
      if (got_sigterm) {
        QueryCancelPending = false;  // the tick ended before the cancel was seen
        break;
      }
      MemoryContextSwitchTo(outer);
      MemoryContextReset(loop_context);
      if (processed >= guc_batch_size) {
        CHECK_FOR_INTERRUPTS();
        continue;  // more may be due: no sleep
      }
      if (next_due > 0 && next_due < timeout_ms) timeout_ms = next_due;
      if (waiting_for_grant && timeout_ms < kGrantWaitMs) timeout_ms = kGrantWaitMs;
      // Due now yet nothing claimed: another worker holds those rows; look
      // again shortly rather than spinning or sleeping a whole naptime.
      if (next_due == 0 && timeout_ms > 50) timeout_ms = 50;
    } else {
      // Switched off: say so where a DBA (and the tests) look.
      pgstat_report_activity(STATE_IDLE, "disabled (pg_journey.enabled = off)");
    }
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  error_context_stack = context.previous;
  proc_exit(0);
}

}  // extern "C"

// journey._wake_workers(): asks the workers of this database to run a tick as
// soon as the current transaction commits.
PGJ_FUNCTION(pgj_wake_workers) {
  pgj::pg::pg_guard([] { pgj::pg::wake_workers_after_commit(); });
  return static_cast<Datum>(0);
}

// journey._preloaded(): whether the library was loaded by
// shared_preload_libraries (so that the background workers exist).
PGJ_FUNCTION(pgj_preloaded) {
  return BoolGetDatum(shared != nullptr);
}

// journey.workers(): the running workers of every database.
PGJ_FUNCTION(pgj_workers) {
  pgj::pg::pg_guard([&] {
    InitMaterializedSRF(fcinfo, 0);
    if (!shared) {
      ereport(NOTICE,
              (errmsg("pg_journey is not in shared_preload_libraries: no background worker runs"),
               errhint("add pg_journey to shared_preload_libraries, or schedule "
                       "SELECT journey.run_due() with pg_cron (see docs/operations.md)")));
      return;
    }
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    SpinLockAcquire(&shared->mutex);
    WorkerSlot copy[kMaxWorkers];
    memcpy(copy, shared->slots, sizeof(copy));
    SpinLockRelease(&shared->mutex);
    for (const WorkerSlot& slot : copy) {
      if (slot.pid == 0) continue;
      Datum values[3] = {ObjectIdGetDatum(slot.database), Int32GetDatum(slot.index),
                         Int32GetDatum(slot.pid)};
      bool nulls[3] = {false, false, false};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
  });
  return static_cast<Datum>(0);
}
