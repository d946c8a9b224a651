// The journey definition as a graph for the canvas: branches a step leaves by
// (from the catalog), its connections, a one-line summary of its config, and
// an automatic layout (dagre) for steps without a stored position.
import * as dagre from '@dagrejs/dagre';

export const NODE_W = 240;
export const NODE_H = 108;
export const ENTRY_ID = 'entry';

// The catalog entry of a step type.
export function stepSpec(catalog, type) {
  return catalog.steps.find((s) => s.type === type);
}

// The branch names a step may leave by (what the validator accepts).
export function stepBranches(spec, config) {
  const b = spec && spec.branches;
  if (!b || b.none) return [];
  if (b.fixed) return b.fixed;
  const list = Array.isArray(config[b.from_field]) ? config[b.from_field] : [];
  const names = [];
  for (const item of list) {
    const n = item && item[b.name_member];
    if (typeof n === 'string' && n && !names.includes(n)) names.push(n);
  }
  for (const e of b.extra || []) if (!names.includes(e)) names.push(e);
  return names;
}

// The connections leaving a step of the definition: [{branch, to}].
export function stepLinks(step) {
  const out = [];
  if (typeof step.next === 'string') out.push({ branch: 'next', to: step.next });
  if (step.branches && typeof step.branches === 'object') {
    for (const [branch, to] of Object.entries(step.branches)) if (typeof to === 'string') out.push({ branch, to });
  }
  return out;
}

// A step's config (its members but key, type and connections).
export function stepConfig(step) {
  const { key, type, next, branches, ...config } = step;
  return config;
}

// A condition in words ("plan = pro and vip is set").
export function conditionText(c, depth = 0) {
  if (!c || typeof c !== 'object') return '';
  if (Array.isArray(c.all)) return c.all.map((x) => conditionText(x, depth + 1)).join(' and ') || 'always';
  if (Array.isArray(c.any)) {
    const t = c.any.map((x) => conditionText(x, depth + 1)).join(' or ');
    return depth ? `(${t})` : t;
  }
  if (c.not) return `not ${conditionText(c.not, depth + 1)}`;
  if (c.event && !c.field) {
    return `${c.happened === false ? 'did not do' : 'did'} ${c.event}${c.step ? ` after ${c.step}` : ''}${c.within ? ` within ${c.within}` : ''}`;
  }
  const ops = { eq: '=', ne: '≠', lt: '<', lte: '≤', gt: '>', gte: '≥', in: 'in', not_in: 'not in',
    contains: 'contains', starts_with: 'starts with', exists: 'is set', not_exists: 'is not set',
    changed: 'changed', changed_to: 'changed to', within: 'within' };
  const v = c.value === undefined ? '' : ` ${Array.isArray(c.value) ? c.value.join(', ') : String(c.value)}`;
  return `${c.field} ${ops[c.op] || c.op}${v}`;
}

// One line about a step's config for its box on the canvas.
export function stepSummary(step) {
  const c = stepConfig(step);
  switch (step.type) {
    case 'send_email': return c.template ? `template ${c.template}` : 'no template yet';
    case 'send': return `${c.channel || '?'}: ${c.template ? `template ${c.template}` : c.payload ? 'payload' : '?'}`;
    case 'delay':
      if (c.duration) return `wait ${c.duration}`;
      if (c.until) return `until ${c.until.time || '?'}${Array.isArray(c.until.days) ? ` on ${c.until.days.join(', ')}` : ''}`;
      if (c.until_field) return `until ${c.until_field}${c.offset ? ` ${c.offset}` : ''}`;
      return 'no duration yet';
    case 'wait_for_event': return `${c.event || '?'}${c.timeout ? ` · timeout ${c.timeout}` : ''}`;
    case 'wait_until': return `${conditionText(c.when) || '?'}${c.timeout ? ` · timeout ${c.timeout}` : ''}`;
    case 'condition': return conditionText(c.if) || 'no condition yet';
    case 'branch': return `${Array.isArray(c.cases) ? c.cases.length : 0} case(s) + else`;
    case 'split': return Array.isArray(c.variants) ? c.variants.map((v) => `${v.name} ${v.weight}`).join(' / ') : '?';
    case 'update_field': return c.set ? `set ${Object.keys(c.set).join(', ')}` : 'nothing to set yet';
    case 'call': return c.function || 'no function yet';
    case 'goal': return 'counts as a conversion';
    case 'exit': return 'ends the journey';
    default: return '';
  }
}

// Positions for every step (and the entry box) by dagre, top to bottom.
export function autoLayout(def, catalog) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 50, ranksep: 70, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const steps = def.steps || [];
  g.setNode(ENTRY_ID, { width: NODE_W, height: 70 });
  for (const s of steps) g.setNode(s.key, { width: NODE_W, height: NODE_H });
  const keys = new Set(steps.map((s) => s.key));
  if (def.start && keys.has(def.start)) g.setEdge(ENTRY_ID, def.start);
  for (const s of steps) {
    const spec = stepSpec(catalog, s.type);
    const order = stepBranches(spec, stepConfig(s));
    const links = stepLinks(s).sort((a, b) => order.indexOf(a.branch) - order.indexOf(b.branch));
    for (const l of links) if (keys.has(l.to) && l.to !== s.key) g.setEdge(s.key, l.to);
  }
  dagre.layout(g);
  // dagre places siblings by its own ordering; put the targets of a step's
  // branches in the order of its outlets (left to right) when they share a
  // rank and have no other way in, so arrows do not cross.
  for (const s of steps) {
    const spec = stepSpec(catalog, s.type);
    const order = stepBranches(spec, stepConfig(s));
    const kids = stepLinks(s).filter((l) => keys.has(l.to) && l.to !== s.key)
      .sort((a, b) => order.indexOf(a.branch) - order.indexOf(b.branch)).map((l) => l.to);
    const unique = [...new Set(kids)];
    if (unique.length < 2) continue;
    const nodes = unique.map((k) => g.node(k));
    if (!nodes.every((n) => n.y === nodes[0].y) || !unique.every((k) => (g.predecessors(k) || []).length === 1)) continue;
    const xs = nodes.map((n) => n.x).sort((a, b) => a - b);
    nodes.forEach((n, i) => { n.x = xs[i]; });
  }
  const pos = {};
  for (const id of g.nodes()) {
    const n = g.node(id);
    pos[id] = { x: Math.round(n.x - n.width / 2), y: Math.round(n.y - n.height / 2) };
  }
  return pos;
}

// A step key not used yet: "<type>_<n>".
export function freshKey(def, type) {
  const used = new Set((def.steps || []).map((s) => s.key));
  for (let n = 1; ; n += 1) {
    const k = `${type}_${n}`;
    if (!used.has(k)) return k;
  }
}

// The config a new step of this type starts with: the defaults of its
// required fields and of the first member of each exactly-one-of group.
export function starterConfig(spec) {
  const c = {};
  if (!spec) return c;
  const firsts = new Set((spec.exactly_one_of || []).map((g) => g[0]));
  for (const f of spec.fields) {
    if ((f.required || firsts.has(f.name)) && f.default !== undefined) c[f.name] = f.default;
  }
  return c;
}
