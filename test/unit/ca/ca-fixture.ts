/** A real CA on a fresh PostgreSQL schema, for the engine tests. */
import { freshTestDb, type TestDb } from '../../helpers/db.js';
import { pemOf, tmp } from '../../helpers/openssl.js';
import { initCa, openCaSigner, type CaHierarchy } from '../../../src/ca/init.js';
import { FileKeyStore } from '../../../src/ca/keys/file.js';
import { LocalCa, type LocalCaOptions } from '../../../src/ca/engine.js';
import { systemClock, type Clock } from '../../../src/clock.js';
import type { CaKeyType, IssuanceOrder } from '../../../src/ca/types.js';
import { insertRequest } from '../../../src/store/request-repo.js';
import type { Queryable } from '../../../src/store/db.js';
import { defaultTemplates } from '../../../src/policy/defaults.js';
import type { Template } from '../../../src/policy/template.js';

/**
 * The templates an engine under test reads: the default WebServer template (OID and revision as
 * order() says), changed by `over`.
 */
export function fixtureTemplates(over: (t: Template) => void = () => {}): LocalCaOptions['templates'] {
  const t = defaultTemplates('1.3.6.1.4.1.311.21.8.1.2').find((x) => x.name === 'WebServer')!;
  t.minorRevision = 5;
  over(t);
  return async (name) => (name === t.name ? t : null);
}

export const PKI = 'http://pki.example.test';

export interface CaFixture {
  db: TestDb;
  dir: string;
  keyStore: FileKeyStore;
  h: CaHierarchy;
  ca: LocalCa;
  rootPem: string;
  issuingPem: string;
  /** A fresh engine over the same CA with other options (clock, randomness…). */
  engine(over?: Partial<LocalCaOptions>): Promise<LocalCa>;
}

export async function setupCa(keyType: CaKeyType, opts: { clock?: Clock; poolSize?: number } = {}): Promise<CaFixture> {
  const db = await freshTestDb({ poolSize: opts.poolSize });
  const dir = tmp();
  const keyStore = new FileKeyStore(dir);
  const clock = opts.clock ?? systemClock;
  const h = await initCa({ db, keyStore, keyType, caName: 'Test Issuing CA', rootName: 'Test Root CA', pkiBaseUrl: PKI, clock });
  const signer = await openCaSigner(keyStore, h.issuing);
  const rootSigner = await openCaSigner(keyStore, h.root);
  const engine = async (over: Partial<LocalCaOptions> = {}): Promise<LocalCa> =>
    new LocalCa({ db, clock, signer, info: h.info, issuingCaId: h.issuing.id, pkiBaseUrl: PKI, templates: fixtureTemplates(), root: { signer: rootSigner, caId: h.root.id }, ...over });
  return { db, dir, keyStore, h, ca: await engine(), rootPem: pemOf(h.info.rootCertificate), issuingPem: pemOf(h.info.issuingCertificate), engine };
}

/** The RA's part: a pending request row whose id is the order id. */
export function newRequestId(db: Queryable, csrDer: Uint8Array, submittedAt = new Date()): Promise<string> {
  return insertRequest(db, { status: 'pending', requester: 'alice', authMethod: 'username', template: 'WebServer', requestFormat: 'pkcs10', rawRequest: csrDer, csrDer, disposition: 5, dispositionMessage: 'Taken Under Submission', submittedAt });
}

export function order(id: string, csrDer: Uint8Array, over: Partial<IssuanceOrder> = {}, now = Date.now()): IssuanceOrder {
  return {
    orderId: id,
    template: 'WebServer',
    templateInfo: { oid: '1.3.6.1.4.1.311.21.8.1.2.3', majorRevision: 100, minorRevision: 5 },
    csrDer,
    subject: [{ type: 'CN', value: 'www.example.test' }],
    sans: [{ type: 'dns', value: 'www.example.test' }],
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    keyUsageCritical: true,
    ekus: ['1.3.6.1.5.5.7.3.1'],
    issuancePolicies: [],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 86400_000),
    requester: 'alice',
    ...over,
  };
}
