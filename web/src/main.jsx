// The builder's entry point: session (sign-in with a PostgreSQL role), the
// catalog of step types, and the two pages (journey list, journey editor)
// chosen by the URL hash: #/ and #/j/<journey name>.
import { StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import '@xyflow/react/dist/style.css';
import './app.css';
import { ApiError, errorText, get, post, setCsrf } from './api.js';
import { JourneyList } from './JourneyList.jsx';
import { Editor } from './Editor.jsx';

function parseHash() {
  const h = window.location.hash.replace(/^#/, '');
  const m = h.match(/^\/j\/(.+)$/);
  if (m) return { page: 'journey', name: decodeURIComponent(m[1]) };
  return { page: 'list' };
}

function Login({ onSignedIn }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await post('/api/login', { user, password }));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="login">
      <form onSubmit={submit} className="login-box" data-testid="login-form">
        <h1>pg_journey builder</h1>
        <p className="muted">Sign in with your PostgreSQL role. What you may see and change is what
          PostgreSQL grants that role.</p>
        <label>Role<input data-testid="login-user" autoFocus value={user} autoComplete="username"
          onChange={(e) => setUser(e.target.value)} /></label>
        <label>Password<input data-testid="login-password" type="password" value={password}
          autoComplete="current-password" onChange={(e) => setPassword(e.target.value)} /></label>
        {error && <div className="error" data-testid="login-error">{error}</div>}
        <button type="submit" className="primary" disabled={busy || !user} data-testid="login-submit">
          Sign in</button>
      </form>
    </div>
  );
}

function App() {
  const [session, setSession] = useState(null);
  const [catalog, setCatalog] = useState(null);
  const [route, setRoute] = useState(parseHash());
  const [fatal, setFatal] = useState('');

  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const signedIn = useCallback(async (s) => {
    setCsrf(s.csrf);
    setSession(s);
    try {
      setCatalog(await get('/api/catalog'));
    } catch (e) {
      setFatal(errorText(e));
    }
  }, []);

  useEffect(() => {
    get('/api/me').then((s) => (s.signed_in ? signedIn(s) : setSession(false))).catch(() => setSession(false));
  }, [signedIn]);

  // A 401 anywhere (session expired, connection lost) brings the sign-in back.
  useEffect(() => {
    const onError = (ev) => {
      if (ev.reason instanceof ApiError && ev.reason.status === 401) setSession(false);
    };
    window.addEventListener('unhandledrejection', onError);
    return () => window.removeEventListener('unhandledrejection', onError);
  }, []);

  if (session === null) return <div className="loading">Loading…</div>;
  if (session === false) return <Login onSignedIn={signedIn} />;
  const signOut = async () => {
    try {
      await post('/api/logout');
    } finally {
      setSession(false);
      setCatalog(null);
    }
  };
  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/">pg_journey <span>builder</span></a>
        <span className="spacer" />
        <span className="who" data-testid="who">{session.user}@{session.database}
          {!session.can_edit && <em> (read only)</em>}</span>
        <button onClick={signOut} data-testid="sign-out">Sign out</button>
      </header>
      {fatal && <div className="error banner">{fatal}</div>}
      {!catalog ? <div className="loading">Loading…</div>
        : route.page === 'journey'
          ? <Editor key={route.name} name={route.name} catalog={catalog} session={session}
              onSessionLost={() => setSession(false)} />
          : <JourneyList session={session} />}
    </div>
  );
}

createRoot(document.getElementById('root')).render(<StrictMode><App /></StrictMode>);
