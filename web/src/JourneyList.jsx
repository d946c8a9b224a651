// The journey list: every journey with its state, versions and counts
// (journey.list); archived ones behind a filter; create and clone.
import { useCallback, useEffect, useState } from 'react';
import { ApiError, errorText, get, post } from './api.js';
import { go } from './nav.js';

function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return d.toLocaleString();
}

export function JourneyList({ session }) {
  const [rows, setRows] = useState(null);
  const [archived, setArchived] = useState(false);
  const [audiences, setAudiences] = useState([]);
  const [error, setError] = useState('');
  const [name, setName] = useState('');
  const [audience, setAudience] = useState('');
  const [description, setDescription] = useState('');

  const load = useCallback(async () => {
    try {
      setRows(await get('/api/journeys', { archived: archived ? 1 : 0 }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw e;  // back to the sign-in
      setError(errorText(e));
    }
  }, [archived]);

  useEffect(() => {
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [load]);

  useEffect(() => {
    get('/api/audiences').then((a) => {
      setAudiences(a);
      if (a.length) setAudience(a[0].relation);
    }).catch((e) => setError(errorText(e)));
  }, []);

  const create = async (e) => {
    e.preventDefault();
    setError('');
    try {
      await post('/api/journeys/create', { name, audience, description: description || null });
      go({ page: 'journey', name });
    } catch (err) {
      setError(errorText(err));
    }
  };

  const clone = async (from) => {
    const to = window.prompt(`Name of the copy of "${from}"`, `${from}-copy`);
    if (!to) return;
    try {
      await post('/api/journey/clone', { name: from, new_name: to });
      go({ page: 'journey', name: to });
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <main className="list-page">
      <section className="card">
        <div className="card-head">
          <h2>Journeys</h2>
          <label className="check"><input type="checkbox" data-testid="show-archived" checked={archived}
            onChange={(e) => setArchived(e.target.checked)} /> Show archived</label>
        </div>
        {error && <div className="error" data-testid="list-error">{error}</div>}
        {!rows ? <p className="muted">Loading…</p> : rows.length === 0 ? (
          <p className="muted">No journeys yet{archived ? '' : ' (archived ones are hidden)'}.</p>
        ) : (
          <table className="grid" data-testid="journey-table">
            <thead><tr><th>Name</th><th>State</th><th>Live</th><th>Draft</th><th>Steps</th>
              <th>Active</th><th>Enrolled</th><th>Converted</th><th>Last activity</th><th /></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.journey_id} data-testid={`journey-row-${r.name}`}>
                  <td><a href={`#/j/${encodeURIComponent(r.name)}`}>{r.name}</a>
                    {r.description && <div className="muted small">{r.description}</div>}</td>
                  <td><span className={`state state-${r.state}`}>{r.state}</span></td>
                  <td>{r.live_version ? `v${r.live_version}` : '—'}</td>
                  <td>{r.draft_version ? `v${r.draft_version}` : '—'}</td>
                  <td className="num">{r.steps}</td>
                  <td className="num">{r.active}</td>
                  <td className="num">{r.enrolled}</td>
                  <td className="num">{r.converted}</td>
                  <td className="small">{when(r.last_activity)}</td>
                  <td>{session.can_edit && <button className="small" onClick={() => clone(r.name)}
                    data-testid={`clone-${r.name}`}>Clone</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {session.can_edit && (
        <section className="card">
          <h2>New journey</h2>
          {audiences.length === 0 ? (
            <p className="muted">No customer table is registered yet: a DBA runs
              journey.register_audience first.</p>
          ) : (
            <form className="inline-form" onSubmit={create}>
              <label>Name<input data-testid="new-journey-name" value={name}
                onChange={(e) => setName(e.target.value)} placeholder="welcome-series" /></label>
              <label>Customers<select data-testid="new-journey-audience" value={audience}
                onChange={(e) => setAudience(e.target.value)}>
                {audiences.map((a) => <option key={a.relation} value={a.relation}>{a.relation}</option>)}
              </select></label>
              <label className="grow">Description<input data-testid="new-journey-description" value={description}
                onChange={(e) => setDescription(e.target.value)} placeholder="What it is for" /></label>
              <button type="submit" className="primary" disabled={!name} data-testid="new-journey-create">
                Create</button>
            </form>
          )}
        </section>
      )}
    </main>
  );
}
