// engine/graphile ratio, in one run on one cluster (docs/benchmarks.md).
//
// The journey of bench/latency.cpp's throughput figure (send_email hello ->
// condition score > 50 -> yes: update_field vip -> delay 1 s -> send_email
// bye; no: -> delay), N enrollments (default 100,000; argument or
// PGJ_BENCH_ENROLLMENTS), run
//   1. by pg_journey's background workers (database pgj_worker of
//      tools/cluster.sh: 2 workers, batch 500): the clock starts when the
//      enroll_query transaction commits, stops when every enrollment completed;
//   2. by graphile-worker (pinned in package-lock.json) in database
//      pgj_graphile: one job per step; each job does its step's writes and
//      enqueues the next step's job (graphile_worker.add_job) in one
//      transaction; the delay is the next job's run_at (now() + 1 s); each send
//      writes the same outbox row as pg_journey (a table LIKE journey.messages,
//      the body rendered from the customer's email). The clock starts when the
//      transaction adding the N first jobs commits, stops when no job is left
//      (then every chain has written its bye message: checked after). Settings: graphile-worker's documented performance
//      configuration (concurrentJobs 24, maxPoolSize 25, localQueue size 500,
//      completeJobBatchDelay 0, failJobBatchDelay 0), or PGJ_GRAPHILE_CONCURRENCY.
// Same server, same settings (tools/cluster.sh), one after the other.
// Prints both times and the ratio graphile s / pg_journey s.
import pg from "pg";
import { run, Logger } from "graphile-worker";

// Warnings and errors only: a line per job would measure the console.
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

const N = Number(process.argv[2] || process.env.PGJ_BENCH_ENROLLMENTS || 100000);
const concurrency = Number(process.env.PGJ_GRAPHILE_CONCURRENCY || 24);
const host = process.env.PGHOST;
const conn = (db) => ({ host, port: Number(process.env.PGPORT || 5432), user: process.env.PGUSER || "postgres", database: db });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

async function q(db, sql, args = []) {
  const c = new pg.Client(conn(db));
  await c.connect();
  try {
    return (await c.query(sql, args)).rows;
  } finally {
    await c.end();
  }
}

async function waitCount(db, sql, want) {
  const c = new pg.Client(conn(db));
  await c.connect();
  try {
    for (;;) {
      const v = (await c.query(sql)).rows[0].n;
      const n = v === true ? 1 : v === false ? 0 : Number(v);
      if (n >= want) return;
      await sleep(50);
    }
  } finally {
    await c.end();
  }
}

const CUSTOMERS = `CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, score int NOT NULL,
  vip boolean NOT NULL DEFAULT false);
INSERT INTO customers (id, email, score) SELECT i, 'c' || i || '@example.com', (i * 37) % 100
  FROM generate_series(1, ${N}) i;`;

// ---- 1. pg_journey's workers ----------------------------------------------------
async function pgJourney() {
  await q("postgres", "DROP DATABASE IF EXISTS pgj_worker WITH (FORCE)");
  await q("postgres", "CREATE DATABASE pgj_worker");
  await q("postgres", `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'journey_worker')
    THEN CREATE ROLE journey_worker LOGIN; END IF; END $$`);
  const c = new pg.Client(conn("pgj_worker"));
  await c.connect();
  await c.query("CREATE EXTENSION pg_journey");
  await c.query("GRANT journey_app TO journey_worker");
  await c.query(CUSTOMERS);
  await c.query(`SELECT journey.register_audience('customers', 'id', email_column => 'email');
    SELECT journey.create_template('hello', 'email', 'Hello', 'Hi {{email}}');
    SELECT journey.create_template('bye', 'email', 'Later', 'Bye {{email}}');`);
  await c.query("SELECT journey.import($1::jsonb)", [JSON.stringify({
    name: "bench", audience: "customers", start: "hello",
    steps: [{ key: "hello", type: "send_email", template: "hello", next: "high" },
            { key: "high", type: "condition", if: { field: "score", op: "gt", value: 50 },
              branches: { yes: "mark", no: "wait" } },
            { key: "mark", type: "update_field", set: { vip: true }, next: "wait" },
            { key: "wait", type: "delay", duration: "1 second", next: "bye" },
            { key: "bye", type: "send_email", template: "bye" }] })]);
  await c.query("SELECT journey.publish('bench')");
  await c.query("VACUUM ANALYZE");
  await c.query("CHECKPOINT");
  await c.query("BEGIN");
  await c.query("SELECT journey.enroll_query('bench', 'SELECT id FROM customers')");
  await c.query("ANALYZE journey.enrollments");
  await c.query("COMMIT");
  const t0 = process.hrtime.bigint();
  await c.end();
  // Cheap polls (they stop at the first row left), the same for both sides.
  await waitCount("pgj_worker", `SELECT count(*) = 0 AS n FROM (SELECT 1 FROM journey.enrollments
    WHERE status = 'active' AND next_run_at IS NOT NULL ORDER BY next_run_at LIMIT 1) x`, 1);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const [r] = await q("pgj_worker", `SELECT (SELECT count(*) FROM journey.messages) AS messages,
    (SELECT count(*) FROM journey.activity) AS activity, (SELECT count(*) FROM customers WHERE vip) AS vip`);
  log(`pg_journey workers: ${N} enrollments in ${s.toFixed(2)} s (${Math.round(N / s)}/s); ` +
      `${r.messages} messages, ${r.activity} activity rows, ${r.vip} vip`);
  await q("postgres", "DROP DATABASE pgj_worker WITH (FORCE)");
  return { s, messages: Number(r.messages), vip: Number(r.vip) };
}

