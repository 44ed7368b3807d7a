// Your account: password change (signs out your other sessions), two-factor authentication (enrol
// with a QR code; recovery codes shown once; turn off with password + code), API keys (create:
// shown once, with a copy button; revoke) and your browser sessions by device (end one).

import { useCallback, useEffect, useState, type FormEvent } from 'react';
import QRCode from 'qrcode';
import { api, type Key, type SessionRow, type User } from '../api';
import { ErrorNote, messageOf } from '../components/ErrorNote';

const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : 'never');

function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
    } catch {
      setDone(false); // no clipboard (http, or denied): the text is selectable on screen
    }
  };
  return <button type="button" className="quiet" onClick={copy} aria-label={label}>{done ? 'Copied' : 'Copy'}</button>;
}

function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <div className="once" role="status" data-testid="recovery-codes">
      <p><strong>Recovery codes</strong> (shown this once): each logs you in one time if you lose your authenticator. Keep them somewhere safe.</p>
      <ol>{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ol>
      <CopyButton text={codes.join('\n')} label="Copy the recovery codes" />
    </div>
  );
}

function Password() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    try {
      const r = await api.post<{ sessions_ended: number }>('/v1/auth/password', { current_password: current, new_password: next });
      setDone(`Password changed. ${r.sessions_ended} other session${r.sessions_ended === 1 ? ' was' : 's were'} signed out.`);
      setCurrent('');
      setNext('');
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section className="card" aria-labelledby="pw-h">
      <h2 id="pw-h">Password</h2>
      <form onSubmit={submit} className="row">
        <label>Current password<input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required /></label>
        <label>New password (8 or more characters)<input type="password" autoComplete="new-password" minLength={8} value={next} onChange={(e) => setNext(e.target.value)} required /></label>
        <button type="submit">Change password</button>
      </form>
      {done && <p role="status">{done}</p>}
      <ErrorNote error={error} />
    </section>
  );
}

function Mfa({ user, onUser }: { user: User; onUser: (u: User) => void }) {
  const [qr, setQr] = useState<string | null>(null);
  const [uri, setUri] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [offPassword, setOffPassword] = useState('');
  const [offCode, setOffCode] = useState('');
  const [left, setLeft] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (user.mfa_enabled) api.get<{ recovery_codes_left: number }>('/v1/auth/mfa').then((r) => setLeft(r.recovery_codes_left), () => undefined);
  }, [user.mfa_enabled, codes]);
  const turnOff = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.post('/v1/auth/mfa/disable', { password: offPassword, code: offCode.trim() });
      setOffPassword('');
      setOffCode('');
      setCodes(null);
      onUser({ ...user, mfa_enabled: false });
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const newCodes = async () => {
    const password = window.prompt('Your password, to make new recovery codes:');
    if (!password) return;
    try {
      setCodes((await api.post<{ recovery_codes: string[] }>('/v1/auth/mfa/recovery-codes', { password })).recovery_codes);
    } catch (err) {
      setError(messageOf(err));
    }
  };
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
      const r = await api.post<{ user: User; recovery_codes: string[] }>('/v1/auth/mfa/confirm', { code });
      setCodes(r.recovery_codes);
      onUser(r.user);
      setQr(null);
      setUri(null);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section className="card" aria-labelledby="mfa-h">
      <h2 id="mfa-h">Two-factor authentication</h2>
      {codes && <RecoveryCodes codes={codes} />}
      {user.mfa_enabled ? (
        <>
          <p>On: logging in asks for a code from your authenticator app.{left !== null && ` ${left} recovery code${left === 1 ? '' : 's'} left.`}</p>
          <button type="button" className="quiet" onClick={newCodes}>New recovery codes</button>
          <form onSubmit={turnOff} className="row" aria-label="Turn off two-factor authentication">
            <label>Password<input type="password" autoComplete="current-password" value={offPassword} onChange={(e) => setOffPassword(e.target.value)} required /></label>
            <label>Code or recovery code<input autoComplete="one-time-code" value={offCode} onChange={(e) => setOffCode(e.target.value)} required /></label>
            <button type="submit" className="danger">Turn off</button>
          </form>
        </>
      ) : !qr ? (
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
        <p className="once" role="status">New key (shown once, copy it now): <code data-testid="new-key">{created}</code>{' '}
          <CopyButton text={created} label="Copy the new key" /></p>
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
        <thead><tr><th>Device</th><th>Started</th><th>Last seen</th><th><span className="sr">Actions</span></th></tr></thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.id}>
              <td>{s.device}</td><td>{when(s.created_at)}</td><td>{when(s.last_seen_at)}</td>
              <td>{s.current ? 'this device' : <button type="button" className="quiet" onClick={() => end(s.id)} aria-label={`Log out ${s.device}`}>Log out</button>}</td>
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
      <Password />
      <Mfa user={user} onUser={onUser} />
      <Keys />
      <Sessions />
    </div>
  );
}
