import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { OpencesError } from './errors.js';
import { DEFAULT_XML_LIMITS } from './protocol/soap/xml-limits.js';

/**
 * One typed configuration, validated at start with errors that name the key. Precedence:
 * command-line flags > environment > config file > defaults (conventions.md).
 */
export const ROLES = ['cep', 'ces', 'ca', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a CA API client may be allowed (src/http/ca-api.ts): `sign` issues orders and answers CMC
 * responses (every enrollment node, and admin nodes for approved requests); `revoke` revokes and
 * unrevokes; `crl` publishes a CRL now. Reading the CA's info and features needs none of them.
 */
export const CA_API_OPERATIONS = ['sign', 'revoke', 'crl'] as const;
export type CaApiOperation = (typeof CA_API_OPERATIONS)[number];
/** A client listed without operations: an enrollment front end, which only orders certificates (least privilege). */
export const DEFAULT_CA_API_OPERATIONS: readonly CaApiOperation[] = ['sign'];

const roleList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean))
  .transform((v) => (v.includes('all') ? [...ROLES] : v))
  .pipe(z.array(z.enum(ROLES)).min(1));

const port = z.coerce.number().int().min(0).max(65535);

export const configSchema = z
  .object({
    dataDir: z.string().default('./data'),
    host: z.string().default('0.0.0.0'),
    port: port.default(8443),
    pkiPort: port.default(8080),
    /** Host name clients use; goes into the TLS certificate and (by default) the public URLs. */
    hostname: z.string().default(hostname()),
    /** Base URL clients reach the HTTPS endpoints at (behind a load balancer: its URL). */
    publicUrl: z.string().url().optional(),
    /** Base URL for AIA/CDP (plain HTTP, /pki/). */
    pkiBaseUrl: z.string().url().optional(),
    databaseUrl: z.string().optional(),
    databasePoolSize: z.coerce.number().int().min(1).max(200).default(10),
    /** Hot statements as named prepared statements; off only behind a pooler that cannot keep them (PgBouncer < 1.21 in transaction mode). */
    databasePreparedStatements: z.preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean()).default(true),
    /**
     * Statements that write only replay keys commit without waiting for PostgreSQL's WAL flush
     * (`synchronous_commit = off` for their transaction). Other nodes see the keys at once either
     * way; a crash of PostgreSQL itself may forget the last ~0.6 s of them (docs/authentication.md).
     */
    databaseAsyncReplayCommit: z.preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean()).default(false),
    /**
     * HTTP worker processes (node:cluster) sharing the ports: `auto` = one per core on PostgreSQL,
     * 1 on the embedded database (it belongs to one process).
     */
    /**
     * Start even if the database connection has more rights than the node's roles need
     * (src/store/db-roles.ts, docs/deployment.md). Off: such a node refuses to start and names them.
     */
    databaseAllowExcessPrivileges: z.preprocess((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v), z.boolean()).default(false),
    workers: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(64)]).default('auto'),
    /**
     * V8's young-generation semi-space for each HTTP worker, in MiB (`--max-semi-space-size`); 0
     * leaves V8's default. Request handling allocates fast and briefly; a larger nursery is
     * collected less often (GetPolicies +8 % at 64), but each MiB of it is resident three times
     * over in every worker: 16 keeps a worker within its memory bound (docs/benchmarks.md).
     * Ignored when the worker's command line or NODE_OPTIONS already sets it.
     */
    workerSemiSpaceMb: z.coerce.number().int().min(0).max(1024).default(16),
    /**
     * How far each HTTP worker's V8 old generation may grow past what the last full collection
     * kept before the next one, in per cent (`--heap-growing-percent`); 0 leaves V8's own factor,
     * which let a worker's heap reach two to four times its live data between collections under
     * load. 50 kept a worker ~50 MB smaller at no measurable CPU cost (docs/benchmarks.md, the
     * eighth session). Ignored when the worker's command line or NODE_OPTIONS already sets it.
     */
    workerHeapGrowingPercent: z.coerce.number().int().min(0).max(400).default(50),
    roles: roleList.default([...ROLES]),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    maxBodyBytes: z.coerce.number().int().min(1024).default(1024 * 1024),
    /**
     * Structural limits on SOAP messages (CEP, CES), checked on the bytes as they arrive, before any
     * tree is built and before authentication (src/protocol/soap/xml-limits.ts). The first one
     * broken ends the request with a Sender fault naming it.
     */
    soapLimits: z
      .object({
        maxDepth: z.coerce.number().int().min(8).max(1000).default(DEFAULT_XML_LIMITS.maxDepth),
        maxElements: z.coerce.number().int().min(64).max(1_000_000).default(DEFAULT_XML_LIMITS.maxElements),
        maxAttributesPerElement: z.coerce.number().int().min(8).max(100_000).default(DEFAULT_XML_LIMITS.maxAttributesPerElement),
        maxNamespaceDeclarationsPerElement: z.coerce.number().int().min(8).max(100_000).default(DEFAULT_XML_LIMITS.maxNamespaceDeclarationsPerElement),
        maxNamespaceDeclarations: z.coerce.number().int().min(16).max(1_000_000).default(DEFAULT_XML_LIMITS.maxNamespaceDeclarations),
        maxTextBytes: z.coerce.number().int().min(4096).default(DEFAULT_XML_LIMITS.maxTextBytes),
        maxAttributeValueBytes: z.coerce.number().int().min(1024).default(DEFAULT_XML_LIMITS.maxAttributeValueBytes),
        maxNameBytes: z.coerce.number().int().min(64).max(65536).default(DEFAULT_XML_LIMITS.maxNameBytes),
      })
      .strict()
      .prefault({}),
    /**
     * A SOAP body refused before a credential was checked (a soapLimits violation, not
     * well-formed XML, over maxBodyBytes) is answered after `delayMs`, its connection no longer
     * read, then closed (src/http/tarpit.ts): a sender waiting for the answer sends one body per
     * delay instead of one per parse. At most `maxHeld` connections per HTTP worker are held;
     * beyond that, refusals go out at once. `delayMs: 0` answers every refusal at once.
     * The delay stays well under the server's request timeout (60 s). Each source address (an
     * IPv6 caller's /64) has its first `freePerAddress` refusals answered at once (refilled at that
     * many a minute), and all sources together at most `freePerSecond` a second per worker.
     */
    tarpit: z
      .object({
        delayMs: z.coerce.number().int().min(0).max(30_000).default(1000),
        maxHeld: z.coerce.number().int().min(1).max(100_000).default(256),
        freePerAddress: z.coerce.number().int().min(0).max(10_000).default(64),
        freePerSecond: z.coerce.number().int().min(0).max(10_000).default(16),
      })
      .strict()
      .prefault({}),
    ca: z
      .object({
        name: z.string().default('opences Issuing CA'),
        rootName: z.string().default('opences Root CA'),
        keyType: z.enum(['RSA-2048', 'RSA-3072', 'RSA-4096', 'P-256', 'P-384']).default('RSA-2048'),
        /** Where the CA keys live: PEM files in <dataDir>/secrets (`file`) or a PKCS#11 token (`pkcs11`, see `pkcs11`). */
        keyStore: z.enum(['file', 'pkcs11']).default('file'),
        /**
         * The PKCS#11 token holding the CA keys (keyStore: pkcs11; docs/hsm.md). The PIN comes from
         * `pinFile` or the environment variable OPENCES_PKCS11_PIN, never from a flag.
         */
        pkcs11: z
          .object({
            module: z.string().min(1),
            tokenLabel: z.string().min(1).optional(),
            tokenSerial: z.string().min(1).optional(),
            pinFile: z.string().min(1).optional(),
            sessions: z.coerce.number().int().min(1).max(64).default(4),
            /** RSA CA signatures: PKCS#1 v1.5 (default) or RSASSA-PSS (SHA-256/384, MGF1, salt = hash length). */
            rsaPadding: z.enum(['pkcs1', 'pss']).default('pkcs1'),
          })
          .strict()
          .refine((p) => !p.tokenLabel !== !p.tokenSerial, 'set exactly one of tokenLabel and tokenSerial')
          .optional(),
        /**
         * RSA public exponents accepted in requests, by the RA and re-checked by the CA (Boulder's
         * goodkey and ADCS accept 65537 only). Others (odd, 3 … 2^32 − 1) only for clients that need them.
         */
        rsaExponents: z.array(z.number().int().min(3).max(0xffffffff).refine((e) => e % 2 === 1, 'an RSA exponent is odd')).min(1).default([65537]),
        crlPeriodHours: z.coerce.number().positive().default(24),
        crlValidityHours: z.coerce.number().positive().default(7 * 24),
        /** Delta CRLs every N hours (0: none). Served at /pki/<ca>-delta.crl, named in full CRLs' Freshest CRL. */
        deltaCrlPeriodHours: z.coerce.number().min(0).default(4),
        /** Delta CRL lifetime; default twice the delta period, at most crlValidityHours. */
        deltaCrlValidityHours: z.coerce.number().positive().optional(),
        /** How often the CRL schedule is checked while serving (it publishes only what is due). */
        crlScheduleCheckSeconds: z.coerce.number().positive().max(3600).default(60),
        /**
         * Remote CA (enrollment nodes without the ca role): base URL of the CA node's signing API,
         * reached over mutual TLS with this node's client certificate (docs/deployment.md).
         */
        url: z.string().url().optional(),
        clientCertFile: z.string().optional(),
        clientKeyFile: z.string().optional(),
        /** PEM bundle trusted for the CA node's TLS certificate (default: this deployment's root CA). */
        caBundleFile: z.string().optional(),
        /** Per attempt; an order is tried up to `retries` + 1 times (same orderId: issued once). */
        timeoutMs: z.coerce.number().int().min(100).max(300_000).default(10_000),
        retries: z.coerce.number().int().min(0).max(10).default(2),
        /** Consecutive failed calls that open the circuit, and how long it stays open. */
        breakerFailures: z.coerce.number().int().min(1).max(1000).default(3),
        breakerOpenSeconds: z.coerce.number().positive().max(3600).default(5),
        /** The signing API of a node with the ca role (mutual TLS; only ca.clients may call it). */
        apiPort: port.default(9443),
        /**
         * DNS name constraints the CA node applies to every certificate it signs, whatever the
         * template or the enrollment node says (SAN dNSNames, and a subject CN that is a host name):
         * under one of `permittedDnsSuffixes` when any are listed, under none of `excludedDnsSuffixes`.
         */
        nameConstraints: z
          .object({
            permittedDnsSuffixes: z.array(z.string().regex(/^\.?([a-z0-9-]+\.)*[a-z0-9-]+$/i, 'a DNS suffix such as example.com')).default([]),
            excludedDnsSuffixes: z.array(z.string().regex(/^\.?([a-z0-9-]+\.)*[a-z0-9-]+$/i, 'a DNS suffix such as example.com')).default([]),
          })
          .strict()
          .optional(),
        clients: z
          .object({
            /**
             * The nodes that may call, by the subject (DN, attribute order free) of their client
             * certificate: a plain DN may do what an enrollment node needs (`sign`); an entry
             * `{subject, operations}` names what that node may do (an admin node: sign, revoke, crl).
             * Every node orders its own TLS server certificate through the API (first start,
             * renewal), so a node granted no `sign` needs that certificate from elsewhere.
             */
            allowedSubjects: z
              .array(
                z.union([
                  z.string().min(3),
                  z.object({ subject: z.string().min(3), operations: z.array(z.enum(CA_API_OPERATIONS)).min(1).default([...DEFAULT_CA_API_OPERATIONS]) }).strict(),
                ]),
              )
              .default([]),
            /** Extra CA files for client certificates not issued by `opences ca client-cert issue`. */
            trustRoots: z.array(z.string()).default([]),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    tls: z
      .object({
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        /** Extra CA bundle trusted for TLS client certificates (partners add their own roots). */
        clientCaFile: z.string().optional(),
      })
      .strict()
      .prefault({}),
    policy: z
      .object({
        friendlyName: z.string().default('opences enrollment policy'),
        nextUpdateHours: z.coerce.number().int().positive().default(8),
        /** Authentication methods offered as CES URIs in GetPolicies. */
        cesAuth: z.array(z.enum(['Kerberos', 'UsernamePassword', 'Certificate'])).default(['UsernamePassword', 'Certificate']),
        /** CES endpoints that accept only renewals (ADCS renewal-only mode), advertised with renewalOnly. */
        renewalOnly: z.array(z.enum(['Kerberos', 'UsernamePassword', 'Certificate'])).default([]),
      })
      .strict()
      .prefault({}),
    /**
     * SCEP (RFC 8894, NDES-compatible; docs/scep.md) on nodes with the ces role. Each profile maps
     * to a template; `/scep/<profile>` serves it, `/certsrv/mscep/mscep.dll` serves `defaultProfile`.
     */
    scep: z
      .object({
        /** Plain-HTTP listener for SCEP only, as NDES serves it (the messages are signed and encrypted); off unless set. */
        httpPort: port.optional(),
        /** The profile NDES's paths (/certsrv/mscep/mscep.dll) serve; none: those paths answer 404. */
        defaultProfile: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
        /** Renew the RA certificates when less than this many days remain. */
        raRenewDays: z.coerce.number().int().min(1).max(365).default(30),
        profiles: z
          .record(
            z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'profile names are 1-64 letters, digits, _ . -'),
            z
              .object({
                /** The template the RA applies (names, key policy, validity, approval). */
                template: z.string().min(1),
                /**
                 * A static challenge for closed networks, read from this file (0600; one line). One-time
                 * challenges (`opences scep challenge`) are accepted either way.
                 */
                staticChallengeFile: z.string().optional(),
                /** Accept DES/3DES content encryption and MD5/SHA-1 signatures (old devices). Off: AES and SHA-2 only. */
                legacy: z.boolean().default(false),
                /** Default lifetime of a one-time challenge, e.g. 1h, 30m, 2d. */
                challengeValidity: z.string().regex(/^\d+[smhd]$/, 'a duration such as 30m, 1h or 2d').default('1h'),
              })
              .strict(),
          )
          .default({}),
      })
      .strict()
      .refine((s) => s.defaultProfile === undefined || s.defaultProfile in s.profiles, { message: 'defaultProfile names no profile in scep.profiles', path: ['defaultProfile'] })
      .prefault({}),
    admin: z
      .object({
        /**
         * TLS client certificates that authenticate to /api/v1 instead of an API token, each
         * matched by exactly one of subject (DN, any order), san (dns:|email:|upn:|uri:|ip:) or
         * fingerprint (SHA-256 of the DER), with the role it grants. The first match wins.
         */
        certificates: z
          .array(
            z
              .object({
                subject: z.string().min(3).max(1024).regex(/^\s*[A-Za-z][A-Za-z0-9.]*\s*=/, 'a DN such as CN=ops-admin,O=Example').optional(),
                san: z.string().regex(/^(dns|email|upn|uri|ip):\S.*$/i, 'type:value with type dns, email, upn, uri or ip').optional(),
                fingerprint: z
                  .string()
                  .transform((v) => v.replace(/[:\s]/g, '').toLowerCase())
                  .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 fingerprint (64 hex digits, colons allowed)'))
                  .optional(),
                role: z.enum(['ca-admin', 'cert-manager', 'auditor']),
              })
              .strict()
              .refine((r) => [r.subject, r.san, r.fingerprint].filter((x) => x !== undefined).length === 1, 'give exactly one of subject, san, fingerprint'),
          )
          .default([]),
        /**
         * PEM files of CAs (besides this deployment's issuing CA) whose certificates may be admin
         * certificates. Certificates from these are not checked against our revocation records.
         */
        trustRoots: z.array(z.string()).default([]),
      })
      .strict()
      .prefault({}),
    web: z
      .object({
        /** Browser sessions (/console, /enroll) end this many minutes after sign-in, whatever their use. */
        sessionMaxMinutes: z.number().int().min(5).max(7 * 24 * 60).default(480),
        /** …and after this many minutes without a request. */
        sessionIdleMinutes: z.number().int().min(1).max(24 * 60).default(30),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /**
         * Signed checkpoints of the audit chain head (docs/audit.md), made by the node that holds the
         * keys: at least every `everyEvents` events or `everySeconds` seconds while the chain grows.
         */
        checkpoints: z
          .object({
            everyEvents: z.coerce.number().int().min(1).max(1_000_000).default(1000),
            everySeconds: z.coerce.number().int().min(1).max(86_400).default(60),
            /** JSON-lines copy outside the database; default `<dataDir>/audit/checkpoints.jsonl`, false for none. */
            file: z.union([z.string().min(1), z.literal(false)]).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** Realms / NetBIOS domains accepted in `alice@domain` and `DOMAIN\alice` user names. */
        domains: z.array(z.string()).default([]),
        /**
         * Kerberos realms whose users ARE the local accounts of the same name (alice@EXAMPLE.COM is the
         * account alice): one person for certificates, renewal and separation of duties. Default none:
         * a Kerberos user and a same-named local account are different people (docs/kerberos.md).
         */
        accountRealms: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$/, 'a Kerberos realm')).default([]),
        /** Freshness and replay of message-authenticated SOAP messages (src/auth/replay.ts, docs/authentication.md). */
        replay: z
          .object({
            /** How old a UsernameToken or Timestamp Created may be, beyond the clock skew. */
            windowSeconds: z.coerce.number().int().min(10).max(3600).default(300),
            /** Clock difference tolerated either way (WCF's MaxClockSkew). */
            clockSkewSeconds: z.coerce.number().int().min(0).max(3600).default(300),
            /** Legacy clients only: accept messages with neither Nonce + Created nor a Timestamp, or nothing to recognise them by (not replay-proof). */
            allowUnprotectedMessages: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
        /** WS-Security X.509 message signatures (src/auth/xml-signature.ts). */
        messageSignature: z
          .object({
            /** Legacy clients only: accept rsa-sha1 signatures and SHA-1 digests. */
            allowSha1: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
        ldap: z
          .object({
            url: z.string(),
            bindDnTemplate: z.string(),
            groupAttribute: z.string().optional(),
            /** Count nested groups too (docs/kerberos.md, "Nested groups"): false (default), walk, in-chain. */
            nestedGroups: z.union([z.literal(false), z.enum(['walk', 'in-chain'])]).default(false),
            nestedGroupsBase: z.string().optional(),
            groupMemberAttribute: z.string().regex(/^(?:[A-Za-z][A-Za-z0-9-]{0,63}|\d+(?:\.\d+){0,31})$/, 'an LDAP attribute name').default('member'),
            nestedGroupsMaxDepth: z.coerce.number().int().min(1).max(32).default(8),
            nestedGroupsMaxGroups: z.coerce.number().int().min(1).max(100_000).default(1000),
            tlsCaFile: z.string().optional(),
          })
          .strict()
          .refine((l) => !l.nestedGroups || (l.nestedGroupsBase && (l.groupAttribute || l.nestedGroups === 'in-chain')), { message: 'auth.ldap.nestedGroups needs nestedGroupsBase (and, for walk, groupAttribute)', path: ['nestedGroupsBase'] })
          .optional(),
        kerberos: z
          .object({
            keytab: z.string().optional(),
            servicePrincipal: z.string().optional(),
            /**
             * Extended Protection (docs/kerberos.md): check the TLS channel bindings a client puts in its
             * token (cepces ≥ 0.3.17, Windows with EPA). when-present refuses a token bound to another TLS
             * connection; required also refuses tokens without bindings; off ignores them (TLS ended
             * before opences, at a load balancer: the bindings name its certificate, not ours).
             */
            channelBinding: z.enum(['off', 'when-present', 'required']).default('when-present'),
            /** principal (alice@REALM) or @REALM → extra groups */
            groups: z.record(z.string(), z.array(z.string())).prefault({}),
            /** Optional directory group lookup for Kerberos principals (src/auth/ldap-groups.ts, docs/kerberos.md). */
            ldap: z
              .object({
                url: z.string(),
                bindDn: z.string(),
                bindPasswordFile: z.string(),
                searchBase: z.string(),
                filter: z.string().default('(userPrincipalName={principal})'),
                groupAttribute: z.string().optional(),
                groupSearch: z.object({ base: z.string(), filter: z.string().default('(member={dn})'), nameAttribute: z.string().default('cn') }).strict().optional(),
                groupPrefix: z.string().optional(),
                /** Count nested groups too (docs/kerberos.md, "Nested groups"): false (default), walk, in-chain. */
                nestedGroups: z.union([z.literal(false), z.enum(['walk', 'in-chain'])]).default(false),
                /** Default: groupSearch.base, else searchBase. */
                nestedGroupsBase: z.string().optional(),
                groupMemberAttribute: z.string().regex(/^(?:[A-Za-z][A-Za-z0-9-]{0,63}|\d+(?:\.\d+){0,31})$/, 'an LDAP attribute name').default('member'),
                nestedGroupsMaxDepth: z.coerce.number().int().min(1).max(32).default(8),
                nestedGroupsMaxGroups: z.coerce.number().int().min(1).max(100_000).default(1000),
                cacheSeconds: z.coerce.number().int().min(0).max(3600).default(60),
                retrySeconds: z.coerce.number().int().min(0).max(3600).default(10),
                tlsCaFile: z.string().optional(),
                timeoutMs: z.coerce.number().int().min(100).max(60_000).default(5_000),
              })
              .strict()
              .optional(),
            /**
             * Active Directory identity for Kerberos principals (src/auth/directory.ts, docs/active-directory.md):
             * the account by its principal, its SID, tokenGroups and state. LDAPS, or ldap:// with startTls;
             * never a simple bind in cleartext.
             */
            directory: z
              .object({
                url: z.string().regex(/^ldaps?:\/\/[^\s]+$/, 'ldaps://host[:port] or ldap://host[:port] with startTls'),
                startTls: z.boolean().default(false),
                tlsCaFile: z.string().optional(),
                bindDn: z.string().min(1),
                bindPasswordFile: z.string().min(1),
                /** The domain's naming context, e.g. DC=ad,DC=example,DC=com. */
                baseDn: z.string().min(1),
                /** The domain's Kerberos realm; principals of other realms are looked up by userPrincipalName. */
                realm: z.string().min(1),
                /** Add group names (sAMAccountName) beside the group SIDs (default true). */
                groupNames: z.boolean().default(true),
                cacheSeconds: z.coerce.number().int().min(0).max(3600).default(60),
                timeoutMs: z.coerce.number().int().min(100).max(60_000).default(5_000),
                /** Issuance policy OID → the group it is linked to (msDS-OIDToGroupLink), for the template lint's ESC13. */
                issuancePolicyGroupLinks: z.record(z.string(), z.string()).optional(),
              })
              .strict()
              .refine((d) => d.url.startsWith('ldaps://') || d.startTls, { message: 'a plain ldap:// URL needs startTls: true (the bind password never crosses in cleartext)', path: ['startTls'] })
              .optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema> & { publicUrl: string; pkiBaseUrl: string };

/** The audit checkpoint file sink of a node (`audit.checkpoints.file`), or null when turned off. */
export function checkpointFile(c: Pick<Config, 'dataDir' | 'audit'>): string | null {
  const f = c.audit.checkpoints.file;
  if (f === false) return null;
  return f === undefined ? resolve(c.dataDir, 'audit', 'checkpoints.jsonl') : resolve(f);
}

/** Environment variables honoured, mapped to config keys. */
const ENV: Record<string, string> = {
  OPENCES_DATA_DIR: 'dataDir',
  OPENCES_PORT: 'port',
  OPENCES_PKI_PORT: 'pkiPort',
  OPENCES_HOST: 'host',
  OPENCES_HOSTNAME: 'hostname',
  OPENCES_PUBLIC_URL: 'publicUrl',
  OPENCES_PKI_BASE_URL: 'pkiBaseUrl',
  DATABASE_URL: 'databaseUrl',
  OPENCES_ROLE: 'roles',
  OPENCES_LOG_LEVEL: 'logLevel',
  OPENCES_WORKERS: 'workers',
  OPENCES_WORKER_SEMI_SPACE_MB: 'workerSemiSpaceMb',
  OPENCES_WORKER_HEAP_GROWING_PERCENT: 'workerHeapGrowingPercent',
  OPENCES_DATABASE_POOL_SIZE: 'databasePoolSize',
  OPENCES_DATABASE_PREPARED_STATEMENTS: 'databasePreparedStatements',
  OPENCES_DATABASE_ASYNC_REPLAY_COMMIT: 'databaseAsyncReplayCommit',
  OPENCES_DATABASE_ALLOW_EXCESS_PRIVILEGES: 'databaseAllowExcessPrivileges',
  OPENCES_CA_URL: 'ca.url',
  OPENCES_CA_CLIENT_CERT: 'ca.clientCertFile',
  OPENCES_CA_CLIENT_KEY: 'ca.clientKeyFile',
  OPENCES_CA_BUNDLE: 'ca.caBundleFile',
  OPENCES_CA_API_PORT: 'ca.apiPort',
  OPENCES_SCEP_HTTP_PORT: 'scep.httpPort',
};

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

export interface LoadConfigInput {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values already mapped to config paths (e.g. {'dataDir': 'x', 'ca.url': 'https://…'}). */
  flags?: Record<string, unknown>;
}

export function loadConfig(input: LoadConfigInput = {}): Config {
  const env = input.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const file = input.file ?? env.OPENCES_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new OpencesError('malformed', `cannot read config file ${file}: ${(e as Error).message}`);
    }
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new OpencesError('malformed', `${file}: expected a mapping at the top level`);
      Object.assign(raw, parsed);
    }
  }
  for (const [name, path] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, path, v);
  }
  for (const [path, v] of Object.entries(input.flags ?? {})) {
    if (v !== undefined) setPath(raw, path, v);
  }
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    const where = first.path.join('.') || '(top level)';
    throw new OpencesError('malformed', `configuration: ${where}: ${first.message}`, { field: where });
  }
  const c = r.data;
  checkTopology(c);
  const dataDir = resolve(c.dataDir);
  const publicUrl = (c.publicUrl ?? `https://${c.hostname}:${c.port}`).replace(/\/+$/, '');
  const pkiBaseUrl = (c.pkiBaseUrl ?? `http://${c.hostname}:${c.pkiPort}`).replace(/\/+$/, '');
  return { ...c, dataDir, publicUrl, pkiBaseUrl };
}

/** Which CA a node uses follows from its roles (docs/deployment.md); contradictions stop the start. */
function checkTopology(c: z.infer<typeof configSchema>): void {
  const bad = (field: string, message: string): never => {
    throw new OpencesError('malformed', `configuration: ${field}: ${message}`, { field });
  };
  if (c.ca.url) {
    if (c.roles.includes('ca')) bad('ca.url', 'a node with the ca role signs itself; ca.url (--ca-url) is for enrollment nodes');
    if (!c.ca.clientCertFile) bad('ca.clientCertFile', 'a remote CA needs this node\'s client certificate (--ca-client-cert)');
    if (!c.ca.clientKeyFile) bad('ca.clientKeyFile', 'a remote CA needs this node\'s client key (--ca-client-key)');
  }
  if (c.ca.keyStore === 'pkcs11' && !c.ca.pkcs11) bad('ca.pkcs11', 'keyStore pkcs11 needs ca.pkcs11.module and the token (tokenLabel or tokenSerial)');
  if (c.ca.keyStore === 'pkcs11' && c.ca.url) bad('ca.keyStore', 'a node pointed at a remote CA (ca.url) holds no CA key');
  if (c.roles.includes('ca') && !c.roles.includes('ces') && c.ca.clients.allowedSubjects.length === 0) {
    bad('ca.clients.allowedSubjects', 'a ca node without the ces role signs only for enrollment nodes: list the subjects of their client certificates');
  }
  if (!c.roles.includes('ca') && c.ca.url === undefined) {
    bad('roles', `a node without the ca role (${c.roles.join(',')}) needs a remote CA: set ca.url (--ca-url) and its client certificate`);
  }
}