// ---- 2. graphile-worker ------------------------------------------------------------
// Each task: its step's writes and the next job, in one transaction.
function tasks() {
  const send = (template, next) => async (payload, helpers) => {
    await helpers.withPgClient(async (client) => {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO outbox (enrollment_id, journey_id, version, customer_id, step_key, visit, channel,
           recipient, subject, body, send_after)
         SELECT $1, 1, 1, c.id::text, $2, $3, 'email', c.email, $4, $5 || ' ' || c.email, now()
           FROM customers c WHERE c.id = $1`,
        [payload.id, template, payload.visit, template === "hello" ? "Hello" : "Later",
         template === "hello" ? "Hi" : "Bye"]);
      if (next)
        await client.query("SELECT graphile_worker.add_job($1, $2::json)",
                           [next, JSON.stringify({ id: payload.id, visit: payload.visit + 1 })]);
      await client.query("COMMIT");
    });
  };
  return {
    hello: send("hello", "high"),
    high: async (payload, helpers) => {
      await helpers.withPgClient(async (client) => {
        await client.query("BEGIN");
        const { rows } = await client.query("SELECT score FROM customers WHERE id = $1", [payload.id]);
        await client.query("SELECT graphile_worker.add_job($1, $2::json)",
                           [rows[0].score > 50 ? "mark" : "wait",
                            JSON.stringify({ id: payload.id, visit: payload.visit + 1 })]);
        await client.query("COMMIT");
      });
    },
    mark: async (payload, helpers) => {
      await helpers.withPgClient(async (client) => {
        await client.query("BEGIN");
        await client.query("UPDATE customers SET vip = true WHERE id = $1", [payload.id]);
        await client.query("SELECT graphile_worker.add_job('wait', $1::json)",
                           [JSON.stringify({ id: payload.id, visit: payload.visit + 1 })]);
        await client.query("COMMIT");
      });
    },
    wait: async (payload, helpers) => {
      await helpers.withPgClient(async (client) => {
        await client.query("SELECT graphile_worker.add_job('bye', $1::json, run_at => now() + interval '1 second')",
                           [JSON.stringify({ id: payload.id, visit: payload.visit + 1 })]);
      });
    },
    bye: send("bye", null),
  };
}

async function graphile() {
  await q("postgres", "DROP DATABASE IF EXISTS pgj_graphile WITH (FORCE)");
  await q("postgres", "CREATE DATABASE pgj_graphile");
  const c = new pg.Client(conn("pgj_graphile"));
  await c.connect();
  await c.query(CUSTOMERS);
  // The outbox row of journey.messages (same columns and indexes as in
  // src/sql/tables.sql, without the foreign keys to tables this side has not).
  await c.query(`CREATE TABLE outbox (
    id bigserial PRIMARY KEY, enrollment_id bigint NOT NULL, journey_id bigint NOT NULL, version int NOT NULL,
    customer_id text NOT NULL, step_key text NOT NULL, visit int NOT NULL, channel text NOT NULL,
    recipient text, subject text, body text NOT NULL, status text NOT NULL DEFAULT 'pending',
    send_after timestamptz NOT NULL DEFAULT now(), attempts int NOT NULL DEFAULT 0, claimed_at timestamptz,
    completed_at timestamptz, error text, created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enrollment_id, visit));
    CREATE INDEX outbox_pending ON outbox (channel, send_after) WHERE status = 'pending';
    CREATE INDEX outbox_customer_recent ON outbox (customer_id, created_at);`);
  const preset = {
    worker: {
      connectionString: `postgres:///pgj_graphile?host=${encodeURIComponent(host)}`,
      concurrentJobs: concurrency,
      maxPoolSize: concurrency + 1,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
      pollInterval: 100,
    },
  };
  // The schema first (a runner creates it), then the jobs with no runner going.
  const warm = await run({ preset, logger, taskList: tasks(), noHandleSignals: true });
  await warm.stop();
  await c.query("VACUUM ANALYZE");
  await c.query("CHECKPOINT");
  await c.query("BEGIN");
  await c.query(`SELECT count(graphile_worker.add_job('hello', json_build_object('id', i, 'visit', 1)))
      FROM generate_series(1, ${N}) i`);
  await c.query("COMMIT");
  const t0 = process.hrtime.bigint();
  const runner = await run({ preset, logger, taskList: tasks(), noHandleSignals: true });
  await waitCount("pgj_graphile", "SELECT count(*) = 0 AS n FROM (SELECT 1 FROM graphile_worker._private_jobs LIMIT 1) x", 1);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await runner.stop();
  const [r] = await q("pgj_graphile", `SELECT (SELECT count(*) FROM outbox) AS messages,
    (SELECT count(*) FROM customers WHERE vip) AS vip`);
  log(`graphile-worker (concurrency ${concurrency}, local queue 500, batched completion): ${N} enrollments in ` +
      `${s.toFixed(2)} s (${Math.round(N / s)}/s); ${r.messages} messages, ${r.vip} vip`);
  await c.end();
  await q("postgres", "DROP DATABASE pgj_graphile WITH (FORCE)");
  return { s, messages: Number(r.messages), vip: Number(r.vip) };
}

const a = await pgJourney();
const b = await graphile();
const ok = a.messages === 2 * N && b.messages === 2 * N && a.vip === b.vip;
console.log(`engine/graphile: pg_journey ${a.s.toFixed(2)} s, graphile-worker ${b.s.toFixed(2)} s: ` +
            `pg_journey is ${(b.s / a.s).toFixed(1)}x faster (target >= 20x)`);
console.log(`${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
process.exit(ok ? 0 : 1);
