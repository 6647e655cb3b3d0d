import { useState } from 'preact/hooks';
import { call } from '../../shared/api.js';
import { ErrorBox, Loading, Table, fmtDate, message, useLoad } from '../../shared/ui.js';

interface Account {
  name: string;
  groups: string[];
  email: string | null;
  disabled: boolean;
  createdAt: string;
}

export function Accounts() {
  const { data, error, loading, reload } = useLoad(() => call<Account[]>('/api/v1/accounts'), []);
  const [actionError, setActionError] = useState<string | null>(null);
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
