import { useEffect, useRef, useState } from 'preact/hooks';
import { Problem, call, onSessionEnded, setCsrf, type RequestView, type SessionInfo } from './api.js';
import { keyring } from './keyring.js';
import { MyRequests } from './my-requests.js';
import { NewRequest } from './new-request.js';
import { Result } from './result.js';
import { SignIn } from './sign-in.js';

export interface PageData {
  caName: string;
  kerberos: boolean;
}

type View = { name: 'new' } | { name: 'requests' } | { name: 'result'; request: RequestView };

/**
 * The enrollment page: sign in, then request a certificate (key made here, or a pasted CSR), see
 * the outcome and download, or look at "my requests" to collect one that was pending.
 */
export function App({ data }: { data: PageData }) {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [view, setView] = useState<View>({ name: 'new' });
  const [notice, setNotice] = useState('');
  const signedInNow = useRef(false);
  signedInNow.current = session !== null && session !== undefined;

  // A 401 while signed in: the session ended (expiry, idle time, sign-out elsewhere). Back to the
  // sign-in form, saying so. Keys made in this page stay: they are the page's, not the session's.
  useEffect(() => {
    onSessionEnded(() => {
      if (!signedInNow.current) return;
      setCsrf('');
      setSession(null);
      setView({ name: 'new' });
      setNotice('Your session has ended. Sign in again to continue.');
    });
  }, []);

  useEffect(() => {
    call<SessionInfo>('GET', '/session').then(
      (s) => signedIn(s),
      () => setSession(null),
    );
  }, []);

  useEffect(() => {
    // Each view names itself in the title: screen readers and browser history say where one is.
    const what = session === null ? 'Sign in' : view.name === 'new' ? 'Request a certificate' : view.name === 'requests' ? 'My requests' : `Request ${view.request.requestId ?? ''}`;
    document.title = `${what} — ${data.caName} web enrollment`;
  }, [session, view]);

  // After a change of view (not on the first load), focus its heading, so keyboard and screen-reader
  // users start on the new content rather than on the button that led there.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = session === undefined;
      return;
    }
    const t = setTimeout(() => document.querySelector<HTMLElement>('main h1')?.focus(), 0);
    return () => clearTimeout(t);
  }, [session === null, view]);

  const signedIn = (s: SessionInfo) => {
    setNotice('');
    setCsrf(s.csrf);
    setSession(s);
  };
  const signOut = async () => {
    keyring.clear();
    try {
      await call('POST', '/session/end');
    } catch (e) {
      if (!(e instanceof Problem) || e.status !== 401) throw e;
    }
    setCsrf('');
    setSession(null);
    setView({ name: 'new' });
  };

  return (
    <>
      <header class="top">
        <div class="brand">
          <span class="ca">{data.caName}</span> <span class="what">web enrollment</span>
        </div>
        {session ? (
          <nav aria-label="Main">
            <button type="button" class={view.name === 'new' ? 'link current' : 'link'} aria-current={view.name === 'new' ? 'page' : undefined} onClick={() => setView({ name: 'new' })}>
              New request
            </button>
            <button type="button" class={view.name === 'requests' ? 'link current' : 'link'} aria-current={view.name === 'requests' ? 'page' : undefined} onClick={() => setView({ name: 'requests' })}>
              My requests
            </button>
            <span class="who" title={`signed in by ${session.principal.method}`}>
              {session.principal.name}
            </span>
            <button type="button" class="link" onClick={() => void signOut()}>
              Sign out
            </button>
          </nav>
        ) : null}
      </header>
      <main id="main">
        {session === undefined ? <p role="status">Loading…</p> : null}
        {session === null ? <SignIn kerberos={data.kerberos} notice={notice} onSignedIn={signedIn} /> : null}
        {session && view.name === 'new' ? <NewRequest onOutcome={(request) => setView({ name: 'result', request })} /> : null}
        {session && view.name === 'requests' ? <MyRequests onOpen={(request) => setView({ name: 'result', request })} /> : null}
        {session && view.name === 'result' ? <Result request={view.request} onUpdate={(request) => setView({ name: 'result', request })} /> : null}
      </main>
    </>
  );
}
