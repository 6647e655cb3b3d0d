import { execFileSync } from 'node:child_process';

/** The machine's raw signing limit on one core, from `openssl speed` in the same run. */
export function opensslSignRate(alg: 'rsa2048' | 'ecdsap256', seconds = 3): number {
  const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), alg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  // rsa 2048 bits 0.000274s 0.000008s   3652.1 124994.4   |   256 bits ecdsa (nistp256) 0.0000s 0.0001s 49512.1 16000.2
  const line = out.split('\n').find((l) => (alg === 'rsa2048' ? /^rsa\s+2048 bits/ : /256 bits ecdsa \(nistp256\)/).test(l.trim()));
  if (!line) throw new Error(`cannot read openssl speed output for ${alg}`);
  const nums = line.trim().split(/\s+/).filter((t) => /^\d+(\.\d+)?$/.test(t)).map(Number);
  // the last two numbers are sign/s and verify/s
  return nums[nums.length - 2]!;
}
