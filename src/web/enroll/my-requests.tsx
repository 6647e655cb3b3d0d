import { useEffect, useState } from 'preact/hooks';
import { message, ErrorBox } from '../shared/ui.js';
import { call, type RequestSummary, type RequestView } from './api.js';

/** The signed-in principal's latest requests, and collecting one by its ID. */
export function MyRequests({ onOpen }: { onOpen: (r: RequestView) => void }) {
  const [rows, setRows] = useState<RequestSummary[] | null>(null);
  const [lookup, setLookup] = useState('');
  const [error, setError] = useState('');

  useEffect(() => {
    call<{ requests: RequestSummary[] }>('GET', '/requests').then(
      (r) => setRows(r.requests),
      (e: unknown) => setError(message(e)),
    );
  }, []);

  const open = async (id: string) => {
    setError('');
    try {
      onOpen(await call<RequestView>('GET', `/requests/${encodeURIComponent(id.trim())}`));
    } catch (e) {
      setError(message(e));
    }
  };

  return (
    <section class="card" aria-labelledby="requests-title">
      <h1 id="requests-title" tabIndex={-1}>My requests</h1>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          void open(lookup);
        }}
      >
        <label for="lookup">Request ID</label>
        <input id="lookup" inputMode="numeric" pattern="[0-9]+" required value={lookup} onInput={(e) => setLookup(e.currentTarget.value)} />
        <button type="submit">Collect</button>
      </form>
      <ErrorBox error={error} />
      {rows === null && !error ? <p role="status">Loading…</p> : null}
      {rows && rows.length === 0 ? <p>You have made no requests yet.</p> : null}
      {rows && rows.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Your latest requests, newest first</caption>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">Template</th>
                <th scope="col">Status</th>
                <th scope="col">Submitted</th>
                <th scope="col">
                  <span class="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.requestId}>
                  <td>{r.requestId}</td>
                  <td>{r.template ?? '—'}</td>
                  <td>
                    <span class={`status ${r.status}`}>{r.status}</span>
                    {r.status === 'denied' ? <span class="reason"> {r.message}</span> : null}
                  </td>
                  <td>{new Date(r.submittedAt).toLocaleString()}</td>
                  <td>
                    <button type="button" class="link" aria-label={`Open request ${r.requestId}`} onClick={() => void open(r.requestId)}>
                      Open
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
