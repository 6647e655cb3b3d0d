import type { Express, Request, Response } from 'express';

/** What PKI publishing needs: CA certificates and their latest CRLs, by slug. */
export interface PkiSource {
  certificate(slug: string): Promise<Uint8Array | null>;
  crl(slug: string): Promise<Uint8Array | null>;
  /** The newest signed audit checkpoint (JSON, docs/audit.md), or null before the first. */
  auditCheckpoint?(): Promise<string | null>;
}

// Slugs are [A-Za-z0-9_.-]; anything else (path traversal, encoded slashes) is a plain 404. A `+`
// before `.crl` is ADCS's name for the delta CRL (`<ca>+.crl`), served as `<ca>-delta.crl`. After
// a renewal, ADCS's index suffix: `<ca>(n).crt` (certificate index n), `<ca>(k).crl`, `<ca>(k)+.crl`
// and `<ca>(k)-delta.crl` (key index k; docs/ca-ceremonies.md).
const PKI_PATH = /^\/pki\/([A-Za-z0-9_.-]{1,128}(?:\(\d{1,4}\)(?:-delta)?)?)(\+?)\.(crt|crl)$/;

/** AIA (caIssuers) and CDP targets: `/pki/<ca>.crt` (DER) and `/pki/<ca>.crl` (DER). */
export function mountPki(app: Express, source: PkiSource): void {
  // The newest audit checkpoint, for anyone to keep a copy outside the database (docs/audit.md).
  app.get('/pki/audit/checkpoint.json', async (_req: Request, res: Response) => {
    const body = source.auditCheckpoint ? await source.auditCheckpoint() : null;
    if (!body) {
      res.status(404).type('text/plain').send('no audit checkpoint yet\n');
      return;
    }
    res.status(200).type('application/json').set('cache-control', 'no-store').send(body + '\n');
  });
  app.get(/^\/pki\/.*/, async (req: Request, res: Response) => {
    const m = PKI_PATH.exec(req.path);
    if (!m) {
      res.status(404).type('text/plain').send('not found\n');
      return;
    }
    const [, slug, plus, ext] = m;
    const body = ext === 'crt' ? (plus ? null : await source.certificate(slug!)) : await source.crl(plus ? `${slug}-delta` : slug!);
    if (!body) {
      res.status(404).type('text/plain').send('not found\n');
      return;
    }
    res
      .status(200)
      .type(ext === 'crt' ? 'application/pkix-cert' : 'application/pkix-crl')
      .set('cache-control', ext === 'crl' ? 'public, max-age=300' : 'public, max-age=86400')
      .send(Buffer.from(body));
  });
}
