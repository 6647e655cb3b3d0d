import { SignedXml } from 'xml-crypto';
import { NS, X509V3, BASE64_ENCODING } from '../../src/protocol/soap/namespaces.js';
import { WSTEP } from '../../src/protocol/wstep/index.js';

/** An RST envelope signed the way WS-Security X.509 clients sign: BST + Timestamp + Signature over Body and Timestamp. */
export function signedRst(o: { to: string; certDer: Uint8Array; keyPem: string; tokenB64: string; created?: Date; expires?: Date; signBody?: boolean; signTimestamp?: boolean; sha1?: boolean; messageId?: string }): string {
  const created = o.created ?? new Date();
  const expires = o.expires ?? new Date(created.getTime() + 5 * 60_000);
  const iso = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z');
  const xml =
    `<s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${NS.wsa}" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}" xmlns:wst="${NS.wst}">` +
    `<s:Header><a:Action s:mustUnderstand="1">${WSTEP.action}</a:Action><a:MessageID>${o.messageId ?? `urn:uuid:${crypto.randomUUID()}`}</a:MessageID><a:To s:mustUnderstand="1">${o.to}</a:To>` +
    `<wsse:Security s:mustUnderstand="1"><wsu:Timestamp wsu:Id="TS"><wsu:Created>${iso(created)}</wsu:Created><wsu:Expires>${iso(expires)}</wsu:Expires></wsu:Timestamp>` +
    `<wsse:BinarySecurityToken wsu:Id="X509Token" ValueType="${X509V3}" EncodingType="${BASE64_ENCODING}">${Buffer.from(o.certDer).toString('base64')}</wsse:BinarySecurityToken>` +
    `</wsse:Security></s:Header>` +
    `<s:Body wsu:Id="Body"><wst:RequestSecurityToken><wst:TokenType>${X509V3}</wst:TokenType><wst:RequestType>${WSTEP.issue}</wst:RequestType>` +
    `<wsse:BinarySecurityToken ValueType="${WSTEP.valueTypes.pkcs10}" EncodingType="${BASE64_ENCODING}">${o.tokenB64}</wsse:BinarySecurityToken>` +
    `</wst:RequestSecurityToken></s:Body></s:Envelope>`;
  const sig = new SignedXml({ privateKey: o.keyPem, idMode: 'wssecurity' });
  sig.signatureAlgorithm = o.sha1 ? 'http://www.w3.org/2000/09/xmldsig#rsa-sha1' : 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
  const digestAlgorithm = o.sha1 ? 'http://www.w3.org/2000/09/xmldsig#sha1' : 'http://www.w3.org/2001/04/xmlenc#sha256';
  sig.canonicalizationAlgorithm = 'http://www.w3.org/2001/10/xml-exc-c14n#';
  const transforms = ['http://www.w3.org/2001/10/xml-exc-c14n#'] as const;
  if (o.signBody !== false) sig.addReference({ xpath: "/*[local-name(.)='Envelope']/*[local-name(.)='Body']", transforms: [...transforms], digestAlgorithm });
  if (o.signTimestamp !== false) sig.addReference({ xpath: "//*[local-name(.)='Timestamp']", transforms: [...transforms], digestAlgorithm });
  sig.getKeyInfoContent = () => `<wsse:SecurityTokenReference xmlns:wsse="${NS.wsse}"><wsse:Reference URI="#X509Token" ValueType="${X509V3}"/></wsse:SecurityTokenReference>`;
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: "//*[local-name(.)='Security']", action: 'append' } });
  return sig.getSignedXml();
}
