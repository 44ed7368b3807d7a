// The shell: who is logged in, the navigation (hash routes: #/studio, #/gallery, #/account, #/admin)
// and an offline banner. Pages live in pages/.

import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError, csrf, type User } from './api';
import { Login } from './pages/Login';
import { Studio } from './pages/Studio';
import { Gallery } from './pages/Gallery';
import { Account } from './pages/Account';
import { Admin } from './pages/Admin';

const PAGES = ['studio', 'gallery', 'account', 'admin'] as const;
type Page = (typeof PAGES)[number];

// The last signed-in user, so the app opens offline (the service worker then serves cached data).
const USER_KEY = 'scenecraft.user';
const rememberUser = (u: User | null): void => {
  if (u) localStorage.setItem(USER_KEY, JSON.stringify(u));
  else localStorage.removeItem(USER_KEY);
};
const rememberedUser = (): User | null => {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) ?? 'null') as User | null;
  } catch {
    return null;
  }
};

function currentPage(): { page: Page; arg: string | null } {
  const [, page, arg] = location.hash.split('/');
  return { page: (PAGES as readonly string[]).includes(page) ? (page as Page) : 'studio', arg: arg ?? null };
}

export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined); // undefined: still asking
  const [route, setRoute] = useState(currentPage());
  const [online, setOnline] = useState(navigator.onLine);
  const top = useRef<HTMLDivElement>(null);

  useEffect(() => {
    // the studio fills the window below the header: tell the CSS how tall the header is
    const el = top.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => document.documentElement.style.setProperty('--top', `${el.offsetHeight}px`));
    ro.observe(el);
    return () => ro.disconnect();
  });

  useEffect(() => {
    const onHash = () => setRoute(currentPage());
    const onLine = () => setOnline(navigator.onLine);
    window.addEventListener('hashchange', onHash);
    window.addEventListener('online', onLine);
    window.addEventListener('offline', onLine);
    api.get<User>('/v1/me').then(
      (u) => {
        rememberUser(u);
        setUser(u);
      },
      (e) => setUser(e instanceof ApiError && e.status === 0 ? rememberedUser() : null),
    );
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('online', onLine);
      window.removeEventListener('offline', onLine);
    };
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.post('/v1/auth/logout');
    } catch {
      /* already logged out */
    }
    csrf.set(null);
    rememberUser(null);
    if ('caches' in window) await caches.delete('scenecraft-data');
    setUser(null);
  }, []);

  useEffect(() => {
    document.title = `scenecraft · ${route.page}`;
  }, [route.page]);

  if (user === undefined) return <main className="centre" aria-busy="true"><p>Loading…</p></main>;
  if (user === null) {
    return <Login onLogin={(u) => { rememberUser(u); setUser(u); if (!location.hash) location.hash = '#/studio'; }} />;
  }

  const nav = PAGES.filter((p) => p !== 'admin' || user.role === 'admin');
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <div ref={top}>
      <header className="top">
        <span className="brand" aria-hidden="true">scenecraft</span>
        <nav aria-label="Main">
          <ul>
            {nav.map((p) => (
              <li key={p}>
                <a href={`#/${p}`} aria-current={route.page === p ? 'page' : undefined}>{p[0].toUpperCase() + p.slice(1)}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">{user.username}</span>
        <button type="button" className="quiet" onClick={logout}>Log out</button>
      </header>
      {!online && <p className="banner" role="status">You are offline: showing what was saved on this device.</p>}
      </div>
      <main id="main" tabIndex={-1}>
        {route.page === 'studio' && <Studio user={user} />}
        {route.page === 'gallery' && <Gallery selected={route.arg} />}
        {route.page === 'account' && <Account user={user} onUser={setUser} />}
        {route.page === 'admin' && user.role === 'admin' && <Admin />}
      </main>
    </div>
  );
}
