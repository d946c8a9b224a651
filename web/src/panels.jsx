// The editor's side panels and dialogs: a step's form, a connection, the
// journey's entry triggers, exit rules and settings, its issues, a customer's
// path, the version history with diffs, and the publish preview.
import { useEffect, useState } from 'react';
import { errorText, get, post } from './api.js';
import { ConfigForm } from './forms.jsx';
import { conditionText, stepConfig, stepSpec } from './graph.js';

function IssueList({ issues, testid }) {
  if (!issues.length) return null;
  return (
    <ul className="issues" data-testid={testid}>
      {issues.map((i, n) => <li key={n} className={i.severity}>{i.message}</li>)}
    </ul>
  );
}

// A step: rename, its config form (from the catalog), start, remove.
export function StepPanel({ step, doc, ctx, readOnly, edit, onRemoved, onRenamed }) {
  const spec = stepSpec(ctx.catalog, step.type);
  const [config, setConfig] = useState(stepConfig(step));
  const [key, setKey] = useState(step.key);
  const [introduced, setIntroduced] = useState(null);
  const saved = JSON.stringify(stepConfig(step));
  const dirty = JSON.stringify(config) !== saved;
  const issues = doc.issues.filter((i) => i.step_key === step.key);
  const fields = [...spec.fields, ...ctx.catalog.common_step_fields];
  const apply = async () => {
    const r = await edit('step_config', { key: step.key, config });
    if (r) setIntroduced(r.introduced);
  };
  const rename = async () => {
    const r = await edit('rename_step', { key: step.key, new_key: key });
    if (r) onRenamed(key);
  };
  return (
    <div className="panel" data-testid="step-panel">
      <h3><span className="step-type">{spec.label}</span></h3>
      <p className="help">{spec.help}</p>
      <div className="field">
        <label className="field-label">Step key</label>
        <div className="inline">
          <input data-testid="step-key" value={key} disabled={readOnly} onChange={(e) => setKey(e.target.value)}
            onKeyDown={(e) => { if (e.key === 'Enter' && key !== step.key) rename(); }} />
          <button disabled={readOnly || key === step.key || !key} onClick={rename} data-testid="step-rename">
            Rename</button>
        </div>
        <div className="help">Connections, the start step and conditions naming it follow a rename.</div>
      </div>
      <fieldset disabled={readOnly}>
        <ConfigForm key={`${step.key}:${saved}`} fields={fields} groups={spec.exactly_one_of} value={config}
          onChange={setConfig} ctx={ctx} prefix="field" />
      </fieldset>
      {!readOnly && (
        <div className="actions">
          <button className="primary" disabled={!dirty} onClick={apply} data-testid="step-apply">Apply</button>
          <button disabled={!dirty} onClick={() => setConfig(stepConfig(step))}>Reset</button>
          <span className="spacer" />
          {doc.definition.start !== step.key && (
            <button onClick={() => edit('set_start', { key: step.key })} data-testid="step-make-start">
              Make start</button>
          )}
          <button className="danger" data-testid="step-remove"
            onClick={async () => { if (await edit('remove_step', { key: step.key })) onRemoved(); }}>Remove</button>
        </div>
      )}
      {introduced && introduced.length > 0 && (
        <div className="introduced"><b>This change introduced:</b><IssueList issues={introduced} testid="introduced" /></div>
      )}
      {issues.length > 0 && <div><b>Issues of this step</b><IssueList issues={issues} testid="step-issues" /></div>}
    </div>
  );
}

// A connection: where it goes, how many took it, disconnect.
export function EdgePanel({ edge, readOnly, edit, onRemoved, counts }) {
  return (
    <div className="panel" data-testid="edge-panel">
      <h3>Connection</h3>
      <p><b>{edge.from}</b> leaves by <b>{edge.branch}</b> to <b>{edge.to}</b>.</p>
      {counts !== undefined && <p>{counts} enrollment(s) took it in the live version.</p>}
      <p className="help">Drag either end of the arrow to another step to move it; drop it on
        empty canvas to disconnect.</p>
      {!readOnly && edge.from !== null && (
        <button className="danger" data-testid="edge-disconnect"
          onClick={async () => { if (await edit('disconnect', { from: edge.from, branch: edge.branch })) onRemoved(); }}>
          Disconnect</button>
      )}
    </div>
  );
}

