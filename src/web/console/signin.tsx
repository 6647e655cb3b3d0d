import { useState } from 'preact/hooks';
import { Problem } from '../shared/api.js';
import { signInWithCertificate, signInWithToken, type Session } from './session.js';

export function SignIn({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice?: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<Session>) => {
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await f());
    } catch (e) {
      setError(e instanceof Problem ? e.detail : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>opences console</h1>
      {notice && !error && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <section aria-labelledby="token-h">
        <h2 id="token-h">Sign in with an API token</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(() => signInWithToken(token));
          }}
        >
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} required size={40} />
          <p class="muted">Made with <code>opences token create --role … --for …</code>.</p>
          <button class="primary" type="submit" disabled={busy}>
            Sign in
          </button>
        </form>
      </section>
      <section aria-labelledby="cert-h">
        <h2 id="cert-h">Sign in with a client certificate</h2>
        <p class="muted">Uses the certificate your browser presented, if it is listed for admin access.</p>
        <button type="button" onClick={() => void run(signInWithCertificate)} disabled={busy}>
          Sign in with certificate
        </button>
      </section>
    </main>
  );
}
