import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse } from 'yaml';

export const OPENAPI_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'openapi', 'opences.yaml');

interface Param {
  name: string;
  in: 'path' | 'query';
  required?: boolean;
  schema: Record<string, unknown>;
}

interface Operation {
  operationId: string;
  parameters?: (Param | { $ref: string })[];
  requestBody?: { required?: boolean; content?: Record<string, { schema: Record<string, unknown> }> };
}

export interface OperationSpec {
  operationId: string;
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path (`/requests/{id}`) and its express form (`/requests/:id`). */
  path: string;
  expressPath: string;
  validateParams: ValidateFunction;
  validateQuery: ValidateFunction;
  validateBody?: ValidateFunction;
  bodyRequired: boolean;
  /** A non-JSON body the operation takes as text (`application/yaml` for template import). */
  textBody?: string;
}

/** Media types accepted for a text body of the given declared type. */
export const TEXT_BODY_TYPES: Record<string, string[]> = { 'application/yaml': ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'] };

/**
 * The OpenAPI document is the contract: routes come from it, and every request's path, query and
 * body are validated against its schemas (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses).
 */
export function loadOpenApi(path = OPENAPI_PATH): { doc: Record<string, unknown>; operations: OperationSpec[] } {
  const doc = parse(readFileSync(path, 'utf8')) as { paths: Record<string, Record<string, Operation>>; components: { parameters: Record<string, Param> } };
  // Path and query values arrive as strings and are coerced to the declared types; JSON bodies are
  // typed already, so a string where a boolean belongs is an error there, never coerced.
  const ajv = new Ajv2020({ strict: false, coerceTypes: true, allErrors: false, useDefaults: true });
  ajv.addSchema(doc, 'openapi');
  const bodyAjv = new Ajv2020({ strict: false, coerceTypes: false, allErrors: false, useDefaults: true });
  bodyAjv.addSchema(doc, 'openapi');
  const deref = (p: Param | { $ref: string }): Param => ('$ref' in p ? doc.components.parameters[p.$ref.split('/').pop()!]! : p);
  const withRefs = (s: Record<string, unknown>): Record<string, unknown> => JSON.parse(JSON.stringify(s).replace(/"#\/components\//g, '"openapi#/components/')) as Record<string, unknown>;
  const operations: OperationSpec[] = [];
  for (const [p, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? []).map(deref);
      const group = (where: 'path' | 'query') => {
        const ps = params.filter((x) => x.in === where);
        return ajv.compile({
          type: 'object',
          additionalProperties: false,
          properties: Object.fromEntries(ps.map((x) => [x.name, withRefs(x.schema)])),
          required: ps.filter((x) => x.required).map((x) => x.name),
        });
      };
      const body = op.requestBody?.content?.['application/json']?.schema;
      const textBody = Object.keys(op.requestBody?.content ?? {}).find((t) => t in TEXT_BODY_TYPES);
      operations.push({
        operationId: op.operationId,
        method: method as OperationSpec['method'],
        path: p,
        expressPath: p.replace(/\{([^}]+)\}/g, ':$1'),
        validateParams: group('path'),
        validateQuery: group('query'),
        validateBody: body ? bodyAjv.compile(withRefs(body)) : undefined,
        bodyRequired: op.requestBody?.required === true,
        ...(textBody ? { textBody } : {}),
      });
    }
  }
  return { doc, operations };
}
