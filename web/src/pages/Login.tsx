// Log in with username and password, and a TOTP (or recovery) code when the account has MFA.
// The server answers every failure alike (it never says which part was wrong), so after a failure
// the form offers the code field too: an account without MFA just leaves it empty.

import { useState, type FormEvent } from 'react';
import { api, ApiError, csrf, type User } from '../api';
import { ErrorNote, messageOf } from '../components/ErrorNote';

export function Login({ onLogin }: { onLogin: (u: User) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [needsTotp, setNeedsTotp] = useState(false);
  const [useRecovery, setUseRecovery] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, string> = { username, password };
      if (needsTotp && totp.trim() && useRecovery) body.recovery_code = totp.trim();
      else if (needsTotp && totp.trim()) body.totp = totp.trim();
      const r = await api.post<{ csrf_token: string; user: User }>('/v1/auth/login', body);
      csrf.set(r.csrf_token);
      onLogin(r.user);
    } catch (err) {
      const failed = err instanceof ApiError && err.status === 401;
      if (failed && !needsTotp) {
        setNeedsTotp(true);
        setError('Wrong username or password, or this account uses two-factor authentication: enter the code from your app too.');
      } else setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="centre">
      <form className="card login" onSubmit={submit} aria-describedby="login-error">
        <h1>scenecraft</h1>
        <label htmlFor="username">Username</label>
        <input id="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        <label htmlFor="password">Password</label>
        <input id="password" type="password" autoComplete="current-password" value={password}
          onChange={(e) => setPassword(e.target.value)} required />
        {needsTotp && (
          <>
            <label htmlFor="totp">{useRecovery ? 'Recovery code' : 'Authentication code'}</label>
            <input id="totp" inputMode={useRecovery ? 'text' : 'numeric'} pattern={useRecovery ? undefined : '[0-9]{6}'}
              autoComplete="one-time-code" value={totp} onChange={(e) => setTotp(e.target.value)} autoFocus />
            <button type="button" className="quiet" onClick={() => { setUseRecovery(!useRecovery); setTotp(''); }}>
              {useRecovery ? 'Use a code from the app' : 'Use a recovery code'}
            </button>
          </>
        )}
        <ErrorNote error={error} id="login-error" />
        <button type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </main>
  );
}
