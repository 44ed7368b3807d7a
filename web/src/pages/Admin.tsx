// Admin: the users (create one) and the job queue across all users.

import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, type User } from '../api';
import { ErrorNote, messageOf } from '../components/ErrorNote';

interface Queue { depth: Record<string, number>; workers: number }

export function Admin() {
  const [users, setUsers] = useState<User[]>([]);
  const [queue, setQueue] = useState<Queue | null>(null);
  const [form, setForm] = useState({ username: '', password: '', role: 'user' });
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api.get<User[]>('/v1/admin/users').then(setUsers, (e) => setError(messageOf(e)));
    api.get<Queue>('/v1/admin/queue').then(setQueue, (e) => setError(messageOf(e)));
  }, []);
  useEffect(load, [load]);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.post('/v1/admin/users', form);
      setForm({ username: '', password: '', role: 'user' });
      load();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <div className="admin">
      <h1>Admin</h1>
      <section className="card" aria-labelledby="queue-h">
        <h2 id="queue-h">Queue</h2>
        {queue && (
          <dl className="queue">
            {Object.entries(queue.depth).map(([k, v]) => <div key={k}><dt>{k}</dt><dd data-testid={`queue-${k}`}>{v}</dd></div>)}
            <div><dt>workers here</dt><dd>{queue.workers}</dd></div>
          </dl>
        )}
        <button type="button" onClick={load}>Refresh</button>
      </section>
      <section className="card" aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        <form onSubmit={create} className="row">
          <label>Username<input value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} required /></label>
          <label>Password<input type="password" autoComplete="new-password" value={form.password}
            onChange={(e) => setForm({ ...form, password: e.target.value })} required /></label>
          <label>Role
            <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              <option value="user">user</option><option value="admin">admin</option>
            </select>
          </label>
          <button type="submit">Create user</button>
        </form>
        <ErrorNote error={error} />
        <table>
          <thead><tr><th>Username</th><th>Role</th><th>MFA</th><th>Created</th></tr></thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id}><td>{u.username}</td><td>{u.role}</td><td>{u.mfa_enabled ? 'on' : 'off'}</td>
                <td>{new Date(u.created_at).toLocaleDateString()}</td></tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
