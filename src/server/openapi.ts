// The OpenAPI document (served at /openapi.json): @fastify/swagger collects the routes, and
// this transform turns each route's zod schemas (the very objects that validate requests)
// into JSON Schema with zod's own converter.
import type { FastifyInstance, FastifySchema } from 'fastify';
import swagger from '@fastify/swagger';
import { z } from 'zod';
import { isZodSchema } from './schemas.js';

type Json = Record<string, unknown>;

export function toJsonSchema(schema: unknown, io: 'input' | 'output'): unknown {
  if (!isZodSchema(schema)) return schema;
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Json;
  delete json.$schema;
  return json;
}

function transformSchema(schema: FastifySchema | undefined): FastifySchema | undefined {
  if (schema === undefined) return undefined;
  const out: Json = { ...(schema as Json) };
  for (const part of ['body', 'querystring', 'params', 'headers'] as const) {
    if (out[part] !== undefined) out[part] = toJsonSchema(out[part], 'input');
  }
  if (out.response !== undefined && typeof out.response === 'object') {
    const responses: Json = {};
    for (const [code, s] of Object.entries(out.response as Json)) responses[code] = toJsonSchema(s, 'output');
    out.response = responses;
  }
  return out as FastifySchema;
}

export interface OpenApiInfo {
  version: string;
  /** Whether the server asks for a bearer token (documented as a security requirement). */
  auth: boolean;
}

export async function registerOpenApi(app: FastifyInstance, info: OpenApiInfo): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'cylo',
        version: info.version,
        description: 'Secure multi-language code execution. Native API under /v1, Piston v2 compatible API under /api/v2. Errors: { "error": { "code", "message", "field" } } (see docs/errors.md).',
      },
      tags: [
        { name: 'native', description: 'The cylo API: the library request and result as JSON.' },
        { name: 'piston', description: 'Piston v2 compatible API.' },
        { name: 'judge0', description: 'Judge0 CE compatible API, under /judge0 (docs/judge0.md).' },
        { name: 'service', description: 'Health, metrics and this document.' },
      ],
      components: info.auth ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {},
      ...(info.auth ? { security: [{ bearer: [] }] } : {}),
    },
    transform: ({ schema, url, route }) => {
      const transformed = transformSchema(schema) ?? {};
      const config = route.config as { public?: boolean } | undefined;
      if (info.auth && config?.public === true) (transformed as Json).security = [];
      return { schema: transformed, url };
    },
  });
}