function itemSummary(item) {
  const { type, is_goal: goal, ...rest } = item;
  const parts = [];
  for (const [k, v] of Object.entries(rest)) {
    if (v && typeof v === 'object' && (v.field || v.all || v.any || v.not || v.event)) parts.push(`${k} ${conditionText(v)}`);
    else if (k === 'event') parts.push(String(v));
    else parts.push(`${k} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  }
  return `${type}${parts.length ? `: ${parts.join(', ')}` : ''}${goal ? ' (goal)' : ''}`;
}

// A list of entry triggers or exit rules with an editor for one of them.
function ItemList({ kind, items, specs, ctx, readOnly, edit, issues }) {
  const [open, setOpen] = useState(null);  // position being edited
  const [draft, setDraft] = useState(null);
  const [addType, setAddType] = useState(specs[0].type);
  const pre = kind === 'entry' ? 'entry' : 'exit';
  const start = (pos) => {
    setOpen(pos);
    const { type, ...config } = items[pos - 1];
    setDraft({ type, config });
  };
  const apply = async () => {
    const { is_goal: goal, ...config } = draft.config;
    const body = { position: open, type: draft.type, config };
    if (kind === 'exit') body.is_goal = goal === true;
    if (await edit(`set_${pre}`, body)) setOpen(null);
  };
  const add = async () => {
    const spec = specs.find((s) => s.type === addType);
    const r = await edit(`add_${pre}`, { type: addType, config: {} });
    if (r) {
      const list = kind === 'entry' ? r.doc.definition.entry : r.doc.definition.exit;
      setOpen(list.length);
      setDraft({ type: spec.type, config: {} });
    }
  };
  return (
    <div data-testid={`${pre}-list`}>
      {items.length === 0 && <p className="muted small">None yet.</p>}
      <ol className="items">
        {items.map((item, i) => {
          const pos = i + 1;
          const mine = issues.filter((x) => x.step_key === `${pre}[${i}]`);
          return (
            <li key={i} data-testid={`${pre}-${pos}`} className={mine.some((x) => x.severity === 'error') ? 'has-errors' : ''}>
              <div className="item-line">
                <span className="grow">{itemSummary(item)}</span>
                {!readOnly && <>
                  <button className="icon" title="Edit" data-testid={`${pre}-${pos}-edit`} onClick={() => start(pos)}>✎</button>
                  <button className="icon" title="Move up" disabled={pos === 1}
                    onClick={() => edit(`move_${pre}`, { position: pos, new_position: pos - 1 })}>↑</button>
                  <button className="icon" title="Move down" disabled={pos === items.length}
                    onClick={() => edit(`move_${pre}`, { position: pos, new_position: pos + 1 })}>↓</button>
                  <button className="icon" title="Remove" data-testid={`${pre}-${pos}-remove`}
                    onClick={() => edit(`remove_${pre}`, { position: pos })}>×</button>
                </>}
              </div>
              <IssueList issues={mine} />
              {open === pos && draft && (
                <div className="item-editor">
                  <label className="field-label">Type
                    <select value={draft.type} data-testid={`${pre}-type`}
                      onChange={(e) => setDraft({ type: e.target.value, config: {} })}>
                      {specs.map((s) => <option key={s.type} value={s.type}>{s.label}</option>)}
                    </select></label>
                  <p className="help">{specs.find((s) => s.type === draft.type).help}</p>
                  <ConfigForm key={`${pos}:${draft.type}`} fields={specs.find((s) => s.type === draft.type).fields}
                    groups={specs.find((s) => s.type === draft.type).exactly_one_of} value={draft.config}
                    onChange={(c) => setDraft({ ...draft, config: c })} ctx={ctx} prefix={pre} />
                  <div className="actions">
                    <button className="primary" onClick={apply} data-testid={`${pre}-apply`}>Apply</button>
                    <button onClick={() => setOpen(null)}>Cancel</button>
                  </div>
                </div>
              )}
            </li>
          );
        })}
      </ol>
      {!readOnly && (
        <div className="inline">
          <select value={addType} onChange={(e) => setAddType(e.target.value)} data-testid={`${pre}-add-type`}>
            {specs.map((s) => <option key={s.type} value={s.type}>{s.label}</option>)}
          </select>
          <button onClick={add} data-testid={`${pre}-add`}>Add {kind === 'entry' ? 'trigger' : 'exit rule'}</button>
        </div>
      )}
    </div>
  );
}

// The journey: entry triggers, exit rules, settings.
export function JourneyPanel({ doc, ctx, readOnly, edit }) {
  const def = doc.definition;
  const [settings, setSettings] = useState(def.settings || {});
  const savedSettings = JSON.stringify(def.settings || {});
  useEffect(() => setSettings(JSON.parse(savedSettings)), [savedSettings]);
  const dirty = JSON.stringify(settings) !== savedSettings;
  const applySettings = () => {
    // set_settings merges: keys that were removed are sent as null.
    const patch = { ...settings };
    for (const k of Object.keys(def.settings || {})) if (!(k in settings)) patch[k] = null;
    edit('settings', { settings: patch });
  };
  const settingsIssues = doc.issues.filter((i) => i.step_key === 'settings');
  return (
    <div className="panel" data-testid="journey-panel">
      {doc.journey.description && <p className="muted">{doc.journey.description}</p>}
      <h3>Entry triggers</h3>
      <p className="help">How customers enter. Every trigger enrolls; manual means only
        journey.enroll (or journeyctl enroll).</p>
      <ItemList kind="entry" items={def.entry || []} specs={ctx.catalog.entry_triggers} ctx={ctx}
        readOnly={readOnly} edit={edit} issues={doc.issues} />
      <h3>Exit rules</h3>
      <p className="help">Customers leave the journey as soon as one holds; a goal counts as a conversion.</p>
      <ItemList kind="exit" items={def.exit || []} specs={ctx.catalog.exit_rules} ctx={ctx}
        readOnly={readOnly} edit={edit} issues={doc.issues} />
      <h3>Settings</h3>
      <fieldset disabled={readOnly}>
        <ConfigForm key={savedSettings} fields={ctx.catalog.settings} value={settings} onChange={setSettings}
          ctx={ctx} prefix="setting" />
      </fieldset>
      <IssueList issues={settingsIssues} testid="settings-issues" />
      {!readOnly && (
        <div className="actions">
          <button className="primary" disabled={!dirty} onClick={applySettings} data-testid="settings-apply">
            Apply settings</button>
        </div>
      )}
    </div>
  );
}

// Every issue of the version shown.
export function IssuesPanel({ doc, onSelectStep }) {
  const steps = new Set((doc.definition.steps || []).map((s) => s.key));
  if (doc.issues.length === 0) return <div className="panel"><p data-testid="no-issues">No issues: this version can be published.</p></div>;
  return (
    <div className="panel" data-testid="issues-panel">
      <ul className="issues">
        {doc.issues.map((i, n) => (
          <li key={n} className={i.severity}>
            <b>{i.step_key === null ? 'journey' : i.step_key}</b>{' '}
            {steps.has(i.step_key) && <button className="link" onClick={() => onSelectStep(i.step_key)}>show</button>}
            <div>{i.message}</div>
          </li>
        ))}
      </ul>
    </div>
  );
}

// A customer's enrollments in this journey and the path each took.
export function CustomerPanel({ name, onPath }) {
  const [id, setId] = useState('');
  const [rows, setRows] = useState(null);
  const [error, setError] = useState('');
  const look = async (e) => {
    e.preventDefault();
    setError('');
    try {
      const r = await get('/api/journey/customer', { name, customer: id });
      setRows(r);
      onPath(r.length ? r[0] : null);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div className="panel" data-testid="customer-panel">
      <form className="inline" onSubmit={look}>
        <input placeholder="customer id" value={id} onChange={(e) => setId(e.target.value)} data-testid="customer-id" />
        <button type="submit" disabled={!id} data-testid="customer-lookup">Look up</button>
      </form>
      {error && <div className="error">{error}</div>}
      {rows && rows.length === 0 && <p className="muted">This customer has never been in this journey.</p>}
      {rows && rows.map((e) => (
        <div key={e.enrollment} className="enrollment" data-testid={`enrollment-${e.enrollment}`}>
          <div className="item-line">
            <b className="grow">Enrollment {e.enrollment} (v{e.version})</b>
            <button className="small" onClick={() => onPath(e)}>Show on canvas</button>
          </div>
          <div className="small">
            <span className={`state state-${e.status}`}>{e.status}</span>
            {e.status === 'active' && <> at <b>{e.step}</b>{e.waiting_for ? `, waiting for ${e.waiting_for}` : ''}
              {e.next_run_at ? `, next ${new Date(e.next_run_at).toLocaleString()}` : ''}</>}
            {e.exit_reason && <> · {e.exit_reason}</>}
            {e.converted_at && <> · converted</>}
            {e.last_error && <div className="error">{e.last_error}</div>}
          </div>
          <ol className="path" data-testid="customer-path">
            {e.path.map((p, i) => (
              <li key={i}><b>{p.step}</b> {p.branch ? `→ ${p.branch}` : ''} <span className="muted small">
                {new Date(p.at).toLocaleString()}</span></li>
            ))}
          </ol>
        </div>
      ))}
    </div>
  );
}

function diffValue(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// The members of two objects that differ, as [member, before, after].
function memberChanges(a, b) {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => [k, a[k], b[k]]);
}

// One row of a diff: a changed object shows only the members that changed.
function DiffRow({ d }) {
  const objects = d.change === 'changed' && d.old && d.new && typeof d.old === 'object' && typeof d.new === 'object'
    && !Array.isArray(d.old) && d.kind !== 'layout';
  return (
    <tr className={`change-${d.change}`}>
      <td>{d.kind}{d.key ? ` ${d.key}` : ''}</td><td>{d.change}</td>
      {objects ? (
        <td colSpan={2}>{memberChanges(d.old, d.new).map(([k, a, b]) => (
          <div key={k}><b>{k}</b>: <code>{diffValue(a) || '—'}</code> → <code>{diffValue(b) || '—'}</code></div>
        ))}</td>
      ) : (
        <><td><code>{diffValue(d.old)}</code></td><td><code>{diffValue(d.new)}</code></td></>
      )}
    </tr>
  );
}

// Versions, viewing an older one, and the diff between two.
export function HistoryPanel({ name, doc, onView }) {
  const versions = doc.versions || [];
  const [from, setFrom] = useState(versions.length > 1 ? versions[1].version : versions[0]?.version);
  const [to, setTo] = useState(versions[0]?.version);
  const [diff, setDiff] = useState(null);
  const [error, setError] = useState('');
  const compare = async () => {
    setError('');
    try {
      setDiff(await get('/api/journey/diff', { name, from, to }));
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div className="panel" data-testid="history-panel">
      <table className="grid small">
        <thead><tr><th>Version</th><th>Status</th><th>Published</th><th /></tr></thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version} className={v.version === doc.version ? 'current' : ''}>
              <td>v{v.version}</td><td>{v.status}</td>
              <td>{v.published_at ? `${new Date(v.published_at).toLocaleString()} by ${v.published_by}` : ''}</td>
              <td><button className="small" disabled={v.version === doc.version} data-testid={`view-v${v.version}`}
                onClick={() => onView(v.version)}>View</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {versions.length > 1 && (
        <div className="inline">
          Compare
          <select value={from} onChange={(e) => setFrom(Number(e.target.value))} data-testid="diff-from">
            {versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
          </select>
          with
          <select value={to} onChange={(e) => setTo(Number(e.target.value))} data-testid="diff-to">
            {versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
          </select>
          <button onClick={compare} data-testid="diff-run">Compare</button>
        </div>
      )}
      {error && <div className="error">{error}</div>}
      {diff && (diff.length === 0 ? <p className="muted" data-testid="diff-empty">No differences.</p> : (
        <table className="grid small diff" data-testid="diff-table">
          <thead><tr><th>What</th><th>Change</th><th>Before</th><th>After</th></tr></thead>
          <tbody>
            {diff.map((d, i) => <DiffRow key={i} d={d} />)}
          </tbody>
        </table>
      ))}
    </div>
  );
}

// Before publishing: what happens to the customers in flight, the draft's
// issues, and whether to move enrollments to the new version.
export function PublishDialog({ name, onClose, onPublished }) {
  const [preview, setPreview] = useState(null);
  const [migrate, setMigrate] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    get('/api/journey/preview', { name }).then(setPreview).catch((e) => setError(errorText(e)));
  }, [name]);
  const errors = preview ? preview.issues.filter((i) => i.severity === 'error') : [];
  const publish = async () => {
    setBusy(true);
    setError('');
    try {
      onPublished(await post('/api/journey/publish', { name, migrate }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const fate = (f) => (f === 'move' ? (migrate ? 'move to the new version' : 'stay on their version (tick "move" to move them)') : f);
  return (
    <div className="modal-back">
      <div className="modal" data-testid="publish-dialog">
        <h2>Publish “{name}”</h2>
        {!preview ? <p>Loading…</p> : <>
          <p>Draft v{preview.draft_version} becomes the live version
            {preview.live_version ? ` (v${preview.live_version} now)` : ''}; new customers enter it.</p>
          <h3>Customers in flight</h3>
          {preview.in_flight.length === 0 ? <p className="muted" data-testid="no-flight">Nobody is in this journey now.</p> : (
            <table className="grid small" data-testid="flight-table">
              <thead><tr><th>At step</th><th>Customers</th><th>What publishing does</th></tr></thead>
              <tbody>{preview.in_flight.map((r) => (
                <tr key={r.step_key}><td>{r.step_key}</td><td className="num">{r.enrolled}</td><td>{fate(r.fate)}</td></tr>
              ))}</tbody>
            </table>
          )}
          {preview.in_flight.length > 0 && (
            <label className="check"><input type="checkbox" checked={migrate} data-testid="publish-migrate"
              onChange={(e) => setMigrate(e.target.checked)} /> Move customers to the new version where their
              step still exists</label>
          )}
          {preview.issues.length > 0 && <><h3>Issues</h3><IssueList issues={preview.issues} /></>}
          {errors.length > 0 && <p className="error">Fix the errors first: publishing refuses them.</p>}
        </>}
        {error && <div className="error" data-testid="publish-error">{error}</div>}
        <div className="actions">
          <button className="primary" disabled={!preview || errors.length > 0 || busy} onClick={publish}
            data-testid="publish-confirm">Publish</button>
          <button onClick={onClose}>Cancel</button>
        </div>
      </div>
    </div>
  );
}

// A yes/no question in a dialog.
export function Confirm({ title, children, confirmText, danger, onConfirm, onClose, testid }) {
  return (
    <div className="modal-back">
      <div className="modal" data-testid={testid}>
        <h2>{title}</h2>
        {children}
        <div className="actions">
          <button className={danger ? 'danger' : 'primary'} onClick={onConfirm} data-testid={`${testid}-confirm`}>
            {confirmText}</button>
          <button onClick={onClose}>Cancel</button>
        </div>
      </div>
    </div>
  );
}
