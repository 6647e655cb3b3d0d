import { useState } from 'preact/hooks';
import { message, ErrorBox } from '../shared/ui.js';
import { call, type SessionInfo } from './api.js';

/** Sign in with an account password, the browser's client certificate, or Kerberos (Negotiate). */
export function SignIn({ kerberos, notice, onSignedIn }: { kerberos: boolean; notice: string; onSignedIn: (s: SessionInfo) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const attempt = async (path: string, body?: unknown) => {
    setBusy(true);
    setError('');
    try {
      onSignedIn(await call<SessionInfo>('POST', path, body));
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title" tabIndex={-1}>Sign in</h1>
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <p>Sign in to request a certificate from this certification authority.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void attempt('/session/password', { username, password });
        }}
      >
        <label for="username">Account name</label>
        <input id="username" name="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      <div class="or" aria-hidden="true">
        or
      </div>
      <div class="alt">
        <button type="button" disabled={busy} onClick={() => void attempt('/session/certificate')}>
          Sign in with a client certificate
        </button>
        {kerberos ? (
          <button type="button" disabled={busy} onClick={() => void attempt('/session/kerberos')}>
            Sign in with Kerberos
          </button>
        ) : null}
      </div>
      <ErrorBox error={error} />
    </section>
  );
}
