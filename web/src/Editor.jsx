// The journey editor: a canvas (React Flow) with the journey's steps laid out,
// live counts on steps and connections, validation issues on the steps; a
// palette to drag new steps from; drag between outlets and steps to connect,
// drag an arrow's end away to disconnect, drag a step to the bin to remove it;
// a side panel for the selected step, the journey's triggers, rules and
// settings, its issues, a customer's path and the version history.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Background, Controls, MarkerType, MiniMap, ReactFlow, ReactFlowProvider, useEdgesState,
  useNodesState, useReactFlow,
} from '@xyflow/react';
import { ApiError, errorText, get, post } from './api.js';
import { go } from './nav.js';
import { EntryNode, StepNode } from './nodes.jsx';
import {
  ENTRY_ID, NODE_H, NODE_W, autoLayout, conditionText, freshKey, starterConfig, stepBranches,
  stepConfig, stepLinks, stepSpec, stepSummary,
} from './graph.js';
import {
  Confirm, CustomerPanel, EdgePanel, HistoryPanel, IssuesPanel, JourneyPanel, PublishDialog, StepPanel,
} from './panels.jsx';

const nodeTypes = { step: StepNode, entry: EntryNode };
const STEP_PREFIX = 's:';
const CATEGORIES = [['message', 'Messages'], ['timing', 'Timing'], ['logic', 'Logic'], ['data', 'Data'], ['end', 'End']];

function Palette({ catalog, onAdd }) {
  return (
    <aside className="palette" data-testid="palette">
      <div className="palette-title">Steps</div>
      <p className="help">Drag a step onto the canvas. Drag from a step's outlet to another step to
        connect them; drag a step onto the bin that appears to remove it.</p>
      {CATEGORIES.map(([cat, title]) => (
        <div key={cat}>
          <div className="palette-cat">{title}</div>
          {catalog.steps.filter((s) => s.category === cat).map((s) => (
            <div key={s.type} className={`palette-item cat-${cat}`} draggable data-testid={`palette-${s.type}`}
              title={s.help}
              onDragStart={(e) => {
                e.dataTransfer.setData('application/x-pgj-step', s.type);
                e.dataTransfer.effectAllowed = 'move';
              }}
              onDoubleClick={() => onAdd(s.type, null)}>
              {s.label}
            </div>
          ))}
        </div>
      ))}
    </aside>
  );
}

