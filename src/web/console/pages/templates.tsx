import { useEffect, useRef, useState } from 'preact/hooks';
import { Problem, call } from '../../shared/api.js';
import { ErrorBox, Loading, Notice, Table, message, useLoad } from '../../shared/ui.js';
import { Link } from '../link.js';
import type { Role } from '../session.js';

interface TemplateRow {
  name: string;
  displayName: string;
  oid: string;
  enabled: boolean;
  pendAllRequests: boolean;
}
interface Finding {
  id: string;
  template: string;
  reason: string;
  fix: string;
}

function Toggle({ t, onDone }: { t: TemplateRow; onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const flip = async () => {
    try {
      await call(`/api/v1/templates/${encodeURIComponent(t.name)}/${t.enabled ? 'disable' : 'enable'}`, { method: 'POST' });
      onDone();
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <>
      <button type="button" onClick={() => void flip()} aria-label={`${t.enabled ? 'Disable' : 'Enable'} template ${t.name}`}>
        {t.enabled ? 'Disable' : 'Enable'}
      </button>
      <ErrorBox error={error} />
    </>
  );
}

export function Templates({ role }: { role: Role }) {
  const { data, error, loading, reload } = useLoad(() => call<TemplateRow[]>('/api/v1/templates'), []);
  return (
    <>
      <h1>Templates</h1>
      <ErrorBox error={error} />
      <Loading when={loading} />
      {data && (
        <Table caption="Certificate templates" head={['Name', 'Display name', 'OID', 'Enabled', 'Approval', ...(role === 'ca-admin' ? ['Change'] : [])]}>
          {data.map((t) => (
            <tr key={t.name}>
              <td>
                <Link to={`/templates/${encodeURIComponent(t.name)}`}>{t.name}</Link>
              </td>
              <td>{t.displayName}</td>
              <td class="mono">{t.oid}</td>
              <td>{t.enabled ? 'yes' : 'no'}</td>
              <td>{t.pendAllRequests ? 'CA manager' : 'automatic'}</td>
              {role === 'ca-admin' && (
                <td>
                  <Toggle t={t} onDone={reload} />
                </td>
              )}
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

/** Where a refused YAML went wrong, as the server says (problem field and line). */
interface FieldError {
  detail: string;
  field?: string;
  line?: number;
  risks: string[];
}

export function TemplateDetail({ name, role }: { name: string; role: Role }) {
  const { data, error, loading, reload } = useLoad(() => call<{ yaml: string; template: { enabled: boolean } }>(`/api/v1/templates/${encodeURIComponent(name)}`), [name]);
  const [yaml, setYaml] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<FieldError | null>(null);
  const [findings, setFindings] = useState<Finding[] | null>(null);
  const [accept, setAccept] = useState<string[]>([]);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const text = yaml ?? data?.yaml ?? '';
  const editable = role === 'ca-admin';
  const editor = useRef<HTMLTextAreaElement>(null);
  // An error with a line: the cursor goes to that line of the YAML, where the field is.
  useEffect(() => {
    const el = editor.current;
    if (!el || fieldError?.line === undefined) return;
    const lines = el.value.split('\n');
    const start = lines.slice(0, fieldError.line - 1).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + (lines[fieldError.line - 1]?.length ?? 0));
  }, [fieldError]);

  const refused = (e: unknown) => {
    if (e instanceof Problem) setFieldError({ detail: e.detail, ...(e.field ? { field: e.field } : {}), ...(e.line ? { line: e.line } : {}), risks: [...new Set(e.detail.match(/\bESC\d{1,2}\b/g) ?? [])] });
    else setFieldError({ detail: message(e), risks: [] });
  };
  const lint = async () => {
    setBusy(true);
    setFieldError(null);
    setDone(null);
    try {
      const r = await call<{ findings: Finding[] }>('/api/v1/templates/lint', { text, contentType: 'application/yaml' });
      setFindings(r.findings);
    } catch (e) {
      refused(e);
    } finally {
      setBusy(false);
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setFieldError(null);
    setDone(null);
    try {
      await call('/api/v1/templates/import', { text, contentType: 'application/yaml', query: { acceptRisk: accept.length ? accept.join(',') : undefined } });
      setDone('Saved.');
      setYaml(null);
      setAccept([]);
      reload();
    } catch (err) {
      refused(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <p>
        <Link to="/templates">← Templates</Link>
      </p>
      <h1>Template {name}</h1>
      <ErrorBox error={error} />
      <Loading when={loading} />
      <Notice text={done} />
      {data && (
        <form onSubmit={(e) => void save(e)}>
          <label for="template-yaml">{editable ? 'Template (YAML, as opences template export writes it)' : 'Template (YAML)'}</label>
          <textarea
            ref={editor}
            id="template-yaml"
            rows={Math.min(40, Math.max(12, text.split('\n').length + 1))}
            value={text}
            readOnly={!editable}
            spellcheck={false}
            aria-invalid={fieldError ? 'true' : undefined}
            aria-describedby={fieldError ? 'template-error' : undefined}
            onInput={(e) => setYaml((e.target as HTMLTextAreaElement).value)}
          />
          {fieldError && (
            <div id="template-error" class="field-error" role="alert">
              {fieldError.field && !fieldError.detail.includes(fieldError.field.replace(/^body\./, '')) && <span class="mono">{fieldError.field}: </span>}
              <span class="pre">{fieldError.line !== undefined && !/^line \d+/.test(fieldError.detail) ? `line ${fieldError.line}: ` : ''}{fieldError.detail}</span>
              {fieldError.risks.length > 0 && (
                <fieldset>
                  <legend>Store it anyway, accepting these risks (audited)</legend>
                  {fieldError.risks.map((r) => (
                    <label key={r} class="row">
                      <input type="checkbox" checked={accept.includes(r)} onChange={(e) => setAccept((e.target as HTMLInputElement).checked ? [...accept, r] : accept.filter((x) => x !== r))} /> {r}
                    </label>
                  ))}
                </fieldset>
              )}
            </div>
          )}
          <p class="row">
            <button type="button" onClick={() => void lint()} disabled={busy}>
              Lint
            </button>
            {editable && (
              <button type="submit" class="primary" disabled={busy}>
                Save
              </button>
            )}
          </p>
          {findings && (findings.length === 0 ? <p class="notice">The lint finds nothing.</p> : (
            <ul aria-label="Lint findings">
              {findings.map((f) => (
                <li key={f.id + f.template}>
                  <strong>{f.id}</strong> {f.reason} <span class="muted">Fix: {f.fix}</span>
                </li>
              ))}
            </ul>
          ))}
        </form>
      )}
    </>
  );
}
