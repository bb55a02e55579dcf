// Request validation with the zod schemas the routes declare (Fastify's validator compiler), so
// that what validates a request is exactly what /openapi.json documents. Every failure becomes a
// CyloError (400, CYLO_E_VALIDATION) naming the field.
import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { executeRequestSchema, normalizeRequest, type ValidationPolicy } from '../api/request.js';
import { CyloError } from '../errors.js';
import { isZodSchema } from './schemas.js';
import { typeName, zodIssueToCyloError } from '../api/zod-errors.js';

/** The first zod issue as a CyloError naming the field: `files[0].content: expected string (got number)`. */
export function zodIssueToHttpError(error: z.ZodError, input: unknown): CyloError {
  return zodIssueToCyloError(error, input, { schemaHint: '/openapi.json' });
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
      return { error: zodIssueToHttpError(parsed.error, data) };
    };
  };
}
