import type { Express, Request, Response } from 'express';
import type { Core } from '../../app/core-types.js';
import { webKit } from '../web/index.js';
import { SECURITY_HEADERS } from '../web/headers.js';
import { enrollApi } from './api.js';

export const ENROLL_PATH = '/enroll';

/**
 * Web enrollment (docs/web-enrollment.md), the certsrv counterpart, on nodes with the `ces` role:
 * one page (src/web/enroll/main.tsx) over the JSON API under /enroll/api.
 */
export function mountEnroll(app: Express, core: Core): void {
  const kit = webKit(app, core);
  app.use(`${ENROLL_PATH}/api`, enrollApi(core, kit));
  const page = (_req: Request, res: Response): void =>
    kit.page(res, 'enroll', { title: 'Certificate enrollment — opences', data: { caName: core.ca.info().name, kerberos: core.kerberos !== undefined } });
  // Express routes /enroll and /enroll/ alike (non-strict routing): the page's relative paths want the slash.
  app.get(ENROLL_PATH, (req, res) => {
    if (req.path.endsWith('/')) return page(req, res);
    res.set(SECURITY_HEADERS).redirect(301, `${ENROLL_PATH}/`);
  });
}
