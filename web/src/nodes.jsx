// The boxes on the canvas: a step (type, key, config summary, live counts,
// validation issues, one outlet per branch) and the entry box (how customers
// enter; its outlet points at the start step).
import { Handle, Position } from '@xyflow/react';

const ICONS = { message: '✉', timing: '◷', logic: '◇', data: '▤', end: '■' };

export function StepNode({ data, selected }) {
  const errors = data.issues.filter((i) => i.severity === 'error');
  const warnings = data.issues.filter((i) => i.severity === 'warning');
  const n = data.branches.length;
  return (
    <div className={`step cat-${data.category}${selected ? ' selected' : ''}${errors.length ? ' has-errors' : ''}${data.highlight ? ' highlight' : ''}`}
      data-testid={`step-${data.stepKey}`} title={data.issues.map((i) => `${i.severity}: ${i.message}`).join('\n')}>
      <Handle type="target" position={Position.Top} id="in" className="inlet" />
      <div className="step-head">
        <span className="step-icon">{ICONS[data.category] || '•'}</span>
        <span className="step-type">{data.label}</span>
        {data.isStart && <span className="badge start" data-testid={`start-${data.stepKey}`}>start</span>}
        {errors.length > 0 && <span className="badge err" data-testid={`issues-${data.stepKey}`}>
          {errors.length} error{errors.length > 1 ? 's' : ''}</span>}
        {!errors.length && warnings.length > 0 && <span className="badge warn" data-testid={`warnings-${data.stepKey}`}>
          {warnings.length} warning{warnings.length > 1 ? 's' : ''}</span>}
      </div>
      <div className="step-key">{data.stepKey}</div>
      <div className="step-summary">{data.summary}</div>
      {data.counts && (
        <div className="step-counts" data-testid={`count-${data.stepKey}`}>
          <span title="enrollments that reached this step">entered <b>{data.counts.entered}</b></span>
          <span title="enrollments here now">now <b>{data.counts.now_at}</b></span>
        </div>
      )}
      {data.branches.map((b, i) => (
        <Handle key={b} type="source" position={Position.Bottom} id={b} className="outlet"
          data-testid={`handle-${data.stepKey}-${b}`} style={{ left: `${((i + 1) * 100) / (n + 1)}%` }}>
          {(n > 1 || b !== 'next') && <span className="outlet-label">{b}</span>}
        </Handle>
      ))}
    </div>
  );
}

export function EntryNode({ data }) {
  return (
    <div className="entry-box" data-testid="entry-box">
      <div className="step-head"><span className="step-icon">▶</span><span className="step-type">Customers enter</span></div>
      {data.triggers.length === 0 ? <div className="muted small">no entry trigger (Journey tab)</div>
        : data.triggers.map((t, i) => <div key={i} className="small">{t}</div>)}
      {data.exits.length > 0 && <div className="small exits" title="exit rules">leave when: {data.exits.join('; ')}</div>}
      <Handle type="source" position={Position.Bottom} id="start" className="outlet"
        data-testid="handle-entry" style={{ left: '50%' }} />
    </div>
  );
}
