import type { Queryable } from './db.js';

/**
 * Records a certificate manager's approval of a request (request_approvals, migration 012): what
 * the CA needs before it signs a request that waits for one. A second approval of the same request
 * replaces the first (the order may have been rebuilt against an edited template meanwhile).
 */
export async function recordApproval(q: Queryable, a: { requestId: string; orderDigest: string; approvedBy: string; at: Date }): Promise<void> {
  await q.query(
    `INSERT INTO request_approvals (request_id, order_digest, approved_by, approved_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (request_id) DO UPDATE SET order_digest = EXCLUDED.order_digest, approved_by = EXCLUDED.approved_by, approved_at = EXCLUDED.approved_at`,
    [a.requestId, a.orderDigest, a.approvedBy, a.at],
  );
}
