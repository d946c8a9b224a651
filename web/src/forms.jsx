// Forms generated from the catalog (journey.catalog()): one input per field,
// chosen by the field's kind, with its label, help, allowed values and
// default; exactly-one-of groups as a choice; nested objects and lists; a
// condition editor. Nothing here knows a step type by name.
import { useMemo, useState } from 'react';

// Whether a value counts as "not given" (the member is then left out).
function empty(v) {
  return v === undefined || v === null || v === '' ||
    (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) ||
    (Array.isArray(v) && v.length === 0);
}

// Sets or removes member `name` of an object, returning a new object.
function withMember(obj, name, value) {
  const out = { ...(obj || {}) };
  if (empty(value)) delete out[name];
  else out[name] = value;
  return out;
}

// A value typed into a text box, as JSON of the column's category.
export function typedValue(text, category) {
  const t = String(text);
  if (category === 'int' || category === 'float') {
    const n = Number(t);
    return t.trim() !== '' && !Number.isNaN(n) ? n : t;
  }
  if (category === 'bool') {
    if (t === 'true') return true;
    if (t === 'false') return false;
    return t;
  }
  if (category === 'text' || category === 'timestamp' || category === 'date') return t;
  // Unknown (event or context property): numbers and booleans as such.
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t.trim() !== '' && !Number.isNaN(Number(t))) return Number(t);
  return t;
}

function valueText(v) {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(valueText).join(', ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function Help({ field }) {
  return field.help ? <div className="help">{field.help}</div> : null;
}

// A JSON text area that only reports parsable values.
function JsonInput({ value, onChange, testid, rows = 4 }) {
  const [text, setText] = useState(value === undefined ? '' : JSON.stringify(value, null, 2));
  const [bad, setBad] = useState('');
  return (
    <>
      <textarea data-testid={testid} rows={rows} value={text} spellCheck={false}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim() === '') {
            setBad('');
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(e.target.value));
            setBad('');
          } catch {
            setBad('not valid JSON yet');
          }
        }} />
      {bad && <div className="hint-bad">{bad}</div>}
    </>
  );
}

