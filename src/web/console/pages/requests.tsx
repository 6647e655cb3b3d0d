import { useState } from 'preact/hooks';
import { call } from '../../shared/api.js';
import { ErrorBox, Loading, Notice, Table, fmtDate, message, useLoad } from '../../shared/ui.js';
import type { Role } from '../session.js';

interface Name {
  type: string;
  value: string;
}
interface RequestRow {
  id: string;
  status: string;
  requester: string;
  template: string | null;
  message: string;
  serial: string | null;
  submittedAt: string;
  resolvedBy: string | null;
}
interface RequestDetail extends RequestRow {
  order: { subject?: Name[]; sans?: Name[] } | null;
  csr?: { subject: string; sans: Name[]; key: { algorithm: string; bits: number; curve?: string } };
  dropped?: { subject?: Name[]; sans?: Name[] };
}

const names = (xs: Name[] | undefined): string => (xs && xs.length ? xs.map((x) => `${x.type}=${x.value}`).join(', ') : '—');
const sans = (xs: Name[] | undefined): string => (xs && xs.length ? xs.map((x) => `${x.type}:${x.value}`).join(', ') : '—');
const STATUSES = ['pending', 'issued', 'denied', 'failed'];

async function load(status: string): Promise<RequestDetail[]> {
  const rows = await call<RequestRow[]>('/api/v1/requests', { query: { status, limit: 50 } });
  // The queue shows what each request asks for: one detail call per row (50 at most).
  return Promise.all(rows.map((r) => call<RequestDetail>(`/api/v1/requests/${r.id}`)));
}

function Decide({ r, onDone }: { r: RequestDetail; onDone: (text: string) => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (what: 'approve' | 'deny') => {
    setBusy(true);
    setError(null);
    try {
      await call(`/api/v1/requests/${r.id}/${what}`, what === 'deny' ? { json: { reason } } : { method: 'POST' });
      onDone(`Request ${r.id} ${what === 'approve' ? 'approved' : 'denied'}.`);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <div class="row">
        <button type="button" class="primary" disabled={busy} onClick={() => void act('approve')} aria-label={`Approve request ${r.id}`}>
          Approve
        </button>
        <label class="visually-hidden" for={`reason-${r.id}`}>
          Reason for denying request {r.id}
        </label>
        <input id={`reason-${r.id}`} placeholder="reason" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} size={14} />
        <button type="button" class="danger" disabled={busy} onClick={() => void act('deny')} aria-label={`Deny request ${r.id}`}>
          Deny
        </button>
      </div>
      <ErrorBox error={error} />
    </div>
  );
}

export function Requests({ role }: { role: Role }) {
  const [status, setStatus] = useState('pending');
  const [done, setDone] = useState<string | null>(null);
  const { data, error, loading, reload } = useLoad(() => load(status), [status]);
  const canDecide = role === 'cert-manager' && status === 'pending';
  return (
    <>
      <h1>Requests</h1>
      <div class="filters">
        <div>
          <label for="status">Status</label>
          <select id="status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Notice text={done} />
      <ErrorBox error={error} />
      <Loading when={loading} />
      {data && data.length === 0 && <p>No {status} requests.</p>}
      {data && data.length > 0 && (
        <Table caption={`${status} requests`} head={['ID', 'Requester', 'Template', 'Subject', 'SANs', 'Key', 'Dropped by the RA', 'Submitted', ...(canDecide ? ['Decision'] : ['Result'])]}>
          {data.map((r) => (
            <tr key={r.id} data-request-id={r.id}>
              <td>{r.id}</td>
              <td>{r.requester}</td>
              <td>{r.template ?? '—'}</td>
              <td class="mono">{r.order?.subject ? names(r.order.subject) : (r.csr?.subject ?? '—')}</td>
              <td class="mono">{sans(r.order?.sans ?? r.csr?.sans)}</td>
              <td>{r.csr ? `${r.csr.key.algorithm} ${r.csr.key.curve ?? r.csr.key.bits}` : '—'}</td>
              <td class="mono">{r.dropped && (r.dropped.subject || r.dropped.sans) ? [r.dropped.subject ? `subject ${names(r.dropped.subject)}` : '', r.dropped.sans ? `SANs ${sans(r.dropped.sans)}` : ''].filter(Boolean).join('; ') : 'nothing'}</td>
              <td>{fmtDate(r.submittedAt)}</td>
              <td>
                {canDecide ? (
                  <Decide
                    r={r}
                    onDone={(t) => {
                      setDone(t);
                      reload();
                    }}
                  />
                ) : (
                  <span>
                    {r.message}
                    {r.serial ? ` (serial ${r.serial})` : ''}
                    {r.resolvedBy ? ` — by ${r.resolvedBy}` : ''}
                  </span>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
      {role !== 'cert-manager' && <p class="muted">Only certificate managers approve or deny requests.</p>}
    </>
  );
}
