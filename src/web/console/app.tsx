import { useEffect, useState } from 'preact/hooks';
import { SIGNED_OUT_EVENT } from '../shared/api.js';
import { Link } from './link.js';
import { useRoute } from './router.js';
import { initialSession, signOut, type Role, type Session } from './session.js';
import { SignIn } from './signin.js';
import { Overview } from './pages/overview.js';
import { Requests } from './pages/requests.js';
import { Certificates, CertificateDetail } from './pages/certificates.js';
import { Templates, TemplateDetail } from './pages/templates.js';
import { Partners } from './pages/partners.js';
import { Accounts } from './pages/accounts.js';
import { Audit } from './pages/audit.js';

interface Section {
  path: string;
  title: string;
  /** The roles whose API calls this page needs (the server enforces them; the menu only follows). */
  roles: Role[];
}

const ALL: Role[] = ['ca-admin', 'cert-manager', 'auditor'];
export const SECTIONS: Section[] = [
  { path: '/', title: 'Overview', roles: ALL },
  { path: '/requests', title: 'Requests', roles: ALL },
  { path: '/certificates', title: 'Certificates', roles: ALL },
  { path: '/templates', title: 'Templates', roles: ALL },
  { path: '/partners', title: 'Partners', roles: ['ca-admin'] },
  { path: '/accounts', title: 'Accounts', roles: ['ca-admin'] },
  { path: '/audit', title: 'Audit', roles: ['auditor'] },
];

function Page({ path, session }: { path: string; session: Session }) {
  const role = session.role;
  const cert = /^\/certificates\/([0-9a-f]+)$/.exec(path);
  if (cert) return <CertificateDetail serial={cert[1]!} role={role} principal={session.principal} />;
  const tpl = /^\/templates\/(.+)$/.exec(path);
  if (tpl) return <TemplateDetail name={decodeURIComponent(tpl[1]!)} role={role} />;
  const section = SECTIONS.find((s) => s.path === path);
  if (!section) return <p>No such page.</p>;
  if (!section.roles.includes(role)) return <p class="error">The role {role} may not see this page.</p>;
  switch (path) {
    case '/':
      return <Overview role={role} />;
    case '/requests':
      return <Requests role={role} />;
    case '/certificates':
      return <Certificates />;
    case '/templates':
      return <Templates role={role} />;
    case '/partners':
      return <Partners />;
    case '/accounts':
      return <Accounts />;
    case '/audit':
      return <Audit />;
    default:
      return null;
  }
}

export function App() {
  const [session, setSession] = useState<Session | null>(initialSession);
  const { path } = useRoute();
  const section = SECTIONS.find((s) => s.path === path || (s.path !== '/' && path.startsWith(`${s.path}/`)));
  useEffect(() => {
    document.title = `${section?.title ?? 'opences'} · opences console`;
  }, [section]);
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    const out = () => {
      setEnded(true);
      setSession(null);
    };
    addEventListener(SIGNED_OUT_EVENT, out);
    return () => removeEventListener(SIGNED_OUT_EVENT, out);
  }, []);
  if (!session)
    return (
      <SignIn
        notice={ended ? 'Your session has ended; sign in again.' : null}
        onSignedIn={(s) => {
          setEnded(false);
          setSession(s);
        }}
      />
    );
  return (
    <>
      <header class="top">
        <span class="brand">opences console</span>
        <nav aria-label="Console sections">
          {SECTIONS.filter((s) => s.roles.includes(session.role)).map((s) => (
            <Link key={s.path} to={s.path} current={s === section}>
              {s.title}
            </Link>
          ))}
        </nav>
        <span class="who">
          <span>
            {session.principal} <span class="role">({session.role})</span>
          </span>
          <button type="button" onClick={() => void signOut().finally(() => setSession(null))}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main">
        <Page path={path} session={session} />
      </main>
    </>
  );
}