function EditorInner({ name, catalog, session }) {
  const [doc, setDoc] = useState(null);
  const [viewVersion, setViewVersion] = useState(null);
  const [stats, setStats] = useState(null);
  const [audience, setAudience] = useState(null);
  const [templates, setTemplates] = useState([]);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [selected, setSelected] = useState(null); // {kind: 'step'|'edge', key|edge}
  const [tab, setTab] = useState('journey');
  const [dialog, setDialog] = useState(null);
  const [path, setPath] = useState(null);
  const [overBin, setOverBin] = useState(false);
  const [dragging, setDragging] = useState(false);
  const binRef = useRef(null);
  const reconnected = useRef(false);
  const { screenToFlowPosition, fitView, setViewport } = useReactFlow();
  const [nodes, setNodes, onNodesChange] = useNodesState([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState([]);

  const load = useCallback(async (version = viewVersion) => {
    try {
      setDoc(await get('/api/journey', { name, version }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw e;
      setError(errorText(e));
    }
  }, [name, viewVersion]);

  useEffect(() => { load(); }, [load]);

  useEffect(() => {
    get('/api/templates').then(setTemplates).catch(() => {});
  }, []);

  useEffect(() => {
    if (!doc) return;
    get('/api/audiences').then((list) => setAudience(list.find((a) => a.relation === doc.journey.audience) || null))
      .catch(() => {});
  }, [doc?.journey.audience]); // eslint-disable-line react-hooks/exhaustive-deps

  // Live counts of the live version, every two seconds.
  const liveVersion = doc ? doc.journey.live_version : null;
  useEffect(() => {
    if (!liveVersion) {
      setStats(null);
      return undefined;
    }
    let stop = false;
    const tick = async () => {
      try {
        const s = await get('/api/journey/stats', { name });
        if (!stop) setStats(s);
      } catch {
        /* shown on the next successful refresh */
      }
    };
    tick();
    const t = setInterval(tick, 2000);
    return () => { stop = true; clearInterval(t); };
  }, [name, liveVersion]);

  useEffect(() => {
    if (!notice) return undefined;
    const t = setTimeout(() => setNotice(''), 5000);
    return () => clearTimeout(t);
  }, [notice]);

  const readOnly = !doc || !session.can_edit || doc.journey.state === 'archived' || viewVersion !== null;
  const def = doc ? doc.definition : null;

  // Runs an edit of the draft; the answer is the journey afterwards.
  const edit = useCallback(async (op, body) => {
    setError('');
    try {
      const r = await post(`/api/edit/${op}`, { name, ...body });
      setDoc(r.doc);
      return r;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw e;
      setError(errorText(e));
      return null;
    }
  }, [name]);

  const lifecycle = useCallback(async (op, body = {}) => {
    setError('');
    try {
      setDoc(await post(`/api/journey/${op}`, { name, ...body }));
      return true;
    } catch (e) {
      setError(errorText(e));
      return false;
    }
  }, [name]);

  // Positions: stored ones, else the automatic layout.
  const positions = useMemo(() => {
    if (!def) return {};
    const auto = autoLayout(def, catalog);
    const stored = def.layout || {};
    const pos = { ...auto, ...stored };
    const start = def.start && pos[def.start];
    if (start && (stored[def.start] || !auto[ENTRY_ID])) pos[ENTRY_ID] = { x: start.x, y: start.y - 130 };
    else if (!start) pos[ENTRY_ID] = { x: 0, y: -130 };
    return pos;
  }, [def, catalog]);

  const counts = useMemo(() => {
    const m = {};
    if (stats && stats.steps) for (const s of stats.steps) m[s.step] = s;
    return m;
  }, [stats]);

  // Nodes and edges from the definition, the counts, the issues and the path shown.
  useEffect(() => {
    if (!def) return;
    const issuesOf = (k) => doc.issues.filter((i) => i.step_key === k);
    const onPath = new Set(path ? path.path.map((p) => p.step) : []);
    const steps = def.steps || [];
    const n = [{
      id: ENTRY_ID, type: 'entry', position: positions[ENTRY_ID], draggable: false, deletable: false,
      selectable: false,
      data: {
        triggers: (def.entry || []).map((t) => {
          const { type, ...rest } = t;
          const cond = rest.when || rest.where;
          return `${type}${rest.event ? `: ${rest.event}` : ''}${cond ? ` (${conditionText(cond)})` : ''}${rest.schedule ? ` @ ${rest.schedule}` : ''}`;
        }),
        exits: (def.exit || []).map((r) => (r.type === 'event' ? r.event : conditionText(r.when))),
      },
    }];
    for (const s of steps) {
      const spec = stepSpec(catalog, s.type);
      n.push({
        id: STEP_PREFIX + s.key, type: 'step', position: positions[s.key] || { x: 0, y: 0 },
        deletable: !readOnly,
        selected: selected && selected.kind === 'step' && selected.key === s.key,
        data: {
          stepKey: s.key, label: spec ? spec.label : s.type, category: spec ? spec.category : 'data',
          summary: stepSummary(s), branches: stepBranches(spec, stepConfig(s)), issues: issuesOf(s.key),
          isStart: def.start === s.key, counts: counts[s.key] || (stats ? { entered: 0, now_at: 0 } : null),
          highlight: onPath.has(s.key),
        },
      });
    }
    const keys = new Set(steps.map((s) => s.key));
    const e = [];
    if (def.start && keys.has(def.start)) {
      e.push({ id: 'entry->start', source: ENTRY_ID, sourceHandle: 'start', target: STEP_PREFIX + def.start,
        targetHandle: 'in', className: 'entry-edge', deletable: false, reconnectable: !readOnly,
        markerEnd: { type: MarkerType.ArrowClosed } });
    }
    const pathEdges = new Set();
    if (path) for (let i = 0; i + 1 < path.path.length; i += 1) pathEdges.add(`${path.path[i].step}:${path.path[i].branch}`);
    for (const s of steps) {
      for (const l of stepLinks(s)) {
        if (!keys.has(l.to)) continue;
        const c = counts[s.key] && counts[s.key].branches ? counts[s.key].branches[l.branch] : undefined;
        const label = l.branch === 'next' ? (c !== undefined ? `${c}` : '') : `${l.branch}${c !== undefined ? ` · ${c}` : ''}`;
        e.push({
          id: `${s.key}:${l.branch}`, source: STEP_PREFIX + s.key, sourceHandle: l.branch,
          target: STEP_PREFIX + l.to, targetHandle: 'in', label, deletable: !readOnly, reconnectable: !readOnly,
          selected: selected && selected.kind === 'edge' && selected.edge.from === s.key && selected.edge.branch === l.branch,
          className: pathEdges.has(`${s.key}:${l.branch}`) ? 'on-path' : '',
          markerEnd: { type: MarkerType.ArrowClosed }, data: { from: s.key, branch: l.branch, to: l.to, count: c },
          labelBgPadding: [4, 2], labelBgBorderRadius: 3,
        });
      }
    }
    setNodes(n);
    setEdges(e);
  }, [def, doc, positions, counts, stats, path, readOnly, selected, catalog, setNodes, setEdges]);

  // Fit the view once the first time the journey shows.
  // An empty journey shows its entry box at the top, with room below.
  const fitted = useRef(false);
  const canvasRef = useRef(null);
  useEffect(() => {
    if (doc && !fitted.current && nodes.length) {
      fitted.current = true;
      if ((doc.definition.steps || []).length === 0) {
        const w = canvasRef.current ? canvasRef.current.clientWidth : 800;
        setViewport({ x: w / 2 - NODE_W / 2, y: 160, zoom: 1 });
      } else {
        setTimeout(() => fitView({ padding: 0.2, maxZoom: 1 }), 50);
      }
    }
  }, [doc, nodes.length, fitView, setViewport]);

  const addStep = useCallback(async (type, at) => {
    if (!def) return;
    const spec = stepSpec(catalog, type);
    const key = freshKey(def, type);
    let p = at;
    if (!p) {
      const ys = Object.values(positions).map((q) => q.y);
      p = { x: 0, y: (ys.length ? Math.max(...ys) : 0) + NODE_H + 60 };
    }
    const layout = { x: Math.round(p.x), y: Math.round(p.y) };
    // The first stored position freezes the automatic layout of the others.
    if (!def.layout && (def.steps || []).length) {
      const all = {};
      for (const s of def.steps) all[s.key] = positions[s.key];
      await edit('layout', { layout: all });
    }
    const r = await edit('add_step', { key, type, config: starterConfig(spec), layout });
    if (r) {
      setSelected({ kind: 'step', key });
      setTab('step');
    }
  }, [def, catalog, positions, edit]);

  const onDrop = useCallback((e) => {
    e.preventDefault();
    const type = e.dataTransfer.getData('application/x-pgj-step');
    if (!type || readOnly) return;
    const p = screenToFlowPosition({ x: e.clientX, y: e.clientY });
    addStep(type, { x: p.x - NODE_W / 2, y: p.y - 20 });
  }, [screenToFlowPosition, addStep, readOnly]);

  const inBin = (e) => {
    const r = binRef.current && binRef.current.getBoundingClientRect();
    const x = e.clientX ?? (e.touches && e.touches[0]?.clientX);
    const y = e.clientY ?? (e.touches && e.touches[0]?.clientY);
    return r && x >= r.left && x <= r.right && y >= r.top && y <= r.bottom;
  };

  const onNodeDragStop = useCallback(async (e, node, dragged) => {
    setOverBin(false);
    if (readOnly) return;
    const moved = (dragged && dragged.length ? dragged : [node]).filter((x) => x.id.startsWith(STEP_PREFIX));
    if (inBin(e)) {
      for (const m of moved) await edit('remove_step', { key: m.id.slice(STEP_PREFIX.length) });
      setSelected(null);
      return;
    }
    const layout = {};
    if (!def.layout) for (const s of def.steps || []) layout[s.key] = positions[s.key];
    for (const m of moved) layout[m.id.slice(STEP_PREFIX.length)] = { x: Math.round(m.position.x), y: Math.round(m.position.y) };
    await edit('layout', { layout });
  }, [readOnly, def, positions, edit]);

  const onConnect = useCallback((c) => {
    if (readOnly || !c.target.startsWith(STEP_PREFIX)) return;
    const to = c.target.slice(STEP_PREFIX.length);
    if (c.source === ENTRY_ID) edit('set_start', { key: to });
    else edit('connect', { from: c.source.slice(STEP_PREFIX.length), to, branch: c.sourceHandle });
  }, [readOnly, edit]);

  const onReconnect = useCallback((old, c) => {
    reconnected.current = true;
    if (!c.target.startsWith(STEP_PREFIX)) return;
    const to = c.target.slice(STEP_PREFIX.length);
    if (old.source === ENTRY_ID) {
      edit('set_start', { key: to });
      return;
    }
    const body = { from: old.data.from, branch: old.data.branch, new_to: to };
    if (c.source !== old.source || c.sourceHandle !== old.sourceHandle) {
      if (c.source === ENTRY_ID) return;
      body.new_from = c.source.slice(STEP_PREFIX.length);
      body.new_branch = c.sourceHandle;
    }
    edit('move_connection', body);
  }, [edit]);

  const onReconnectStart = useCallback(() => { reconnected.current = false; }, []);
  const onReconnectEnd = useCallback((_, old) => {
    // Dropped on empty canvas: disconnect.
    if (!reconnected.current && old.data) edit('disconnect', { from: old.data.from, branch: old.data.branch });
    reconnected.current = false;
  }, [edit]);

  const onNodesDelete = useCallback(async (deleted) => {
    for (const d of deleted) if (d.id.startsWith(STEP_PREFIX)) await edit('remove_step', { key: d.id.slice(STEP_PREFIX.length) });
    setSelected(null);
  }, [edit]);

  const onEdgesDelete = useCallback(async (deleted) => {
    for (const d of deleted) if (d.data) await edit('disconnect', { from: d.data.from, branch: d.data.branch });
    setSelected(null);
  }, [edit]);

  if (!doc) {
    return <main className="editor-loading">{error ? <div className="error">{error}</div> : 'Loading…'}</main>;
  }
  const j = doc.journey;
  const draft = j.draft_version;
  const ctx = { catalog, columns: audience ? audience.columns : [], keyColumn: audience?.key_column, templates };
  const selStep = selected && selected.kind === 'step' ? (def.steps || []).find((s) => s.key === selected.key) : null;
  const errors = doc.issues.filter((i) => i.severity === 'error').length;
  const warnings = doc.issues.length - errors;
  const versionNote = viewVersion !== null
    ? `viewing v${doc.version} (${doc.status}, read only)`
    : draft ? `editing draft v${draft}${j.live_version ? ` · live v${j.live_version}` : ''}`
      : j.live_version ? `live v${j.live_version} · edits start draft v${doc.version + 1}` : `v${doc.version}`;

  return (
    <main className="editor">
      <div className="toolbar">
        <button onClick={() => go({ page: 'list' })} title="All journeys">←</button>
        <h2 data-testid="journey-name">{j.name}</h2>
        <span className={`state state-${j.state}`} data-testid="journey-state">{j.state}</span>
        <span className="muted small" data-testid="version-note">{versionNote}</span>
        {stats && stats.totals && (
          <span className="totals small" data-testid="totals">
            {stats.totals.active} active · {stats.totals.enrolled} enrolled · {stats.totals.converted} converted</span>
        )}
        <span className="spacer" />
        {viewVersion !== null && <button onClick={() => setViewVersion(null)} data-testid="back-to-latest">Back to latest</button>}
        {!readOnly && (
          <>
            <button onClick={() => edit('layout', { layout: Object.fromEntries((def.steps || []).map((s) => [s.key, null])) })}
              title="Lay the steps out automatically">Auto layout</button>
            {draft && j.live_version && <button onClick={() => setDialog('discard')} data-testid="discard">Discard draft</button>}
            {draft && <button className="primary" onClick={() => setDialog('publish')} data-testid="publish">
              Publish{errors ? ` (${errors} error${errors > 1 ? 's' : ''})` : ''}</button>}
          </>
        )}
        {session.can_edit && j.state === 'published' && <button onClick={() => lifecycle('pause')} data-testid="pause">Pause</button>}
        {session.can_edit && j.state === 'paused' && <button onClick={() => lifecycle('resume')} data-testid="resume">Resume</button>}
        {session.can_edit && j.state !== 'archived' && (
          <button className="danger" onClick={() => setDialog('archive')} data-testid="archive">Archive</button>
        )}
        <a className="button" href={`/api/journey/export?name=${encodeURIComponent(name)}${viewVersion ? `&version=${viewVersion}` : ''}`}
          data-testid="export" download>Export JSON</a>
      </div>
      <div className="editor-body">
        <div className="banners">
          {error && <div className="error banner" data-testid="editor-error" title="click to close"
            onClick={() => setError('')}>{error}</div>}
          {notice && <div className="notice banner" data-testid="editor-notice" onClick={() => setNotice('')}>{notice}</div>}
        </div>
        {!readOnly && <Palette catalog={catalog} onAdd={addStep} />}
        <div className="canvas" data-testid="canvas" ref={canvasRef} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; }}
          onDrop={onDrop}>
          <ReactFlow
            nodes={nodes} edges={edges} nodeTypes={nodeTypes}
            onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
            onConnect={onConnect} onReconnect={onReconnect} onReconnectStart={onReconnectStart}
            onReconnectEnd={onReconnectEnd}
            onNodesDelete={onNodesDelete} onEdgesDelete={onEdgesDelete}
            onNodeDragStart={(_, n) => setDragging(n.id.startsWith(STEP_PREFIX))}
            onNodeDrag={(e) => setOverBin(inBin(e))}
            onNodeDragStop={(e, n, ns) => { setDragging(false); onNodeDragStop(e, n, ns); }}
            onNodeClick={(_, n) => {
              if (n.id.startsWith(STEP_PREFIX)) {
                setSelected({ kind: 'step', key: n.id.slice(STEP_PREFIX.length) });
                setTab('step');
              }
            }}
            onEdgeClick={(_, ed) => {
              if (ed.data) {
                setSelected({ kind: 'edge', edge: ed.data });
                setTab('step');
              }
            }}
            onPaneClick={() => { setSelected(null); setTab((t) => (t === 'step' ? 'journey' : t)); }}
            nodesDraggable={!readOnly} nodesConnectable={!readOnly} edgesReconnectable={!readOnly}
            deleteKeyCode={readOnly ? null : ['Delete', 'Backspace']}
            minZoom={0.2} maxZoom={1.5} proOptions={{ hideAttribution: true }}
            fitViewOptions={{ padding: 0.15, maxZoom: 1 }}
          >
            <Background gap={20} size={1} />
            <MiniMap pannable zoomable nodeStrokeWidth={3} position="top-right" style={{ width: 150, height: 100 }} />
            <Controls showInteractive={false} fitViewOptions={{ padding: 0.15, maxZoom: 1 }} />
          </ReactFlow>
          {!readOnly && dragging && (
            <div ref={binRef} className={`bin${overBin ? ' over' : ''}`} data-testid="bin">
              ✕ Drop the step here to remove it</div>
          )}
          {(def.steps || []).length === 0 && !readOnly && (
            <div className="empty-hint">Drag a step from the palette on the left to start.</div>
          )}
        </div>
        <aside className="inspector">
          <div className="tabs">
            {[['step', selected ? (selected.kind === 'edge' ? 'Connection' : 'Step') : 'Step'], ['journey', 'Journey'],
              ['issues', `Issues${doc.issues.length ? ` (${errors}/${warnings})` : ''}`], ['customer', 'Customer'],
              ['history', 'History']].map(([id, title]) => (
              <button key={id} className={tab === id ? 'active' : ''} onClick={() => setTab(id)} data-testid={`tab-${id}`}>
                {title}</button>
            ))}
          </div>
          {tab === 'step' && !selected && <div className="panel"><p className="muted">Click a step or a connection.</p></div>}
          {tab === 'step' && selStep && (
            <StepPanel key={selStep.key} step={selStep} doc={doc} ctx={ctx} readOnly={readOnly} edit={edit}
              onRemoved={() => setSelected(null)} onRenamed={(k) => setSelected({ kind: 'step', key: k })} />
          )}
          {tab === 'step' && selected && selected.kind === 'edge' && (
            <EdgePanel edge={selected.edge} readOnly={readOnly} edit={edit} onRemoved={() => setSelected(null)}
              counts={counts[selected.edge.from]?.branches?.[selected.edge.branch]} />
          )}
          {tab === 'journey' && <JourneyPanel doc={doc} ctx={ctx} readOnly={readOnly} edit={edit} />}
          {tab === 'issues' && <IssuesPanel doc={doc} onSelectStep={(k) => { setSelected({ kind: 'step', key: k }); setTab('step'); }} />}
          {tab === 'customer' && <CustomerPanel name={name} onPath={setPath} />}
          {tab === 'history' && <HistoryPanel key={(doc.versions || []).length} name={name} doc={doc} onView={(v) => {
            const latest = doc.versions[0].version;
            setViewVersion(v === latest ? null : v);
          }} />}
        </aside>
      </div>
      {dialog === 'publish' && (
        <PublishDialog name={name} onClose={() => setDialog(null)} onPublished={(d) => {
          setDoc(d);
          setDialog(null);
          setNotice(`Published version ${d.journey.live_version}.`);
        }} />
      )}
      {dialog === 'archive' && (
        <Confirm title={`Archive “${name}”?`} confirmText="Archive" danger testid="archive-dialog"
          onClose={() => setDialog(null)}
          onConfirm={async () => { setDialog(null); await lifecycle('archive'); }}>
          <p>Archiving is final: {stats && stats.totals ? stats.totals.active : 'all'} active enrollment(s) end
            (exit reason “archived”), nobody enters any more, and the journey leaves the list (see it
            with “Show archived”).</p>
        </Confirm>
      )}
      {dialog === 'discard' && (
        <Confirm title="Discard the draft?" confirmText="Discard" danger testid="discard-dialog"
          onClose={() => setDialog(null)}
          onConfirm={async () => { setDialog(null); await edit('discard_draft', {}); }}>
          <p>The changes since v{j.live_version} are thrown away; the live version stays as it is.</p>
        </Confirm>
      )}
    </main>
  );
}

export function Editor(props) {
  return <ReactFlowProvider><EditorInner {...props} /></ReactFlowProvider>;
}
