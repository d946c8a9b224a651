// DROP EXTENSION pg_journey, prepared at ddl_command_start (event trigger
// pg_journey_drop_extension, src/sql/audiences.sql).
//
// Lock order. DROP EXTENSION locks the extension object, then every object it
// drops in dependency order: the journey tables one at a time, and (with
// CASCADE) the customer tables whose pg_journey triggers it removes. The
// sessions it meets take the same tables in other orders: an application's
// UPDATE of a customer table holds that table, then its trigger reads the
// journey tables; track() / enroll() / a run_due called by pg_cron hold one
// journey table and then want the next; a worker's tick holds the extension
// share lock (worker.cpp), then journey tables, then customer tables. Any of
// them waiting for a table the DROP already holds, while the DROP waits for
// one of theirs, was a deadlock (and one of the two was cancelled).
//
// So before the DROP takes anything, this trigger takes every lock it will
// need, all or nothing: it waits for one (at first the extension object, which
// waits out running ticks), tries the others without waiting, and when one is
// busy gives back all it holds and waits for that one instead, then tries
// again. It never waits while holding one of these locks, so it is never part
// of a cycle; once it holds them all the DROP itself waits for nothing.
// Then it removes the extension's pg_cron jobs (pg_journey:<journey>:<trigger>),
// which would otherwise fail at every run.
#include <string>
#include <vector>

#include "core/error.hpp"
#include "pg/bridge.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/pg_extension.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
}

namespace pgj::pg {
namespace {

// Whether the statement is a DROP EXTENSION that names pg_journey.
bool drops_pg_journey(Node* parsetree) {
  if (!parsetree || !IsA(parsetree, DropStmt)) return false;
  auto* stmt = castNode(DropStmt, parsetree);
  if (stmt->removeType != OBJECT_EXTENSION) return false;
  ListCell* cell;
  foreach (cell, stmt->objects) {
    Node* name = static_cast<Node*>(lfirst(cell));
    if (IsA(name, String) && strcmp(strVal(name), "pg_journey") == 0) return true;
  }
  return false;
}

// The relations DROP EXTENSION pg_journey [CASCADE] locks AccessExclusive: the
// extension's own tables, sequences and views; the tables carrying its
// triggers (registered audiences); views over its tables and tables with
// foreign keys to them. In OID order.
std::vector<Oid> relations_to_lock(Oid extension) {
  std::vector<Oid> out;
  for (const Row& row : spi_rows(
           "WITH members AS (SELECT d.classid, d.objid FROM pg_depend d"
           "                  WHERE d.refclassid = 'pg_extension'::regclass"
           "                    AND d.refobjid = $1::oid AND d.deptype = 'e'),"
           "     rels AS (SELECT m.objid FROM members m WHERE m.classid = 'pg_class'::regclass)"
           " SELECT r::text FROM ("
           "   SELECT rels.objid AS r FROM rels"
           "   UNION SELECT t.tgrelid FROM pg_trigger t JOIN members m"
           "           ON m.classid = 'pg_proc'::regclass AND m.objid = t.tgfoid"
           "   UNION SELECT w.ev_class FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid"
           "          WHERE d.classid = 'pg_rewrite'::regclass"
           "            AND d.refclassid = 'pg_class'::regclass"
           "            AND d.refobjid IN (SELECT rels.objid FROM rels)"
           "   UNION SELECT c.conrelid FROM pg_constraint c"
           "          WHERE c.confrelid IN (SELECT rels.objid FROM rels)) x"
           " WHERE r <> 0 ORDER BY r",
           {std::to_string(extension)}))
    out.push_back(static_cast<Oid>(std::stoul(*row[0])));
  return out;
}

// Takes lock i of the set (-1: the extension object, else relation i) in
// AccessExclusive mode, waiting or not; true when it is held.
bool take_lock(Oid extension, const Oid* rels, int i, bool wait) {
  if (i < 0) {
    if (wait) {
      LockDatabaseObject(ExtensionRelationId, extension, 0, AccessExclusiveLock);
      return true;
    }
    return ConditionalLockDatabaseObject(ExtensionRelationId, extension, 0, AccessExclusiveLock);
  }
  if (wait) {
    LockRelationOid(rels[i], AccessExclusiveLock);
    return true;
  }
  return ConditionalLockRelationOid(rels[i], AccessExclusiveLock);
}

// Gives back one acquisition of lock i (a lock the transaction held before
// keeps its earlier hold).
void give_back(Oid extension, const Oid* rels, int i) {
  if (i < 0)
    UnlockDatabaseObject(ExtensionRelationId, extension, 0, AccessExclusiveLock);
  else
    UnlockRelationOid(rels[i], AccessExclusiveLock);
}

// Holds the extension object and every relation of `relations` in
// AccessExclusive mode when it returns, without ever waiting while holding one.
void lock_for_drop(Oid extension, const std::vector<Oid>& relations) {
  const Oid* rels = relations.data();
  const int n = static_cast<int>(relations.size());
  pg_guard([&] {
    int blocking = -1;  // the lock to wait for this round
    for (;;) {
      CHECK_FOR_INTERRUPTS();
      take_lock(extension, rels, blocking, true);
      int failed = n;  // n: none
      for (int i = -1; i < n && failed == n; ++i)
        if (i != blocking && !take_lock(extension, rels, i, false)) failed = i;
      if (failed == n) return;
      // Busy: give back this round's locks, wait for the busy one next round.
      give_back(extension, rels, blocking);
      for (int i = -1; i < failed; ++i)
        if (i != blocking) give_back(extension, rels, i);
      blocking = failed;
    }
  });
}

// Unschedules this database's pg_cron jobs of pg_journey (when pg_cron is here).
void remove_cron_jobs() {
  auto cron = spi_rows(
      "SELECT to_regclass('cron.job') IS NOT NULL"
      "   AND to_regprocedure('cron.unschedule(bigint)') IS NOT NULL");
  if (cron.empty() || *cron[0][0] != "t") return;
  spi_rows(
      "SELECT cron.unschedule(j.jobid) FROM cron.job j"
      " WHERE left(j.jobname, 11) = 'pg_journey:' AND j.database = current_database()",
      {}, false);
}

}  // namespace
}  // namespace pgj::pg

using namespace pgj;

// journey._drop_extension_start(): ddl_command_start of DROP EXTENSION. Does
// nothing unless the statement drops pg_journey; then takes the drop's locks
// deadlock-free and removes the pg_cron jobs (see the top of this file). The
// event trigger of an installed release calls this symbol whatever library is
// loaded: later libraries keep it, and it runs without the version check.
PGJ_FUNCTION_ANY_VERSION(pgj_drop_extension_start) {
  if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
    throw core::Error("39P01", "journey._drop_extension_start must be called as an event trigger");
  auto* data = reinterpret_cast<EventTriggerData*>(fcinfo->context);
  if (!pg::drops_pg_journey(data->parsetree)) return PointerGetDatum(nullptr);
  Oid extension = pg::pg_guard([] { return get_extension_oid("pg_journey", true); });
  if (!OidIsValid(extension)) return PointerGetDatum(nullptr);
  pg::SpiConnection spi;
  std::vector<Oid> relations = pg::relations_to_lock(extension);
  pg::lock_for_drop(extension, relations);
  pg::remove_cron_jobs();
  spi.finish();
  return PointerGetDatum(nullptr);
}
