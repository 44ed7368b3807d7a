// Your account: two-factor authentication (enrol with a QR code), API keys (create: shown once;
// revoke) and your browser sessions (end one).

import { useCallback, useEffect, useState, type FormEvent } from 'react';
import QRCode from 'qrcode';
import { api, type Key, type SessionRow, type User } from '../api';
import { ErrorNote, messageOf } from '../components/ErrorNote';

const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : 'never');

function Mfa({ user, onUser }: { user: User; onUser: (u: User) => void }) {
  const [qr, setQr] = useState<string | null>(null);
  const [uri, setUri] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const enrol = async () => {
    setError(null);
    try {
      const r = await api.post<{ provisioning_uri: string }>('/v1/auth/mfa/enroll');
      setUri(r.provisioning_uri);
      setQr(await QRCode.toDataURL(r.provisioning_uri, { margin: 1, width: 220 }));
    } catch (e) {
      setError(messageOf(e));
    }
  };
  const confirm = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      onUser(await api.post<User>('/v1/auth/mfa/confirm', { code }));
      setQr(null);
      setUri(null);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section className="card" aria-labelledby="mfa-h">
      <h2 id="mfa-h">Two-factor authentication</h2>
      {user.mfa_enabled ? <p>On: logging in asks for a code from your authenticator app.</p> : !qr ? (
        <><p>Off.</p><button type="button" onClick={enrol}>Set up two-factor authentication</button></>
      ) : (
        <form onSubmit={confirm}>
          <p>Scan this with an authenticator app, then enter the code it shows.</p>
          <img src={qr} alt="QR code for your authenticator app" width={220} height={220} data-testid="mfa-qr" />
          <details><summary>Can't scan?</summary><code className="wrap" data-testid="mfa-uri">{uri}</code></details>
          <label htmlFor="mfa-code">Code</label>
          <input id="mfa-code" inputMode="numeric" pattern="[0-9]{6}" autoComplete="one-time-code" value={code}
            onChange={(e) => setCode(e.target.value)} required />
          <button type="submit">Turn on</button>
        </form>
      )}
      <ErrorNote error={error} />
    </section>
  );
}

function Keys() {
  const [keys, setKeys] = useState<Key[]>([]);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => api.get<Key[]>('/v1/keys').then(setKeys, (e) => setError(messageOf(e))), []);
  useEffect(() => {
    load();
  }, [load]);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const k = await api.post<Key & { key: string }>('/v1/keys', { name });
      setCreated(k.key);
      setName('');
      load();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const revoke = async (id: string) => {
    try {
      await api.del(`/v1/keys/${id}`);
      load();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section className="card" aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      <form onSubmit={create} className="row">
        <label htmlFor="key-name">Name</label>
        <input id="key-name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} required />
        <button type="submit">Create key</button>
      </form>
      {created && (
        <p className="once" role="status">New key (shown once, copy it now): <code data-testid="new-key">{created}</code></p>
      )}
      <ErrorNote error={error} />
      <table>
        <thead><tr><th>Name</th><th>Prefix</th><th>Last used</th><th>State</th><th><span className="sr">Actions</span></th></tr></thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td><td><code>{k.prefix}</code></td><td>{when(k.last_used_at)}</td>
              <td>{k.revoked_at ? 'revoked' : 'active'}</td>
              <td>{!k.revoked_at && <button type="button" className="quiet" onClick={() => revoke(k.id)} aria-label={`Revoke key ${k.name}`}>Revoke</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Sessions() {
  const [rows, setRows] = useState<SessionRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => api.get<SessionRow[]>('/v1/auth/sessions').then(setRows, (e) => setError(messageOf(e))), []);
  useEffect(() => {
    load();
  }, [load]);
  const end = async (id: string) => {
    try {
      await api.del(`/v1/auth/sessions/${id}`);
      load();
    } catch (e) {
      setError(messageOf(e));
    }
  };
  return (
    <section className="card" aria-labelledby="sessions-h">
      <h2 id="sessions-h">Sessions</h2>
      <ErrorNote error={error} />
      <table>
        <thead><tr><th>Started</th><th>Last seen</th><th><span className="sr">Actions</span></th></tr></thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.id}>
              <td>{when(s.created_at)}</td><td>{when(s.last_seen_at)}</td>
              <td>{s.current ? 'this device' : <button type="button" className="quiet" onClick={() => end(s.id)}>Log out</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function Account({ user, onUser }: { user: User; onUser: (u: User) => void }) {
  return (
    <div className="account">
      <h1>Account</h1>
      <p>Signed in as <strong>{user.username}</strong> ({user.role}).</p>
      <Mfa user={user} onUser={onUser} />
      <Keys />
      <Sessions />
    </div>
  );
}
