import { useState } from 'preact/hooks';
import { call } from '../../shared/api.js';
import { ErrorBox, Loading, message, useLoad } from '../../shared/ui.js';
import { StackedBars, type SeriesData } from '../chart.js';
import { Link } from '../link.js';
import type { Role } from '../session.js';

interface Overview {
  now: string;
  issuedPerDay: SeriesData;
  expiringPerWeek: SeriesData;
  pendingRequests: number;
  crl: { number: number; thisUpdate: string; nextUpdate: string; ageSeconds: number; overdue: boolean } | null;
  audit: { head: { seq: number; hash: string } | null; checkpoint: { seq: number; at: string; behind: number } | null };
}

type Verify = { ok: boolean; count?: number; reason?: string; firstBrokenSeq?: number } & Record<string, unknown>;

const age = (s: number): string => (s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} days`);
const day = (iso: string): string => iso.slice(0, 10);

export function Overview({ role }: { role: Role }) {
  const { data, error, loading } = useLoad(() => call<Overview>('/api/v1/overview'), []);
  const [verify, setVerify] = useState<Verify | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const [verifying, setVerifying] = useState(false);
  const runVerify = async () => {
    setVerifying(true);
    setVerifyError(null);
    try {
      setVerify(await call<Verify>('/api/v1/audit/verify'));
    } catch (e) {
      setVerifyError(message(e));
    } finally {
      setVerifying(false);
    }
  };
  return (
    <>
      <h1>Overview</h1>
      <ErrorBox error={error} />
      <Loading when={loading} />
      {data && (
        <>
          <div class="cards">
            <div class="card">
              <div>Pending requests</div>
              <div class="value" id="pending-count">
                {data.pendingRequests}
              </div>
              <Link to="/requests">Review the queue</Link>
            </div>
            <div class="card">
              <div>Latest CRL</div>
              {data.crl ? (
                <>
                  <div class="value">{age(data.crl.ageSeconds)} old</div>
                  <div class="muted">
                    number {data.crl.number}, next update {data.crl.nextUpdate.slice(0, 16).replace('T', ' ')}Z{data.crl.overdue ? ' — overdue' : ''}
                  </div>
                </>
              ) : (
                <div class="value">none yet</div>
              )}
            </div>
            <div class="card">
              <div>Audit chain</div>
              <div class="value">{data.audit.head ? `${data.audit.head.seq} events` : 'empty'}</div>
              <div class="muted">{data.audit.checkpoint ? `signed checkpoint at event ${data.audit.checkpoint.seq} (${data.audit.checkpoint.behind} behind)` : 'no signed checkpoint yet'}</div>
              {role === 'auditor' && (
                <>
                  <button type="button" onClick={() => void runVerify()} disabled={verifying}>
                    Verify the chain
                  </button>
                  {verify && (
                    <p class={verify.ok ? 'notice' : 'error'} role="status" id="verify-result">
                      {verify.ok ? `intact: ${String(verify.count ?? '')} events verified` : `BROKEN at event ${String(verify.firstBrokenSeq ?? '?')}: ${String(verify.reason ?? '')}`}
                    </p>
                  )}
                  <ErrorBox error={verifyError} />
                </>
              )}
            </div>
          </div>
          <StackedBars id="issued" title="Certificates issued per day (last 30 days)" data={data.issuedPerDay} bucketLabel={day} />
          <StackedBars id="expiring" title="Certificates expiring per week (next 13 weeks)" data={data.expiringPerWeek} bucketLabel={day} />
          <p>
            <Link to={`/certificates?status=valid&expiresBefore=${new Date(Date.parse(data.now) + 13 * 7 * 86_400_000).toISOString().slice(0, 10)}`}>List the certificates that expire in the next 13 weeks</Link>
          </p>
        </>
      )}
    </>
  );
}
