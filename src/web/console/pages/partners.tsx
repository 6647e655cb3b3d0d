import { useState } from 'preact/hooks';
import { call } from '../../shared/api.js';
import { ErrorBox, Loading, Table, fmtDate, message, useLoad } from '../../shared/ui.js';

interface Partner {
  name: string;
  roots: number;
  intermediates: number;
  mapFrom: string;
  templates: string[];
  enabled: boolean;
  crlUrls: string[];
  crls: { source: string; issuer: string; thisUpdate: string; nextUpdate: string | null }[];
}

export function Partners() {
  const { data, error, loading, reload } = useLoad(() => call<Partner[]>('/api/v1/partners'), []);
  const [actionError, setActionError] = useState<string | null>(null);
  const flip = async (p: Partner) => {
    setActionError(null);
    try {
      await call(`/api/v1/partners/${encodeURIComponent(p.name)}/${p.enabled ? 'suspend' : 'resume'}`, { method: 'POST' });
      reload();
    } catch (e) {
      setActionError(message(e));
    }
  };
  return (
    <>
      <h1>Partners</h1>
      <p class="muted">Foreign organisations whose users enroll with their own certificates. Add them with <code>opences partner add</code> or the API.</p>
      <ErrorBox error={error ?? actionError} />
      <Loading when={loading} />
      {data && data.length === 0 && <p>No partners.</p>}
      {data && data.length > 0 && (
        <Table caption="Partner organisations" head={['Name', 'Roots', 'Names from', 'Templates', 'CRLs', 'State', 'Change']}>
          {data.map((p) => (
            <tr key={p.name}>
              <td>{p.name}</td>
              <td>
                {p.roots} root{p.roots === 1 ? '' : 's'}, {p.intermediates} intermediate{p.intermediates === 1 ? '' : 's'}
              </td>
              <td>{p.mapFrom}</td>
              <td>{p.templates.join(', ') || '—'}</td>
              <td>{p.crls.length ? p.crls.map((c) => `${c.issuer} (${fmtDate(c.thisUpdate)})`).join('; ') : p.crlUrls.join(', ') || '—'}</td>
              <td>{p.enabled ? 'active' : 'suspended'}</td>
              <td>
                <button type="button" onClick={() => void flip(p)} aria-label={`${p.enabled ? 'Suspend' : 'Resume'} partner ${p.name}`}>
                  {p.enabled ? 'Suspend' : 'Resume'}
                </button>
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
