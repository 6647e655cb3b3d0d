import { child, readTlv } from './der.js';
import { isSid } from '../auth/sid.js';

export const NTDS_CA_SECURITY_EXT = '1.3.6.1.4.1.311.25.2';
/** DER of the OID 1.3.6.1.4.1.311.25.2.1 (szOID_NTDS_OBJECTSID), tag and length included. */
const OBJECTSID_OID_DER = Buffer.from('060a2b060104018237190201', 'hex');

/**
 * The SID in a szOID_NTDS_CA_SECURITY_EXT value (the extnValue's contents), or undefined when the
 * value is not that shape: SEQUENCE { [0] { OID …25.2.1, [0] { OCTET STRING sid } } }.
 */
export function sidFromSecurityExtension(value: Uint8Array): string | undefined {
  try {
    const outer = readTlv(value, 0);
    if (value[0] !== 0x30 || outer.header + outer.length !== value.length) return undefined;
    const other = child(value, 0);
    if (other[0] !== 0xa0) return undefined;
    const ot = readTlv(other, 0);
    const body = other.subarray(ot.header, ot.header + ot.length);
    if (!Buffer.from(body.subarray(0, OBJECTSID_OID_DER.length)).equals(OBJECTSID_OID_DER)) return undefined;
    const wrapped = body.subarray(OBJECTSID_OID_DER.length);
    if (wrapped[0] !== 0xa0) return undefined;
    const wt = readTlv(wrapped, 0);
    const os = wrapped.subarray(wt.header, wt.header + wt.length);
    if (os[0] !== 0x04) return undefined;
    const st = readTlv(os, 0);
    const sid = Buffer.from(os.subarray(st.header, st.header + st.length)).toString('ascii');
    return isSid(sid) ? sid : undefined;
  } catch {
    return undefined;
  }
}
