import { useEffect, useState } from 'preact/hooks';
import { message, ErrorBox } from '../shared/ui.js';
import { call, type RequestView, type TemplateOffer } from './api.js';
import { buildCsr } from './csr.js';
import { generateKeyPair, keyChoices, type HashName, type KeyChoice } from './keys.js';
import { keyring } from './keyring.js';
import { toPem } from './pem.js';
import { parseSans } from './san.js';

const HASH: Record<TemplateOffer['hashAlgorithm'], HashName> = { SHA256: 'SHA-256', SHA384: 'SHA-384', SHA512: 'SHA-512' };
const KEY_LABEL: Record<KeyChoice, string> = { 'ECDSA-P256': 'ECDSA P-256', 'ECDSA-P384': 'ECDSA P-384', 'RSA-2048': 'RSA 2048 bits', 'RSA-3072': 'RSA 3072 bits' };

/**
 * A new request: a template the signed-in principal may enroll for, then either a key pair made
 * here (WebCrypto; the private key stays in this page) and a CSR built here, or a pasted CSR.
 */
export function NewRequest({ onOutcome }: { onOutcome: (r: RequestView) => void }) {
  const [templates, setTemplates] = useState<TemplateOffer[] | null>(null);
  const [name, setName] = useState('');
  const [mode, setMode] = useState<'generate' | 'paste'>('generate');
  const [key, setKey] = useState<KeyChoice | ''>('');
  const [commonName, setCommonName] = useState('');
  const [sanText, setSanText] = useState('');
  const [pasted, setPasted] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');

  useEffect(() => {
    call<{ templates: TemplateOffer[] }>('GET', '/templates').then(
      (r) => {
        setTemplates(r.templates);
        if (r.templates[0]) setName(r.templates[0].name);
      },
      (e: unknown) => setError(message(e)),
    );
  }, []);

  const template = templates?.find((t) => t.name === name);
  const choices = template ? keyChoices(template) : [];
  useEffect(() => {
    if (choices.length && !choices.includes(key as KeyChoice)) setKey(choices.includes('ECDSA-P256') ? 'ECDSA-P256' : choices[0]!);
  }, [name, templates]);

  const submit = async () => {
    if (!template) return;
    setError('');
    let privateKey: CryptoKey | undefined;
    let csr: string;
    try {
      if (mode === 'generate') {
        if (!key) throw new Error('choose a key type');
        setBusy('Generating the key pair in this browser…');
        // Checked before a key is made: a typo costs no key generation.
        const sans = template.enrolleeSupplies ? parseSans(sanText, template.allowedSanTypes) : [];
        const keys = await generateKeyPair(key, HASH[template.hashAlgorithm]);
        csr = toPem('CERTIFICATE REQUEST', await buildCsr({ keys, hash: HASH[template.hashAlgorithm], commonName: commonName.trim(), sans }));
        privateKey = keys.privateKey;
      } else {
        if (!pasted.trim()) throw new Error('paste a certificate request (PEM)');
        csr = pasted;
      }
      setBusy('Submitting the request…');
      const out = await call<RequestView>('POST', '/requests', { template: template.name, csr });
      if (privateKey && out.requestId && out.status !== 'denied') keyring.keep(out.requestId, privateKey);
      onOutcome(out);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy('');
    }
  };

  if (templates === null && !error) return <p role="status">Loading templates…</p>;
  return (
    <section class="card" aria-labelledby="new-title">
      <h1 id="new-title" tabIndex={-1}>Request a certificate</h1>
      {templates && templates.length === 0 ? <p>There is no certificate template you may enroll for.</p> : null}
      {templates && templates.length > 0 ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <label for="template">Certificate template</label>
          <select id="template" value={name} onChange={(e) => setName(e.currentTarget.value)}>
            {templates.map((t) => (
              <option value={t.name} key={t.name}>
                {t.displayName}
                {t.approval ? ' (needs approval)' : ''}
              </option>
            ))}
          </select>
          {template?.approval ? <p class="hint">A certificate manager must approve requests for this template: you get a request ID to collect the certificate later.</p> : null}

          <fieldset>
            <legend>Key pair</legend>
            <label class="choice">
              <input type="radio" name="mode" value="generate" checked={mode === 'generate'} onChange={() => setMode('generate')} /> Generate a key pair in this browser
            </label>
            <label class="choice">
              <input type="radio" name="mode" value="paste" checked={mode === 'paste'} onChange={() => setMode('paste')} /> Paste a certificate request (CSR) made elsewhere
            </label>
          </fieldset>

          {mode === 'generate' ? (
            <>
              <label for="key">Key type</label>
              <select id="key" value={key} onChange={(e) => setKey(e.currentTarget.value as KeyChoice)}>
                {choices.map((c) => (
                  <option value={c} key={c}>
                    {KEY_LABEL[c]}
                  </option>
                ))}
              </select>
              <p class="hint">The private key never leaves this page. Keep the page open until you have saved it as a PKCS#12 file.</p>
              {template?.enrolleeSupplies ? (
                <>
                  <label for="cn">Common name</label>
                  <input id="cn" value={commonName} placeholder="www.example.com" onInput={(e) => setCommonName(e.currentTarget.value)} />
                  {template.allowedSanTypes.length ? (
                    <>
                      <label for="sans">{sanLabel(template.allowedSanTypes)}</label>
                      <input id="sans" value={sanText} placeholder={template.allowedSanTypes.includes('dns') ? 'www.example.com example.com' : `${template.allowedSanTypes[0]}:…`} onInput={(e) => setSanText(e.currentTarget.value)} />
                    </>
                  ) : null}
                </>
              ) : (
                <p class="hint">Subject and names come from your account.</p>
              )}
            </>
          ) : (
            <>
              <label for="csr">Certificate request (PKCS#10, PEM)</label>
              <textarea id="csr" rows={10} spellcheck={false} value={pasted} placeholder="-----BEGIN CERTIFICATE REQUEST-----" onInput={(e) => setPasted(e.currentTarget.value)} />
            </>
          )}
          <button type="submit" class="primary" disabled={busy !== ''}>
            Submit request
          </button>
        </form>
      ) : null}
      {busy ? <p role="status">{busy}</p> : null}
      <ErrorBox error={error} />
    </section>
  );
}

/** "DNS names (subject alternative names …)", naming the other types the template takes. */
function sanLabel(types: string[]): string {
  const others = types.filter((t) => t !== 'dns').map((t) => `${t}:…`);
  const head = types.includes('dns') ? 'DNS names' : 'Names';
  return `${head} (subject alternative names, separated by spaces or commas${others.length ? `; also ${others.join(', ')}` : ''})`;
}
