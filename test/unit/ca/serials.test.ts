import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { newSerial } from '../../../src/ca/serial.js';
import { newRequestId, order, setupCa, type CaFixture } from './ca-fixture.js';
import { buildTestCsr } from '../pkcs10/csr-builder.js';

describe('serial numbers (P-256 issuing key)', () => {
  let f: CaFixture;
  beforeAll(async () => {
    f = await setupCa('P-256', { poolSize: 16 });
  });
  afterAll(async () => f?.db.close());

  it('10,000 issuances give 10,000 distinct positive 128-bit serials (1,000 through the database, 9,000 through the signing path)', async () => {
    const csrs = Array.from({ length: 8 }, (_, i) => buildTestCsr({ key: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, subject: [{ type: 'CN', value: `s${i}.example.test` }] }));
    const serials = new Set<string>();

    // 1,000 through issue(): request row, lock, insert, unique serial column — 16 at a time
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) ids.push(await newRequestId(f.db, csrs[i % csrs.length]!));
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < ids.length) {
          const i = next++;
          const c = await f.ca.issue(order(ids[i]!, csrs[i % csrs.length]!));
          serials.add(c.serial);
        }
      }),
    );
    expect(serials.size).toBe(1000);
    const db = await f.db.query<{ n: string; d: string }>("SELECT count(*)::text AS n, count(DISTINCT serial)::text AS d FROM certificates WHERE request_id IS NOT NULL");
    expect(db.rows[0]).toEqual({ n: '1000', d: '1000' });
    expect((await f.db.query("SELECT 1 FROM requests WHERE status = 'issued'")).rowCount).toBe(1000);

    // 9,000 more through the store-free signing path (same serial source, same encoder)
    let k = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (k < 9000) {
          const i = k++;
          serials.add((await f.ca.signOrder(order(String(i + 1), csrs[i % csrs.length]!))).serial);
        }
      }),
    );
    expect(serials.size).toBe(10_000);
    for (const s of serials) expect(s).toMatch(/^[0-7][0-9a-f]{31}$/); // 16 octets, top bit clear
  });

  it('newSerial clears the top bit and never leaves a leading zero octet', () => {
    expect(newSerial(() => Buffer.alloc(16, 0xff)).hex).toBe('7f' + 'ff'.repeat(15));
    expect(newSerial(() => Buffer.alloc(16, 0)).hex).toBe('01' + '00'.repeat(15));
  });
});
