import { useState } from 'preact/hooks';
import { initialSession, signOut, type Session } from './session.js';
import { SignIn } from './signin.js';

export function App() {
  const [session, setSession] = useState<Session | null>(initialSession);
  if (!session) return <SignIn onSignedIn={setSession} />;
  return (
    <>
      <header class="top">
        <span class="brand">opences console</span>
        <span class="who">
          <span>
            {session.principal} ({session.role})
          </span>
          <button type="button" onClick={() => void signOut().then(() => setSession(null))}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        <h1>Overview</h1>
      </main>
    </>
  );
}
