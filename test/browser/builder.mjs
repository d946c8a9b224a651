#!/usr/bin/env node
// The visual builder in a real browser (Debian's Chromium, driven by
// playwright-core through the DevTools protocol) against journeyctl serve and
// the test cluster: sign in with a role and its password, build the README's
// welcome series from scratch by drag and drop (the result exports to the
// same JSON as journey.import of the SPEC's definition), edit a delay and see
// its validation error come and go, connect, disconnect and remove steps,
// publish, enroll customers with journeyctl, watch the counts change on the
// canvas, look a customer up, compare versions, pause and archive.
//
// Needs PGHOST (tools/test.sh exports it), PGJ_CLUSTER_DATA (to require a
// password for the test role), journeyctl (installed) and web/node_modules. Prints
// "N passed, N failed"; a step that fails skips the rest, which count as
// failed. PGJ_SCREENSHOTS=DIR saves the screenshots docs/builder.md shows.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// The installed journeyctl (make install puts it beside the server's programs).
const journeyctl = process.env.JOURNEYCTL || (process.env.PGBIN ? join(process.env.PGBIN, 'journeyctl') : join(root, 'build/journeyctl'));
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.PGJ_SCREENSHOTS || '';
const DB = 'pgj_builder_ui';
const ROLE = 'pgj_builder_ui_admin';
const PASSWORD = 'builder-secret-1';
const started = Date.now();

let passed = 0;
let failed = 0;
let broken = null;  // the first failure: the steps after it are not run

function log(s) { process.stdout.write(`${s}\n`); }

// Runs one check; after a failure, later checks count as failed without running.
async function step(name, fn) {
  if (broken) {
    failed += 1;
    log(`FAILED ${name}: not run (after "${broken}")`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    passed += 1;
    log(`ok     ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed += 1;
    broken = name;
    log(`FAILED ${name}: ${e && e.stack ? e.stack : e}`);
    if (page) {
      const file = join(tmpdir(), 'pgj-browser-failure.png');
      await page.screenshot({ path: file }).catch(() => {});
      log(`  screenshot of the failure: ${file}`);
    }
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Waits (up to 10 s) until cond() holds.
async function until(cond, message) {
  const deadline = Date.now() + 10000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function psql(sql, db = DB) {
  const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

function run(cmd, args, input) {
  return spawnSync(cmd, args, { encoding: 'utf8', input, env: { ...process.env, PGDATABASE: DB } });
}

// JSON with sorted keys, to compare documents whatever their key order.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

let server = null;
let browser = null;
let page = null;
let url = '';

async function shot(name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`) });
}

// Drags from the centre of one element to the centre of another with the mouse.
async function dragBetween(from, to) {
  const a = await from.boundingBox();
  const b = await to.boundingBox();
  assert(a && b, 'drag endpoints are not on screen');
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(a.x + a.width / 2 + 5, a.y + a.height / 2 + 5, { steps: 3 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 12 });
  await page.mouse.up();
}

const node = (key) => page.getByTestId(`rf__node-s:${key}`);
const inlet = (key) => node(key).locator('.react-flow__handle.target');
const edge = (from, branch) => page.getByTestId(`rf__edge-${from}:${branch}`);

// Drops a palette step onto the canvas at (x, y) of the canvas and names it.
async function addStep(type, key, x, y) {
  const before = await page.locator('.react-flow__node-step').count();
  await page.getByTestId(`palette-${type}`).dragTo(page.getByTestId('canvas'), { targetPosition: { x, y } });
  await page.waitForFunction((n) => document.querySelectorAll('.react-flow__node-step').length === n + 1, before);
  await page.getByTestId('step-panel').waitFor();
  await page.getByTestId('step-key').fill(key);
  await page.getByTestId('step-rename').click();
  await node(key).waitFor();
}

async function apply() {
  await page.getByTestId('step-apply').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="step-apply"]')?.disabled === true);
}