// The condition editor: all/any of rows "field op value"; anything else (not,
// nested groups, behaviour conditions) is edited as JSON.
export function ConditionEditor({ field, value, onChange, ctx, testid }) {
  const scope = field.scope || {};
  const isSimpleLeaf = (c) => c && typeof c === 'object' && typeof c.field === 'string';
  const simple = value === undefined || isSimpleLeaf(value) ||
    ((Array.isArray(value?.all) || Array.isArray(value?.any)) &&
      Object.keys(value).length === 1 && (value.all || value.any).every(isSimpleLeaf));
  const [asJson, setAsJson] = useState(!simple);
  const [mode, setMode] = useState(value && Array.isArray(value.any) ? 'any' : 'all');
  // Rows being edited, incomplete ones included (they are not sent).
  const [rows, setRows] = useState(value === undefined ? [] : isSimpleLeaf(value) ? [value] : (value.all || value.any || []));
  const ops = ctx.catalog.condition_ops.filter((o) => scope.trigger_ops || !o.trigger_only);
  const columns = ctx.columns || [];
  const category = (f) => (columns.find((c) => c.name === f) || {}).category;

  const emit = (newRows, newMode = mode) => {
    setRows(newRows);
    setMode(newMode);
    const clean = newRows.filter((r) => r.field);
    if (clean.length === 0) onChange(undefined);
    else if (clean.length === 1) onChange(clean[0]);
    else onChange({ [newMode]: clean });
  };
  const setRow = (i, r) => emit(rows.map((x, j) => (j === i ? r : x)));
  const fieldOptions = [
    ...(scope.columns ? columns.map((c) => c.name) : []),
    ...(scope.event ? ['event.'] : []),
    ...(scope.context ? ['context.'] : []),
  ];
  const listId = `${testid}-fields`;

  if (asJson) {
    return (
      <div className="condition" data-testid={testid}>
        <JsonInput value={value} onChange={onChange} testid={`${testid}-json`} />
      </div>
    );
  }
  return (
    <div className="condition" data-testid={testid}>
      {rows.length > 1 && (
        <div className="cond-mode">Match
          <select value={mode} data-testid={`${testid}-mode`} onChange={(e) => emit(rows, e.target.value)}>
            <option value="all">all</option><option value="any">any</option>
          </select> of these:</div>
      )}
      <datalist id={listId}>{fieldOptions.map((f) => <option key={f} value={f} />)}</datalist>
      {rows.map((r, i) => {
        const op = ops.find((o) => o.op === r.op) || ops[0];
        return (
          <div className="cond-row" key={i} data-testid={`${testid}-row-${i}`}>
            <input list={listId} placeholder="field" value={r.field} data-testid={`${testid}-field-${i}`}
              onChange={(e) => setRow(i, { ...r, field: e.target.value })} />
            <select value={r.op} data-testid={`${testid}-op-${i}`} onChange={(e) => {
              const next = ops.find((o) => o.op === e.target.value);
              const row = { field: r.field, op: e.target.value };
              if (next && next.value !== 'none' && r.value !== undefined) row.value = r.value;
              setRow(i, row);
            }}>
              {ops.map((o) => <option key={o.op} value={o.op}>{o.label}</option>)}
            </select>
            {op && op.value !== 'none' && (
              <input placeholder={op.value === 'list' ? 'a, b, c' : op.value === 'duration' ? '7 days' : 'value'}
                value={valueText(r.value)} data-testid={`${testid}-value-${i}`}
                onChange={(e) => {
                  const t = e.target.value;
                  const v = op.value === 'list'
                    ? t.split(',').map((x) => x.trim()).filter((x) => x !== '').map((x) => typedValue(x, category(r.field)))
                    : op.value === 'duration' ? t : typedValue(t, category(r.field));
                  setRow(i, { ...r, value: v });
                }} />
            )}
            <button type="button" className="icon" title="Remove this condition"
              onClick={() => emit(rows.filter((_, j) => j !== i))}>×</button>
          </div>
        );
      })}
      <div className="row-actions">
        <button type="button" className="small" data-testid={`${testid}-add`}
          onClick={() => setRows([...rows, { field: '', op: 'eq', value: '' }])}>+ condition</button>
        <button type="button" className="link" onClick={() => setAsJson(true)}>Edit as JSON</button>
      </div>
    </div>
  );
}

