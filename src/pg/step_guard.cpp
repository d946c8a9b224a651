// Step timeout and the records of interrupted ticks (see step_guard.hpp).
//
// The abort callbacks run while PostgreSQL aborts a transaction, possibly on
// the way out of a terminated backend: they allocate nothing and call nothing
// that can raise an error, only plain system calls on a fixed buffer.
#include "pg/step_guard.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pg/bridge.hpp"

extern "C" {
#include "common/file_perm.h"
#include "storage/latch.h"
#include "utils/timeout.h"
}

namespace pgj::pg {

namespace {

constexpr const char* kDirectory = "pg_journey";  // relative to the data directory
constexpr const char* kUserRequest = "canceling statement due to user request";

int guc_step_timeout_ms = 60000;

// ---- the step timer -----------------------------------------------------------

TimeoutId step_timeout_id = MAX_TIMEOUTS;  // registered on first use
volatile sig_atomic_t step_timeout_fired = false;
bool step_timer_armed = false;
int step_timer_level = 0;  // transaction nest level at which it was armed

// Runs in the SIGALRM handler: asks for a cancel, as statement_timeout does.
void on_step_timeout() {
  step_timeout_fired = true;
  InterruptPending = true;
  QueryCancelPending = true;
  SetLatch(MyLatch);
}

// Set by request_tick_termination (a SIGTERM during a worker's tick).
volatile sig_atomic_t termination_requested = false;

// ---- what is in flight --------------------------------------------------------

enum class Phase { None, Running, Writing };

Phase phase = Phase::None;
int phase_level = 0;  // transaction nest level at which it was set
Oid phase_extension = InvalidOid;
int64_t running_enrollment = 0;
int64_t running_row_version = 0;
std::vector<int64_t> writing_enrollments;  // filled outside the abort path only

bool callbacks_registered = false;
uint32 record_counter = 0;

// Records consumed by a tick of this transaction: removed at commit.
struct Consumed {
  std::string path;
  int level;
};
std::vector<Consumed> consumed;

// Appends text to a fixed buffer, flushing it to fd when full.
struct Writer {
  explicit Writer(int f) : fd(f) {}
  int fd;
  char buf[1024];
  size_t used = 0;
  bool ok = true;
  void flush() {
    size_t off = 0;
    while (ok && off < used) {
      ssize_t n = write(fd, buf + off, used - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        ok = false;
      else
        off += static_cast<size_t>(n);
    }
    used = 0;
  }
  void put(const char* text) {
    for (; *text; ++text) {
      if (used == sizeof buf) flush();
      buf[used++] = *text;
    }
  }
  void put_int(long long v) {
    char number[32];
    snprintf(number, sizeof number, "%lld", v);
    put(number);
  }
};

// Writes what is in flight to $PGDATA/pg_journey/interrupted.<db>.<pid>.<n>
// (through a temporary name, so that readers never see half a record).
void write_record() {
  (void)mkdir(kDirectory, pg_dir_create_mode);
  char tmp[MAXPGPATH], path[MAXPGPATH];
  unsigned long long stamp = static_cast<unsigned long long>(time(nullptr));
  snprintf(path, sizeof path, "%s/interrupted.%u.%d.%llu.%u", kDirectory, MyDatabaseId, MyProcPid,
           stamp, ++record_counter);
  snprintf(tmp, sizeof tmp, "%s/interrupted.%u.%d.%llu.%u.tmp", kDirectory, MyDatabaseId, MyProcPid,
           stamp, record_counter);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, pg_file_create_mode);
  if (fd < 0) return;
  Writer w(fd);
  w.put("pg_journey interrupted tick\nextension ");
  w.put_int(phase_extension);
  w.put("\n");
  if (phase == Phase::Running) {
    w.put("run ");
    w.put_int(running_enrollment);
    w.put(" ");
    w.put_int(running_row_version);
    w.put("\n");
  } else {
    w.put("write");
    for (int64_t id : writing_enrollments) {
      w.put(" ");
      w.put_int(id);
    }
    w.put("\n");
  }
  w.flush();
  bool ok = w.ok && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (ok && rename(tmp, path) == 0) return;
  (void)unlink(tmp);
}

// Disarms the step timer without raising (abort path).
void stop_timer_quietly() {
  if (!step_timer_armed) return;
  step_timer_armed = false;
  disable_timeout(step_timeout_id, false);
  step_timeout_fired = false;
}

// A transaction or subtransaction at `level` aborts: if it contains what was
// in flight, that step was interrupted: leave the record for the next tick.
// (User code of a step may roll back subtransactions of its own, deeper down:
// those leave the timer and the step alone.)
void on_abort(int level) {
  if (level <= step_timer_level) stop_timer_quietly();
  if (phase != Phase::None && level <= phase_level) {
    write_record();
    phase = Phase::None;
  }
  // Charges made by a tick inside the aborted (sub)transaction are undone:
  // their records stay for the next tick.
  consumed.erase(std::remove_if(consumed.begin(), consumed.end(),
                                [&](const Consumed& c) { return c.level >= level; }),
                 consumed.end());
}

void on_xact_event(XactEvent event, void*) {
  switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
      for (const Consumed& c : consumed) (void)unlink(c.path.c_str());
      consumed.clear();
      phase = Phase::None;
      stop_timer_quietly();
      break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
      on_abort(1);
      phase = Phase::None;
      break;
    default:
      break;
  }
}

void on_subxact_event(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event == SUBXACT_EVENT_ABORT_SUB) on_abort(GetCurrentTransactionNestLevel());
}