async function main() {
  const require = createRequire(join(root, 'web/package.json'));
  const { chromium } = require('playwright-core');

  await step('set up: database, customers, templates, a role with a password', async () => {
    assert(process.env.PGJ_CLUSTER_DATA, 'PGJ_CLUSTER_DATA is not set (run under tools/test.sh)');
    psql(`DROP DATABASE IF EXISTS ${DB}`, 'postgres');
    psql(`CREATE DATABASE ${DB}`, 'postgres');
    psql(`DROP ROLE IF EXISTS ${ROLE}`, 'postgres');
    psql(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}' IN ROLE journey_admin`, 'postgres');
    psql(`CREATE EXTENSION pg_journey;
      CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, first_name text,
        plan text NOT NULL DEFAULT 'free', unsubscribed boolean NOT NULL DEFAULT false);
      INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'C' || g, 'free', false
        FROM generate_series(1, 20) g;
      SELECT journey.register_audience('customers', 'id', email_column => 'email');
      SELECT journey.create_template('welcome', 'email', 'Welcome, {{first_name | default: "there"}}!', 'Glad you joined.');
      SELECT journey.create_template('tips', 'email', 'Three tips', 'Here is how to get going.');
      SELECT journey.create_template('nudge', 'email', 'Still there, {{first_name}}?', 'We miss you.');
      GRANT SELECT, UPDATE ON customers TO ${ROLE};`);
    // The test role must give its password: the rest of the cluster trusts local users.
    const hba = join(process.env.PGJ_CLUSTER_DATA, 'pg_hba.conf');
    const lines = readFileSync(hba, 'utf8');
    if (!lines.includes(ROLE)) writeFileSync(hba, `local all ${ROLE} scram-sha-256\n${lines}`);
    psql('SELECT pg_reload_conf()', 'postgres');
    const r = run('psql', ['-X', '-At', '-w', '-U', ROLE, '-c', 'SELECT 1']);
    assert(r.status !== 0 && /password/.test(r.stderr), `the role connects without its password: ${r.stderr}`);
  });

  await step('journeyctl serve starts and prints its address', async () => {
    server = spawn(journeyctl, ['serve', '--http-port', '0', '-d', DB], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stderr.on('data', (d) => { out += d; });
    url = await new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no address after 10 s: ${out}`)), 10000);
      server.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//);
        if (m) { clearTimeout(timer); ok(m[0]); }
      });
      server.on('exit', (code) => fail(new Error(`journeyctl serve exited ${code}: ${out}`)));
    });
  });

  await step('Chromium starts', async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.setDefaultTimeout(10000);
    page.on('pageerror', (e) => log(`  page error: ${e.message}`));
  });

  await step('a wrong password is refused', async () => {
    await page.goto(url);
    await page.getByTestId('login-user').fill(ROLE);
    await page.getByTestId('login-password').fill('wrong');
    await page.getByTestId('login-submit').click();
    const err = await page.getByTestId('login-error').textContent();
    assert(/sign-in failed/.test(err) && /password authentication failed/.test(err), `unexpected error: ${err}`);
  });

  await step('sign in with the role and its password', async () => {
    await page.getByTestId('login-password').fill(PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('new-journey-name').waitFor();
    assert((await page.getByTestId('who').textContent()).startsWith(`${ROLE}@${DB}`), 'signed in as someone else');
  });

  await step('create a journey from scratch', async () => {
    await page.getByTestId('new-journey-name').fill('welcome-builder');
    await page.getByTestId('new-journey-create').click();
    await page.getByTestId('palette').waitFor();
    assert((await page.getByTestId('journey-name').textContent()) === 'welcome-builder', 'not on the new journey');
    assert((await page.locator('.react-flow__node-step').count()) === 0, 'a new journey has no step');
  });

  // The entry box of an empty journey sits at the top of the canvas; steps go below it.
  let cx = 0;
  let cy = 0;
  await step('drag a "send email" step onto the canvas, name it and pick its template', async () => {
    const box = await page.getByTestId('canvas').boundingBox();
    cx = box.width / 2;
    cy = 160;
    await addStep('send_email', 'welcome', cx, cy + 130);
    await page.getByTestId('start-welcome').waitFor();  // the first step is the start
    await page.getByTestId('issues-welcome').waitFor();  // no template yet: an error on the step
    await page.getByTestId('field-template').selectOption('welcome');
    await apply();
    await page.getByTestId('issues-welcome').waitFor({ state: 'detached' });
    assert((await node('welcome').textContent()).includes('template welcome'), 'summary not updated');
  });

  await step('drag the wait and the two follow-ups onto the canvas', async () => {
    await addStep('wait_for_event', 'wait', cx, cy + 290);
    await page.getByTestId('field-event').fill('email_opened');
    await page.getByTestId('field-timeout').fill('3 days');
    await apply();
    await addStep('send_email', 'tips', cx - 150, cy + 450);
    await page.getByTestId('field-template').selectOption('tips');
    await apply();
    await addStep('send_email', 'nudge', cx + 150, cy + 450);
    await page.getByTestId('field-template').selectOption('nudge');
    await apply();
  });

  await step('a refused edit shows the database\'s error with its SQLSTATE', async () => {
    await node('tips').click();
    await page.getByTestId('step-key').fill('nudge');
    await page.getByTestId('step-rename').click();
    const box = page.getByTestId('editor-error');
    await box.waitFor();
    const text = await box.textContent();
    assert(text === '23505: step "nudge" already exists in journey "welcome-builder"',
      `the error box shows: ${text}`);
    await box.click();  // closes it
    await box.waitFor({ state: 'detached' });
    await page.getByTestId('step-key').fill('tips');
    await node('tips').waitFor();
    await node('nudge').waitFor();
  });

  await step('connect the steps by dragging from outlets to steps', async () => {
    await dragBetween(page.getByTestId('handle-welcome-next'), inlet('wait'));
    await edge('welcome', 'next').waitFor();
    await dragBetween(page.getByTestId('handle-wait-event'), inlet('tips'));
    await edge('wait', 'event').waitFor();
    await dragBetween(page.getByTestId('handle-wait-timeout'), inlet('nudge'));
    await edge('wait', 'timeout').waitFor();
  });

  await step('entry trigger, exit rule and settings from the Journey tab', async () => {
    await page.getByTestId('tab-journey').click();
    await page.getByTestId('entry-add-type').selectOption('event');
    await page.getByTestId('entry-add').click();
    await page.getByTestId('entry-event').fill('signed_up');
    await page.getByTestId('entry-apply').click();
    await page.getByTestId('entry-1').filter({ hasText: 'signed_up' }).waitFor();
    await page.getByTestId('exit-add-type').selectOption('condition');
    await page.getByTestId('exit-add').click();
    await page.getByTestId('exit-when-add').click();
    await page.getByTestId('exit-when-field-0').fill('unsubscribed');
    await page.getByTestId('exit-when-op-0').selectOption('eq');
    await page.getByTestId('exit-when-value-0').fill('true');
    await page.getByTestId('exit-apply').click();
    await page.getByTestId('exit-1').filter({ hasText: 'unsubscribed = true' }).waitFor();
    await page.getByTestId('setting-reentry').selectOption('never');
    await page.getByTestId('setting-timezone').fill('UTC');
    await page.getByTestId('settings-apply').click();
    await page.getByTestId('settings-apply').isDisabled();
    await page.waitForFunction(() => document.querySelector('[data-testid="settings-apply"]')?.disabled === true);
  });

  await step('edit a delay: a validation error appears on the step and goes when fixed', async () => {
    await addStep('delay', 'pause', cx + 280, cy + 290);
    assert(await page.getByTestId('field-duration').inputValue() === '1 day', 'a new delay starts at its default');
    await page.getByTestId('field-duration').fill('2 dayz');
    await apply();
    await page.getByTestId('issues-pause').waitFor();
    const title = await page.getByTestId('step-pause').getAttribute('title');
    assert(/invalid duration "2 dayz"/.test(title), `the step does not say what is wrong: ${title}`);
    assert((await page.getByTestId('introduced').textContent()).includes('unknown unit "dayz"'),
      'the form does not show the issue the edit introduced');
    await shot('builder-validation');
    await page.getByTestId('field-duration').fill('2 days');
    await apply();
    await page.getByTestId('issues-pause').waitFor({ state: 'detached' });
    assert((await node('pause').textContent()).includes('wait 2 days'), 'delay summary not updated');
  });

  await step('disconnect by dragging an arrow\'s end onto empty canvas', async () => {
    await dragBetween(page.getByTestId('handle-tips-next'), inlet('pause'));
    await edge('tips', 'next').waitFor();
    const canvas = await page.getByTestId('canvas').boundingBox();
    await edge('tips', 'next').click({ force: true });
    const end = page.locator('[data-testid="rf__edge-tips:next"] .react-flow__edgeupdater-target');
    const b = await end.boundingBox();
    assert(b, 'no reconnect anchor on the arrow');
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
    await page.mouse.down();
    await page.mouse.move(canvas.x + 40, canvas.y + 40, { steps: 12 });
    await page.mouse.up();
    await edge('tips', 'next').waitFor({ state: 'detached' });
  });

  await step('remove a step by dropping it on the bin', async () => {
    // The bin shows while a step is dragged, at the bottom of the canvas.
    const from = await node('pause').locator('.step-key').boundingBox();
    const canvas = await page.getByTestId('canvas').boundingBox();
    await page.mouse.move(from.x + 10, from.y + 5);
    await page.mouse.down();
    await page.mouse.move(from.x + 30, from.y + 30, { steps: 4 });
    const bin = await page.getByTestId('bin').boundingBox();
    assert(bin && bin.y > canvas.y + canvas.height / 2, 'no bin while dragging a step');
    await page.mouse.move(bin.x + bin.width / 2, bin.y + bin.height / 2, { steps: 12 });
    await page.mouse.up();
    await node('pause').waitFor({ state: 'detached' });
    assert(psql("SELECT count(*) FROM journey.steps s JOIN journey.journeys j ON j.id = s.journey_id WHERE j.name = 'welcome-builder' AND s.key = 'pause'") === '0',
      'the step is still in the draft');
  });

  await step('the built journey exports to the JSON journey.import makes of the README\'s welcome series', async () => {
    psql(`SELECT journey.import($j$${JSON.stringify({
      name: 'welcome-reference', audience: 'public.customers',
      settings: { reentry: 'never', timezone: 'UTC' },
      entry: [{ type: 'event', event: 'signed_up' }],
      exit: [{ type: 'condition', when: { field: 'unsubscribed', op: 'eq', value: true } }],
      start: 'welcome',
      steps: [
        { key: 'welcome', type: 'send_email', template: 'welcome', next: 'wait' },
        { key: 'wait', type: 'wait_for_event', event: 'email_opened', timeout: '3 days', branches: { event: 'tips', timeout: 'nudge' } },
        { key: 'tips', type: 'send_email', template: 'tips' },
        { key: 'nudge', type: 'send_email', template: 'nudge' }],
    })}$j$)`);
    const same = psql(`SELECT journey.export('welcome-builder') - ARRAY['name', 'layout']
                        = journey.export('welcome-reference') - 'name'`);
    assert(same === 't', `different definitions:\n${psql("SELECT journey.export('welcome-builder')")}\n${psql("SELECT journey.export('welcome-reference')")}`);
    // The builder's Export JSON is journey.export.
    const exported = await page.evaluate(() => fetch('/api/journey/export?name=welcome-builder').then((r) => r.json()));
    const server = JSON.parse(psql("SELECT journey.export('welcome-builder')"));
    assert(canonical(exported) === canonical(server), 'Export JSON differs from journey.export');
    assert(exported.layout && exported.layout.welcome, 'the canvas positions are not kept');
  });

  await step('publish: the preview shows nobody in flight, then the journey is live', async () => {
    await page.getByRole('button', { name: 'Auto layout' }).click();
    await until(() => psql("SELECT journey.export('welcome-builder') ? 'layout'") === 'f', 'the layout is not cleared');
    await page.waitForTimeout(300);  // the canvas redraws the new positions
    await page.locator('.react-flow__controls-fitview').click();
    await page.getByTestId('publish').click();
    await page.getByTestId('no-flight').waitFor();
    await page.getByTestId('publish-confirm').click();
    await page.getByTestId('journey-state').filter({ hasText: 'published' }).waitFor();
    assert(psql("SELECT state || ' ' || published_version FROM journey.journeys WHERE name = 'welcome-builder'") === 'published 1',
      'not published in the database');
  });

  await step('enroll customers with journeyctl enroll --csv', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgj-browser-'));
    const csv = join(dir, 'customers.csv');
    writeFileSync(csv, 'customer_id,source\n1,csv\n2,csv\n3,csv\n4,csv\n5,csv\n');
    const r = run(journeyctl, ['enroll', 'welcome-builder', '--csv', csv]);
    assert(r.status === 0, `journeyctl enroll exited ${r.status}: ${r.stderr}`);
    assert(r.stdout.includes('5 row(s): 5 enrolled'), `unexpected output: ${r.stdout}`);
  });

  await step('the counts on the canvas change as customers move', async () => {
    await page.getByTestId('count-welcome').filter({ hasText: 'entered 5now 5' }).waitFor();
    await page.getByTestId('totals').filter({ hasText: '5 active · 5 enrolled' }).waitFor();
    psql('SELECT journey.run_due()');  // one engine tick: the e-mails go, everyone waits
    await page.getByTestId('count-wait').filter({ hasText: 'entered 5now 5' }).waitFor();
    await page.getByTestId('count-welcome').filter({ hasText: 'entered 5now 0' }).waitFor();
    const label = await edge('welcome', 'next').locator('.react-flow__edge-text').textContent();
    assert(label === '5', `the arrow welcome -> wait says "${label}", not 5`);
    psql("SELECT journey.track('1', 'email_opened'); SELECT journey.track('2', 'email_opened'); SELECT journey.run_due()");
    await page.getByTestId('count-tips').filter({ hasText: 'entered 2now 0' }).waitFor();
    await page.getByTestId('count-wait').filter({ hasText: 'now 3' }).waitFor();
    const event = await edge('wait', 'event').locator('.react-flow__edge-text').textContent();
    assert(event === 'event · 2', `the event arrow says "${event}"`);
    await page.locator('.react-flow__controls-fitview').click();
    await page.waitForTimeout(400);
    await shot('builder-canvas');
  });

  await step('look a customer up and see their path', async () => {
    await page.getByTestId('tab-customer').click();
    await page.getByTestId('customer-id').fill('1');
    await page.getByTestId('customer-lookup').click();
    const path = await page.getByTestId('customer-path').first().textContent();
    assert(/welcome → next.*wait → event.*tips/.test(path), `unexpected path: ${path}`);
    await page.locator('.step.highlight').first().waitFor();
    assert((await page.locator('.step.highlight').count()) === 3, 'the path is not shown on the canvas');
  });

  await step('an edit starts draft v2; history compares it with v1; the preview shows who is in flight', async () => {
    await node('nudge').click();
    await page.getByTestId('field-template').selectOption('tips');
    await apply();
    await page.getByTestId('version-note').filter({ hasText: 'editing draft v2 · live v1' }).waitFor();
    await page.getByTestId('tab-history').click();
    await page.getByTestId('diff-from').selectOption('1');
    await page.getByTestId('diff-to').selectOption('2');
    await page.getByTestId('diff-run').click();
    const diff = await page.getByTestId('diff-table').textContent();
    assert(/step nudgechangedtemplate: nudge → tips/.test(diff), `unexpected diff: ${diff}`);
    await shot('builder-history');
    await page.getByTestId('publish').click();
    const flight = await page.getByTestId('flight-table').textContent();
    assert(/wait3stay on their version/.test(flight), `unexpected preview: ${flight}`);
    await page.getByTestId('publish-migrate').check();
    assert(/wait3move to the new version/.test(await page.getByTestId('flight-table').textContent()), 'migrate not shown');
    await shot('builder-publish');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('discard').click();
    await page.getByTestId('discard-dialog-confirm').click();
    await page.getByTestId('version-note').filter({ hasText: 'live v1' }).waitFor();
  });

  await step('pause and resume', async () => {
    await page.getByTestId('pause').click();
    await page.getByTestId('journey-state').filter({ hasText: 'paused' }).waitFor();
    assert(psql("SELECT state FROM journey.journeys WHERE name = 'welcome-builder'") === 'paused', 'not paused');
    await page.getByTestId('resume').click();
    await page.getByTestId('journey-state').filter({ hasText: 'published' }).waitFor();
  });

  await step('archive: asked first, then read only and hidden from the list', async () => {
    await page.getByTestId('archive').click();
    await page.getByTestId('archive-dialog-confirm').click();
    await page.getByTestId('journey-state').filter({ hasText: 'archived' }).waitFor();
    assert((await page.getByTestId('palette').count()) === 0, 'an archived journey is still editable');
    assert(psql("SELECT count(*) FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id WHERE j.name = 'welcome-builder' AND e.status = 'active'") === '0',
      'active enrollments left after archiving');
    await page.goto(`${url}#/`);
    await page.getByTestId('journey-row-welcome-reference').waitFor();
    assert((await page.getByTestId('journey-row-welcome-builder').count()) === 0, 'archived journey listed');
    await page.getByTestId('show-archived').check();
    await page.getByTestId('journey-row-welcome-builder').waitFor();
    await shot('builder-list');
  });
}

try {
  await main();
} catch (e) {
  failed += 1;
  log(`FAILED suite: ${e.stack || e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  if (server) server.kill('SIGTERM');
  log(`builder browser suite: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
