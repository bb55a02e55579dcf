// The /mcp routes for a Fastify server (what `cylo serve` mounts). Kept apart from the MCP
// transport itself so that the MCP SDK is loaded on the first /mcp request, not at start: a
// service that is never asked for MCP does not pay its memory.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import type { McpHttpHandler, McpHttpOptions } from './http.js';

export const MCP_ROUTE = '/mcp';

export interface McpRouteOptions extends Omit<McpHttpOptions, 'cylo'> {
  /** Body limit of the MCP route in bytes (default: the host server's). */
  bodyLimit?: number;
}

/** What the host server shares with its routes (structurally src/server's ServerContext). */
export interface McpHostContext {
  readonly cylo: Cylo;
  /** The host's execution path (shutdown refusal, metrics, logs); without it, cylo.execute. */
  run?(api: 'mcp', body: ExecuteRequest, options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void }): Promise<ExecutionResult>;
}

/** Adds POST, GET (the session's notification stream) and DELETE (ends the session) at /mcp to a Fastify
 *  instance, inheriting its hooks (the bearer-token check), body parser and logger. Fits
 *  buildServer's `plugins` option and is what `cylo serve` mounts. */
export async function registerMcpRoutes(app: FastifyInstance, ctx: McpHostContext, options: McpRouteOptions = {}): Promise<void> {
  let handler: Promise<McpHttpHandler> | undefined;
  const getHandler = (): Promise<McpHttpHandler> =>
    (handler ??= import('./http.js').then(({ createMcpHttpHandler }) =>
      createMcpHttpHandler({
        onError: (e) => app.log.error({ err: e }, 'mcp: transport error'),
        ...(ctx.run === undefined ? {} : { execute: (body: ExecuteRequest, o: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void }) => ctx.run?.('mcp', body, o) as Promise<ExecutionResult> }),
        ...options,
        cylo: ctx.cylo,
      }),
    ));
  // preClose: before Fastify waits for connections, end the long-lived GET streams (running
  // calls keep their grace period); onClose: close what is left.
  app.addHook('preClose', async () => (handler === undefined ? undefined : (await handler).drain()));
  app.addHook('onClose', async () => (handler === undefined ? undefined : (await handler).close()));
  app.route({
    method: ['POST', 'GET', 'DELETE'],
    url: MCP_ROUTE,
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    // For the OpenAPI document only (no validation: the MCP transport checks the messages).
    schema: {
      summary: 'Model Context Protocol (Streamable HTTP)',
      description: 'JSON-RPC messages of the Model Context Protocol: tools run_code and list_runtimes. POST carries messages (initialize first; then Mcp-Session-Id), GET opens the session\'s notification stream, DELETE ends the session. Browsers\' Origin must be loopback or in CYLO_MCP_ALLOWED_ORIGINS. See docs/mcp.md.',
    },
    // The MCP transport writes the response itself (JSON, or an SSE stream for live output).
    handler: async (request, reply) => {
      reply.raw.setHeader('x-request-id', String(request.id));
      const h = await getHandler();
      reply.hijack();
      await h.handle(request.raw, reply.raw, request.body);
    },
  });
}

export interface McpPluginOptions extends McpRouteOptions {
  cylo: Cylo;
}

/** The same as a Fastify plugin: `await app.register(mcpHttpPlugin, { cylo })`. */
export const mcpHttpPlugin: FastifyPluginAsync<McpPluginOptions> = async (app, options) => {
  const { cylo, ...rest } = options;
  await registerMcpRoutes(app, { cylo }, rest);
};