void register_callbacks() {
  if (callbacks_registered) return;
  pg_guard([] {
    RegisterXactCallback(on_xact_event, nullptr);
    RegisterSubXactCallback(on_subxact_event, nullptr);
  });
  callbacks_registered = true;
}

void set_phase(Phase p, Oid extension) {
  register_callbacks();
  phase = p;
  phase_extension = extension;
  phase_level = GetCurrentTransactionNestLevel();
}

}  // namespace

void define_step_guard_gucs() {
  DefineCustomIntVariable(
      "pg_journey.step_timeout",
      "Longest time the user code of one enrollment's run may take in a tick (0: no limit).",
      "Call steps and the triggers of field updates; a step that takes longer is that "
      "enrollment's failure, retried with backoff.",
      &guc_step_timeout_ms, 60000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
}

int step_timeout_ms() {
  return guc_step_timeout_ms;
}

void inflight_running(Oid extension, int64_t enrollment, int64_t row_version) {
  running_enrollment = enrollment;
  running_row_version = row_version;
  set_phase(Phase::Running, extension);
}

void inflight_writing(Oid extension, const std::vector<int64_t>& enrollments) {
  writing_enrollments = enrollments;
  set_phase(Phase::Writing, extension);
}

void inflight_clear() {
  phase = Phase::None;
}

void step_timer_start() {
  if (guc_step_timeout_ms <= 0) return;
  register_callbacks();
  int ms = guc_step_timeout_ms;
  pg_guard([&] {
    if (step_timeout_id == MAX_TIMEOUTS)
      step_timeout_id = RegisterTimeout(USER_TIMEOUT, on_step_timeout);
    step_timeout_fired = false;
    enable_timeout_after(step_timeout_id, ms);
  });
  step_timer_armed = true;
  step_timer_level = GetCurrentTransactionNestLevel();
}

void step_timer_stop() {
  if (!step_timer_armed) return;
  step_timer_armed = false;
  pg_guard([] { disable_timeout(step_timeout_id, false); });
  if (step_timeout_fired) {
    // It fired, but the step finished before anything acted on the cancel:
    // the step counts as done, and the cancel must not hit the next one.
    QueryCancelPending = false;
    step_timeout_fired = false;
  }
}

bool is_step_timeout(const ErrorData* e) {
  if (termination_requested || !step_timeout_fired || !e ||
      e->sqlerrcode != ERRCODE_QUERY_CANCELED || !e->message_id ||
      strcmp(e->message_id, kUserRequest) != 0)
    return false;
  step_timeout_fired = false;
  return true;
}

void request_tick_termination() {
  termination_requested = true;
}

void step_returned() {
  step_timer_stop();
  // A termination was requested, yet the step returned (its user code
  // swallowed the cancel): end the backend as die() would.
  if (!termination_requested) return;
  pg_guard([] {
    ProcDiePending = true;
    InterruptPending = true;
    CHECK_FOR_INTERRUPTS();
  });
}

Interrupted take_interrupted(Oid extension) {
  Interrupted out;
  register_callbacks();
  DIR* dir = opendir(kDirectory);
  if (!dir) return out;
  const std::string prefix = "interrupted." + std::to_string(MyDatabaseId) + ".";
  std::vector<std::string> names;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) continue;
    names.push_back(name);
  }
  closedir(dir);
  const int level = GetCurrentTransactionNestLevel();
  for (const std::string& name : names) {
    std::string path = std::string(kDirectory) + "/" + name;
    std::ifstream file(path);
    if (!file) continue;  // another tick took it meanwhile
    std::string header, word, kind;
    long long recorded_extension = -1;
    std::getline(file, header);
    file >> word >> recorded_extension >> kind;
    if (header == "pg_journey interrupted tick" && word == "extension" &&
        recorded_extension == static_cast<long long>(extension)) {
      if (kind == "run") {
        InterruptedRun run;
        if (file >> run.enrollment >> run.row_version) out.runs.push_back(run);
      } else if (kind == "write") {
        long long id;
        while (file >> id) out.suspects.insert(id);
      }
    }
    // Taken (or meant for an extension that no longer exists): removed at commit.
    consumed.push_back(Consumed{path, level});
  }
  return out;
}

}  // namespace pgj::pg