// One field of a form, by its kind.
export function FieldInput({ field, value, onChange, ctx, testid, parent }) {
  const id = testid || `field-${field.name}`;
  const columns = ctx.columns || [];
  switch (field.kind) {
    case 'boolean':
      return (
        <label className="check"><input type="checkbox" data-testid={id} checked={value === true}
          onChange={(e) => onChange(e.target.checked ? true : field.default === false ? undefined : false)} />
          {field.label}</label>
      );
    case 'enum':
      return (
        <select data-testid={id} value={value ?? ''} onChange={(e) => onChange(e.target.value || undefined)}>
          <option value="">{field.default !== undefined ? `(default: ${field.default})` : '—'}</option>
          {field.allowed.map((a) => <option key={a} value={a}>{a}</option>)}
        </select>
      );
    case 'integer':
    case 'number':
      return (
        <input type="number" data-testid={id} value={value ?? ''} placeholder={field.placeholder ?? (field.default !== undefined ? String(field.default) : '')}
          step={field.kind === 'integer' ? 1 : 'any'}
          min={field.minimum ?? undefined} max={field.maximum ?? undefined}
          onChange={(e) => onChange(e.target.value === '' ? undefined : Number(e.target.value))} />
      );
    case 'text':
    case 'sql':
      return <textarea data-testid={id} rows={3} value={value ?? ''} placeholder={field.placeholder}
        onChange={(e) => onChange(e.target.value || undefined)} />;
    case 'template': {
      const channel = field.channel || (field.channel_field && parent ? parent[field.channel_field] : null);
      const templates = (ctx.templates || []).filter((t) => !channel || t.channel === channel);
      return (
        <select data-testid={id} value={value ?? ''} onChange={(e) => onChange(e.target.value || undefined)}>
          <option value="">— choose a template —</option>
          {value && !templates.some((t) => t.name === value) && <option value={value}>{value} (not found)</option>}
          {templates.map((t) => <option key={t.name} value={t.name}>{t.name}{t.subject ? ` — ${t.subject}` : ''}</option>)}
        </select>
      );
    }
    case 'column': {
      const fits = columns.filter((c) => !field.column_types || field.column_types.includes(c.category));
      return (
        <select data-testid={id} value={value ?? ''} onChange={(e) => onChange(e.target.value || undefined)}>
          <option value="">— choose a column —</option>
          {value && !fits.some((c) => c.name === value) && <option value={value}>{value} (not found)</option>}
          {fits.map((c) => <option key={c.name} value={c.name}>{c.name} ({c.type})</option>)}
        </select>
      );
    }
    case 'condition':
      return <ConditionEditor field={field} value={value} onChange={onChange} ctx={ctx} testid={id} />;
    case 'json':
      return <JsonInput value={value} onChange={onChange} testid={id} />;
    case 'object':
      return (
        <div className="nested" data-testid={id}>
          {field.fields.map((sub) => (
            <Field key={sub.name} field={sub} value={value ? value[sub.name] : undefined} ctx={ctx}
              testid={`${id}-${sub.name}`} parent={value}
              onChange={(v) => onChange(withMember(value, sub.name, v))} />
          ))}
        </div>
      );
    case 'list': {
      const items = Array.isArray(value) ? value : [];
      if (!field.fields) {
        // A list of allowed values: one check box each.
        return (
          <div className="checks" data-testid={id}>
            {field.allowed.map((a) => (
              <label key={a} className="check"><input type="checkbox" checked={items.includes(a)}
                data-testid={`${id}-${a}`}
                onChange={(e) => onChange(e.target.checked ? field.allowed.filter((x) => x === a || items.includes(x))
                  : items.filter((x) => x !== a))} />{a}</label>
            ))}
          </div>
        );
      }
      return (
        <div className="list" data-testid={id}>
          {items.map((item, i) => (
            <div className="list-item" key={i}>
              {field.fields.map((sub) => (
                <Field key={sub.name} field={sub} value={item ? item[sub.name] : undefined} ctx={ctx}
                  testid={`${id}-${i}-${sub.name}`} parent={item}
                  onChange={(v) => onChange(items.map((x, j) => (j === i ? withMember(x, sub.name, v) : x)))} />
              ))}
              <button type="button" className="small" onClick={() => onChange(items.filter((_, j) => j !== i))}>
                Remove</button>
            </div>
          ))}
          <button type="button" className="small" data-testid={`${id}-add`}
            onClick={() => onChange([...items, Object.fromEntries(field.fields.filter((f) => f.default !== undefined).map((f) => [f.name, f.default]))])}>
            + add</button>
        </div>
      );
    }
    case 'assignments': {
      const entries = Object.entries(value || {});
      const settable = columns.filter((c) => c.name !== ctx.keyColumn);
      return (
        <div className="list" data-testid={id}>
          {entries.map(([col, v], i) => {
            const cat = (columns.find((c) => c.name === col) || {}).category;
            const isNow = v && typeof v === 'object' && v.now === true;
            const rename = (newCol) => onChange(Object.fromEntries(entries.map(([c, x]) => (c === col ? [newCol, x] : [c, x]))));
            return (
              <div className="cond-row" key={i}>
                <select value={col} onChange={(e) => rename(e.target.value)}>
                  {settable.map((c) => <option key={c.name} value={c.name}>{c.name}</option>)}
                </select>
                <span>=</span>
                {isNow ? <em>now</em> : (
                  <input value={valueText(v)} placeholder="value"
                    onChange={(e) => onChange({ ...value, [col]: typedValue(e.target.value, cat) })} />
                )}
                {(cat === 'timestamp' || cat === 'date') && (
                  <label className="check"><input type="checkbox" checked={isNow}
                    onChange={(e) => onChange({ ...value, [col]: e.target.checked ? { now: true } : '' })} />now</label>
                )}
                <button type="button" className="icon" onClick={() => {
                  const out = { ...value };
                  delete out[col];
                  onChange(out);
                }}>×</button>
              </div>
            );
          })}
          <button type="button" className="small" disabled={settable.length === 0}
            onClick={() => {
              const free = settable.find((c) => !(value || {})[c.name]);
              if (free) onChange({ ...(value || {}), [free.name]: '' });
            }}>+ column</button>
        </div>
      );
    }
    default: {
      // string, event, function, duration, time, timezone, cron: a text box
      // (with the field's suggestions and allowed extra words).
      const hints = [...(field.suggestions || []), ...(field.allowed || [])];
      const listId = hints.length ? `${id}-hints` : undefined;
      return (
        <>
          <input data-testid={id} value={value ?? ''} list={listId}
            placeholder={field.placeholder ?? (field.default !== undefined ? String(field.default) : '')}
            onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)} />
          {listId && <datalist id={listId}>{hints.map((h) => <option key={h} value={h} />)}</datalist>}
        </>
      );
    }
  }
}

