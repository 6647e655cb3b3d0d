import { useState } from 'preact/hooks';
import { message, ErrorBox } from '../shared/ui.js';
import { API, call, type RequestView } from './api.js';
import { saveFile } from './downloads.js';
import { keyring } from './keyring.js';
import { pemBlocks } from './pem.js';
import { buildPkcs12 } from './pkcs12.js';

/** What became of a request: issued (downloads), pending (its ID, check again), or denied (why). */
export function Result({ request, onUpdate }: { request: RequestView; onUpdate: (r: RequestView) => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const id = request.requestId;

  const check = async () => {
    if (!id) return;
    setBusy(true);
    setError('');
    try {
      onUpdate(await call<RequestView>('GET', `/requests/${encodeURIComponent(id)}`));
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="result-title">
      <h1 id="result-title" tabIndex={-1}>{request.status === 'issued' ? 'Certificate issued' : request.status === 'pending' ? 'Request pending' : 'Request denied'}</h1>
      <dl class="facts">
        {id ? (
          <>
            <dt>Request ID</dt>
            <dd id="request-id">{id}</dd>
          </>
        ) : null}
        <dt>Status</dt>
        <dd>
          <span class={`status ${request.status}`}>{request.status}</span>
          {request.status === 'issued' ? null : (
            <>
              {' — '}
              <span id="message">{request.message}</span>
            </>
          )}
        </dd>
        {request.serial ? (
          <>
            <dt>Serial number</dt>
            <dd class="mono">{request.serial}</dd>
          </>
        ) : null}
      </dl>
      {request.status === 'pending' ? (
        <>
          <p>A certificate manager must approve this request. Note its ID; you can collect the certificate here later (My requests), or with the request ID from another enrollment client (certreq, opences req retrieve).</p>
          <button type="button" disabled={busy} onClick={() => void check()}>
            Check status
          </button>
        </>
      ) : null}
      {request.status === 'issued' && id ? <Downloads id={id} request={request} /> : null}
      <ErrorBox error={error} />
    </section>
  );
}

function Downloads({ id, request }: { id: string; request: RequestView }) {
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState('');
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const key = keyring.get(id);

  const savePkcs12 = async () => {
    setError('');
    if (!key || !request.certificate) return;
    if (password.length < 8) return setError('choose a password of at least 8 characters');
    if (password !== confirm) return setError('the passwords differ');
    setBusy(true);
    try {
      const [certificate] = pemBlocks(request.certificate, 'CERTIFICATE');
      const chain = (request.chain ?? []).flatMap((c) => pemBlocks(c, 'CERTIFICATE'));
      const pfx = await buildPkcs12({ privateKey: key, certificate: certificate!, chain, password, friendlyName: `request ${id}` });
      saveFile(`request-${id}.p12`, pfx, 'application/x-pkcs12');
      // Saved: the key is in the file now and leaves page memory.
      keyring.drop(id);
      setPassword('');
      setConfirm('');
      setSaved(true);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h2>Download</h2>
      <ul class="downloads">
        <li>
          <a href={`${API}/requests/${encodeURIComponent(id)}/certificate.pem`} download>
            Certificate and chain (PEM)
          </a>
        </li>
        <li>
          <a href={`${API}/requests/${encodeURIComponent(id)}/certificate.p7b`} download>
            Certificate and chain (PKCS#7, DER)
          </a>
        </li>
      </ul>
      {key ? (
        <form
          class="pkcs12"
          onSubmit={(e) => {
            e.preventDefault();
            void savePkcs12();
          }}
        >
          <h2>Save with the private key (PKCS#12)</h2>
          <p class="hint">Built in this browser; the password encrypts the key (AES-256, PBKDF2-SHA256).</p>
          <label for="p12-password">Password</label>
          <input id="p12-password" type="password" autocomplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          <label for="p12-confirm">Password again</label>
          <input id="p12-confirm" type="password" autocomplete="new-password" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
          <button type="submit" class="primary" disabled={busy}>
            Download PKCS#12
          </button>
        </form>
      ) : null}
      {saved ? <p role="status">PKCS#12 saved; the private key is no longer kept in this page.</p> : null}
      <ErrorBox error={error} />
    </>
  );
}
