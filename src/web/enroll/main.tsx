import { render } from 'preact';
import { pageData } from '../shared/api.js';
import '../shared/style.css';
import './enroll.css';
import { App, type PageData } from './app.js';

/** What the server put into the shell (src/http/enroll/index.ts), checked: it is only data. */
function data(): PageData {
  try {
    const d = pageData<Partial<PageData>>();
    return { caName: typeof d.caName === 'string' ? d.caName : 'opences', kerberos: d.kerberos === true };
  } catch {
    return { caName: 'opences', kerberos: false };
  }
}

const root = document.getElementById('app');
if (root) render(<App data={data()} />, root);
