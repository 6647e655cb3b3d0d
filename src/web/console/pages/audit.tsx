import { useState } from 'preact/hooks';
import type { AuditEvent } from '../../../audit/event.js';
import { call } from '../../shared/api.js';
import { ErrorBox, Loading, Pager, Table, fmtDate, message, useLoad } from '../../shared/ui.js';

const PAGE = 100;

/** An event as GET /api/v1/audit/events answers it: the recorded fields, its place, its time as text. */
interface Event extends AuditEvent {
  seq: number;
  at: string;
}
interface Report {
  ok: boolean;
  count: number;
  firstBrokenSeq?: number;
  reason?: string;
  checkpoint: { seq: number; at: string; source: string } | null;
}

export function Audit() {
  const [filter, setFilter] = useState({ type: '', principal: '' });
  const [applied, setApplied] = useState(filter);
  const [offset, setOffset] = useState(0);
  const { data, error, loading } = useLoad(() => call<Event[]>('/api/v1/audit', { query: { ...applied, limit: PAGE, offset } }), [applied.type, applied.principal, offset]);
  const [report, setReport] = useState<Report | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const verify = async () => {
    setVerifyError(null);
    try {
      setReport(await call<Report>('/api/v1/audit/verify'));
    } catch (e) {
      setVerifyError(message(e));
    }
  };
  const sorted = data ? [...data].sort((a, b) => b.seq - a.seq) : null;
  return (
    <>
      <h1>Audit log</h1>
      <p class="row">
        <button type="button" onClick={() => void verify()}>
          Verify the chain
        </button>
      </p>
      {report && (
        <p class={report.ok ? 'notice' : 'error'} role="status" id="audit-verify">
          {report.ok ? `Intact: ${report.count} events; ${report.checkpoint ? `latest signed checkpoint at event ${report.checkpoint.seq} (${report.checkpoint.source})` : 'no signed checkpoint yet'}.` : `BROKEN at event ${report.firstBrokenSeq ?? '?'}: ${report.reason ?? ''}`}
        </p>
      )}
      <ErrorBox error={verifyError} />
      <form
        class="filters"
        role="search"
        aria-label="Filter audit events"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setApplied(filter);
        }}
      >
        <div>
          <label for="a-type">Event type</label>
          <input id="a-type" value={filter.type} onInput={(e) => setFilter({ ...filter, type: (e.target as HTMLInputElement).value })} placeholder="certificate.revoke" />
        </div>
        <div>
          <label for="a-principal">Principal</label>
          <input id="a-principal" value={filter.principal} onInput={(e) => setFilter({ ...filter, principal: (e.target as HTMLInputElement).value })} />
        </div>
        <button type="submit" class="primary">
          Filter
        </button>
      </form>
      <ErrorBox error={error} />
      <Loading when={loading} />
      {sorted && (
        <Table caption="Latest audit events" head={['#', 'Time', 'Type', 'Outcome', 'Actor', 'Principal', 'Channel', 'Subject of the event', 'Reason']}>
          {sorted.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>{fmtDate(e.at)}</td>
              <td class="mono">{e.type}</td>
              <td>{e.outcome}</td>
              <td>{e.actor ?? '—'}</td>
              <td>{e.principal ?? '—'}</td>
              <td>{typeof e.details?.channel === 'string' ? e.details.channel : '—'}</td>
              <td class="mono">{[e.template && `template ${e.template}`, e.requestId && `request ${e.requestId}`, e.serial && `serial ${e.serial}`].filter(Boolean).join(', ') || '—'}</td>
              <td>{e.reason ?? ''}</td>
            </tr>
          ))}
        </Table>
      )}
      {data && <Pager offset={offset} limit={PAGE} count={data.length} onChange={setOffset} what="Audit events" />}
    </>
  );
}
