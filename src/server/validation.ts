// Request validation with the zod schemas the routes declare (Fastify's validator compiler), so
// that what validates a request is exactly what /openapi.json documents. Every failure becomes a
// CyloError (400, CYLO_E_VALIDATION) naming the field.
import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { executeRequestSchema, normalizeRequest, type ValidationPolicy } from '../api/request.js';
import { CyloError } from '../errors.js';
import { isZodSchema } from './schemas.js';

function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = input;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** The first zod issue as a CyloError naming the field: `files[0].content: expected string (got number)`. */
export function zodIssueToCyloError(error: z.ZodError, input: unknown): CyloError {
  const issue = error.issues[0];
  if (issue === undefined) return new CyloError('CYLO_E_VALIDATION', 'request: invalid');
  if (issue.code === 'unrecognized_keys') {
    const field = fieldPath([...issue.path, issue.keys[0] ?? '']);
    return new CyloError('CYLO_E_VALIDATION', `${field}: unknown field; remove it (see /openapi.json)`, { field });
  }
  const field = fieldPath(issue.path) || 'request';
  const got = valueAt(input, issue.path);
  let expected = issue.message;
  if (issue.code === 'invalid_type') expected = `expected ${issue.expected}`;
  if (issue.code === 'invalid_value' && 'values' in issue) expected = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'too_small' || issue.code === 'too_big') expected = issue.message.replace(/^Too (small|big): /, '');
  const gotText = got === undefined ? 'nothing' : `${typeName(got)}${typeof got === 'number' ? ` ${got}` : typeof got === 'string' ? ` ${JSON.stringify(got.slice(0, 40))}` : ''}`;
  return new CyloError('CYLO_E_VALIDATION', `${field}: ${expected} (got ${gotText})`, { field });
}

function notAnObject(data: unknown): CyloError | undefined {
  if (data === null || data === undefined) return new CyloError('CYLO_E_VALIDATION', 'request: the body must be a JSON object (got nothing)', { field: 'request' });
  if (typeof data !== 'object' || Array.isArray(data)) return new CyloError('CYLO_E_VALIDATION', `request: the body must be a JSON object (got ${typeName(data)})`, { field: 'request' });
  return undefined;
}

/**
 * A Fastify validator compiler for zod schemas. The library's request schema is checked with the
 * library's own normalisation on failure, so that HTTP and library report identical messages.
 */
export function zodValidatorCompiler(policy: () => ValidationPolicy): FastifySchemaCompiler<unknown> {
  return ({ schema }) => {
    if (!isZodSchema(schema)) {
      throw new Error('cylo routes declare their schemas in zod (src/server/schemas.ts)');
    }
    return (data: unknown) => {
      const shape = notAnObject(data);
      if (shape !== undefined) return { error: shape };
      const parsed = schema.safeParse(data);
      if (parsed.success) return { value: parsed.data };
      if (schema === executeRequestSchema) {
        try {
          normalizeRequest(data, policy());
        } catch (error) {
          if (error instanceof CyloError) return { error };
        }
      }
      return { error: zodIssueToCyloError(parsed.error, data) };
    };
  };
}
