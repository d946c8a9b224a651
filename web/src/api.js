// Talking to journeyctl serve: JSON in and out, the session's CSRF token on
// every write, errors as exceptions carrying the server's message.
let csrf = '';

export function setCsrf(token) {
  csrf = token || '';
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.sqlstate = body && body.sqlstate;
    this.detail = body && body.detail;
    this.hint = body && body.hint;
  }
}

async function handle(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export async function get(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  const qs = q.toString();
  const res = await fetch(qs ? `${path}?${qs}` : path, { credentials: 'same-origin' });
  return handle(res);
}

export async function post(path, body = {}) {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: JSON.stringify(body),
  });
  return handle(res);
}

// The text of an error for people: the SQLSTATE of an error the database
// raised ("23505: step ... already exists"), message, detail and hint.
export function errorText(e) {
  if (!e) return '';
  let t = e.message || String(e);
  if (e.sqlstate) t = `${e.sqlstate}: ${t}`;
  if (e.detail) t += `\n${e.detail}`;
  if (e.hint) t += `\nHint: ${e.hint}`;
  return t;
}
