import { useState } from 'preact/hooks';
import { call } from '../../shared/api.js';
import { ErrorBox, Loading, Notice, Pager, Table, fmtDate, message, useLoad } from '../../shared/ui.js';
import { Link } from '../link.js';
import { navigate, useRoute } from '../router.js';
import type { Role } from '../session.js';

interface Cert {
  serial: string;
  subject: string;
  sans: string[];
  template: string | null;
  requester: string | null;
  requestId: string | null;
  notBefore: string;
  notAfter: string;
  revokedAt: string | null;
  revocationReason: string | number | null;
}
interface CertDetail extends Cert {
  pem: string;
  decoded: Record<string, unknown> & { publicKey: { type?: string; bits?: number; curve?: string }; extendedKeyUsage: string[] };
  chain: { subject: string; pem: string }[];
}

const PAGE = 100;
const FILTERS = ['search', 'requester', 'template', 'status', 'expiresAfter', 'expiresBefore'] as const;
const REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn'];
const status = (c: Cert): string => (c.revokedAt ? `revoked (${String(c.revocationReason ?? '')})` : Date.parse(c.notAfter) < Date.now() ? 'expired' : 'valid');

export function Certificates() {
  const { query } = useRoute();
  const q = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ''])) as Record<(typeof FILTERS)[number], string>;
  const [form, setForm] = useState(q);
  const offset = Number(query.get('offset') ?? 0) || 0;
  const { data, error, loading } = useLoad(() => call<Cert[]>('/api/v1/certificates', { query: { ...q, limit: PAGE, offset } }), [JSON.stringify(q), offset]);
  const page = (to: number) => {
    const p = new URLSearchParams(query);
    if (to) p.set('offset', String(to));
    else p.delete('offset');
    navigate(`/certificates?${p}`);
  };
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const submit = (e: Event) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const k of FILTERS) if (form[k]) p.set(k, form[k]);
    navigate(`/certificates${p.size ? `?${p}` : ''}`);
  };
  return (
    <>
      <h1>Certificates</h1>
      <form class="filters" onSubmit={submit} role="search" aria-label="Search certificates">
        <div>
          <label for="f-search">Subject, SAN or serial</label>
          <input id="f-search" value={form.search} onInput={set('search')} />
        </div>
        <div>
          <label for="f-requester">Requester</label>
          <input id="f-requester" value={form.requester} onInput={set('requester')} size={12} />
        </div>
        <div>
          <label for="f-template">Template</label>
          <input id="f-template" value={form.template} onInput={set('template')} size={12} />
        </div>
        <div>
          <label for="f-status">Status</label>
          <select id="f-status" value={form.status} onChange={set('status')}>
            <option value="">any</option>
            <option value="valid">valid</option>
            <option value="revoked">revoked</option>
            <option value="expired">expired</option>
          </select>
        </div>
        <div>
          <label for="f-after">Expires after</label>
          <input id="f-after" type="date" value={form.expiresAfter} onInput={set('expiresAfter')} />
        </div>
        <div>
          <label for="f-before">Expires before</label>
          <input id="f-before" type="date" value={form.expiresBefore} onInput={set('expiresBefore')} />
        </div>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <ErrorBox error={error} />
      <Loading when={loading} />
      {data && (
        <Table caption="Certificates found" head={['Serial', 'Subject', 'SANs', 'Template', 'Requester', 'Expires', 'Status']}>
          {data.map((c) => (
            <tr key={c.serial}>
              <td class="mono">
                <Link to={`/certificates/${c.serial}`}>{c.serial}</Link>
              </td>
              <td class="mono">{c.subject}</td>
              <td class="mono">{c.sans.join(', ') || '—'}</td>
              <td>{c.template ?? '—'}</td>
              <td>{c.requester ?? '—'}</td>
              <td>{fmtDate(c.notAfter)}</td>
              <td>{status(c)}</td>
            </tr>
          ))}
        </Table>
      )}
      {data && data.length === 0 && <p>No certificates match.</p>}
      {data && <Pager offset={offset} limit={PAGE} count={data.length} onChange={page} what="Certificates" />}
    </>
  );
}

function Revoke({ serial, onDone }: { serial: string; onDone: (t: string) => void }) {
  const [reason, setReason] = useState('unspecified');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await call(`/api/v1/certificates/${serial}/revoke`, { json: { reason } });
      onDone(`Certificate ${serial} revoked (${reason}); it is listed on the next CRL.`);
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline" onSubmit={(e) => void submit(e)} aria-label="Revoke">
      <div>
        <label for="revoke-reason">Revocation reason</label>
        <select id="revoke-reason" value={reason} onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
          {REASONS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <button type="submit" class="danger" disabled={busy}>
        Revoke
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

export function CertificateDetail({ serial, role }: { serial: string; role: Role; principal: string }) {
  const { data: c, error, loading, reload } = useLoad(() => call<CertDetail>(`/api/v1/certificates/${serial}`), [serial]);
  const [done, setDone] = useState<string | null>(null);
  const d = c?.decoded;
  return (
    <>
      <p>
        <Link to="/certificates">← Certificates</Link>
      </p>
      <h1>Certificate {serial}</h1>
      <Notice text={done} />
      <ErrorBox error={error} />
      <Loading when={loading} />
      {c && d && (
        <>
          <dl class="fields">
            <dt>Status</dt>
            <dd id="cert-status">{status(c)}</dd>
            <dt>Subject</dt>
            <dd class="mono">{String(d.subject)}</dd>
            <dt>Issuer</dt>
            <dd class="mono">{String(d.issuer)}</dd>
            <dt>Subject alternative names</dt>
            <dd class="mono">{String(d.subjectAltName ?? '—')}</dd>
            <dt>Valid</dt>
            <dd>
              {fmtDate(String(d.validFrom))} – {fmtDate(String(d.validTo))}
            </dd>
            <dt>Public key</dt>
            <dd>
              {d.publicKey.type} {d.publicKey.bits ?? d.publicKey.curve ?? ''}
            </dd>
            <dt>Extended key usage</dt>
            <dd class="mono">{d.extendedKeyUsage.join(', ') || '—'}</dd>
            <dt>Template</dt>
            <dd>{c.template ?? '—'}</dd>
            <dt>Requester</dt>
            <dd>
              {c.requester ?? '—'}
              {c.requestId ? ` (request ${c.requestId})` : ''}
            </dd>
            <dt>SHA-256 fingerprint</dt>
            <dd class="mono">{String(d.fingerprintSha256)}</dd>
          </dl>
          <h2>Download</h2>
          <p class="row">
            <a class="button" href={`/api/v1/certificates/${serial}/download?format=pem`} download>
              PEM
            </a>
            <a class="button" href={`/api/v1/certificates/${serial}/download?format=der`} download>
              DER
            </a>
            <a class="button" href={`/api/v1/certificates/${serial}/download?format=p7b`} download>
              PKCS#7 with chain
            </a>
          </p>
          {role === 'cert-manager' && !c.revokedAt && (
            <>
              <h2>Revoke</h2>
              <Revoke
                serial={serial}
                onDone={(t) => {
                  setDone(t);
                  reload();
                }}
              />
            </>
          )}
          <h2>Certificate (PEM)</h2>
          <pre>{c.pem}</pre>
          <h2>Chain</h2>
          {c.chain.map((x) => (
            <details key={x.subject}>
              <summary>{x.subject}</summary>
              <pre>{x.pem}</pre>
            </details>
          ))}
        </>
      )}
    </>
  );
}