// A labelled field.
export function Field({ field, value, onChange, ctx, testid, parent }) {
  return (
    <div className={`field kind-${field.kind}`}>
      {field.kind !== 'boolean' && (
        <label className="field-label">{field.label}{field.required && <span className="req"> *</span>}</label>
      )}
      <FieldInput field={field} value={value} onChange={onChange} ctx={ctx} testid={testid} parent={parent} />
      <Help field={field} />
    </div>
  );
}

// The whole form of a type (step, entry trigger, exit rule) or of the
// settings: its fields, with each exactly-one-of group as a choice of which
// member to fill.
export function ConfigForm({ fields, groups = [], value, onChange, ctx, prefix = 'field' }) {
  const inGroup = useMemo(() => {
    const m = {};
    groups.forEach((g, gi) => g.forEach((n) => { m[n] = gi; }));
    return m;
  }, [groups]);
  const [chosen, setChosen] = useState(() => groups.map((g) => g.find((n) => value && value[n] !== undefined) || g[0]));
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
  const shown = fields.filter((f) => {
    if (inGroup[f.name] !== undefined && chosen[inGroup[f.name]] !== f.name) return false;
    if (f.requires && !f.requires.every((r) => (inGroup[r] !== undefined ? chosen[inGroup[r]] === r : true))) return false;
    return true;
  });
  const renderedGroups = new Set();
  return (
    <div className="form">
      {shown.map((f) => {
        const gi = inGroup[f.name];
        const choice = gi !== undefined && !renderedGroups.has(gi) ? (renderedGroups.add(gi), (
          <div className="choice" key={`g${gi}`} data-testid={`${prefix}-choice-${gi}`}>
            {groups[gi].map((n) => (
              <label key={n} className="check"><input type="radio" name={`${prefix}-g${gi}`} checked={chosen[gi] === n}
                data-testid={`${prefix}-choose-${n}`}
                onChange={() => {
                  setChosen(chosen.map((c, j) => (j === gi ? n : c)));
                  // Only the chosen member stays (with its default when it has one).
                  let next = { ...(value || {}) };
                  for (const other of groups[gi]) delete next[other];
                  for (const dep of fields) if (dep.requires && dep.requires.some((r) => groups[gi].includes(r))) delete next[dep.name];
                  if (byName[n].default !== undefined) next[n] = byName[n].default;
                  onChange(next);
                }} />{byName[n].label}</label>
            ))}
          </div>
        )) : null;
        return [choice, (
          <Field key={f.name} field={f} value={value ? value[f.name] : undefined} ctx={ctx}
            testid={`${prefix}-${f.name}`} parent={value}
            onChange={(v) => onChange(withMember(value, f.name, v))} />
        )];
      })}
    </div>
  );
}
