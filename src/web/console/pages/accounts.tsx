import { useState } from 'preact/hooks';
import { call } from '../../shared/api.js';
import { ErrorBox, Loading, Notice, Table, fmtDate, message, useLoad } from '../../shared/ui.js';

interface Account {
  name: string;
  groups: string[];
  email: string | null;
  disabled: boolean;
  createdAt: string;
}

/** A new local account; the password (optional: certificate-only accounts have none) is sent once and never shown again. */
function AddAccount({ onDone }: { onDone: (name: string) => void }) {
  const empty = { name: '', groups: '', email: '', password: '' };
  const [form, setForm] = useState(empty);
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const groups = form.groups.split(',').map((g) => g.trim()).filter(Boolean);
      await call('/api/v1/accounts', { json: { name: form.name.trim(), groups, ...(form.email ? { email: form.email.trim() } : {}), ...(form.password ? { password: form.password } : {}) } });
      setForm(empty);
      onDone(form.name.trim());
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <form class="filters" onSubmit={(e) => void submit(e)} aria-label="Add an account">
      <div>
        <label for="acc-name">Name</label>
        <input id="acc-name" value={form.name} onInput={set('name')} required size={14} />
      </div>
      <div>
        <label for="acc-groups">Groups (comma-separated)</label>
        <input id="acc-groups" value={form.groups} onInput={set('groups')} size={18} />
      </div>
      <div>
        <label for="acc-email">E-mail</label>
        <input id="acc-email" type="email" value={form.email} onInput={set('email')} size={18} />
      </div>
      <div>
        <label for="acc-password">Password</label>
        <input id="acc-password" type="password" autocomplete="new-password" value={form.password} onInput={set('password')} size={14} />
      </div>
      <button type="submit" class="primary">
        Add account
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

export function Accounts() {
  const { data, error, loading, reload } = useLoad(() => call<Account[]>('/api/v1/accounts'), []);
  const [actionError, setActionError] = useState<string | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const flip = async (a: Account) => {
    setActionError(null);
    try {
      await call(`/api/v1/accounts/${encodeURIComponent(a.name)}/${a.disabled ? 'enable' : 'disable'}`, { method: 'POST' });
      reload();
    } catch (e) {
      setActionError(message(e));
    }
  };
  return (
    <>
      <h1>Accounts</h1>
      <p class="muted">Local accounts (username and password sign-in). Directory accounts live in Active Directory or LDAP.</p>
      <h2>Add an account</h2>
      <AddAccount
        onDone={(name) => {
          setAdded(`Account ${name} added.`);
          reload();
        }}
      />
      <Notice text={added} />
      <ErrorBox error={error ?? actionError} />
      <Loading when={loading} />
      {data && (
        <Table caption="Local accounts" head={['Name', 'Groups', 'E-mail', 'Created', 'State', 'Change']}>
          {data.map((a) => (
            <tr key={a.name}>
              <td>{a.name}</td>
              <td>{a.groups.join(', ') || '—'}</td>
              <td>{a.email ?? '—'}</td>
              <td>{fmtDate(a.createdAt)}</td>
              <td>{a.disabled ? 'disabled' : 'enabled'}</td>
              <td>
                <button type="button" onClick={() => void flip(a)} aria-label={`${a.disabled ? 'Enable' : 'Disable'} account ${a.name}`}>
                  {a.disabled ? 'Enable' : 'Disable'}
                </button>
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
