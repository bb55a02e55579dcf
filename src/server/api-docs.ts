// The interactive API page at /docs (docs/http.md#api-page): Swagger UI from @fastify/swagger-ui,
// showing the same OpenAPI document as /openapi.json (@fastify/swagger's, ./openapi.ts). Every
// asset comes from the package's own files (no CDN: it works offline); Swagger UI's validator
// badge is off (validatorUrl null: the document is never sent to validator.swagger.io).
//
// Routes (all GET, hidden from the document itself):
//   /docs                           the page (HTML)
//   /docs/static/*                  its scripts, styles and icons, and swagger-initializer.js
//   /docs/json, /docs/yaml          the document the page loads (= /openapi.json)
// Access: the page and its assets are public, like the playground's (files of the package,
// nothing a request or a program can change; a browser's navigation carries no bearer token).
// The document stays behind the token like /openapi.json: with a token configured, the page
// loads but cannot show the API until a token is sent (docs/http.md#api-page).
// Headers: the playground's security headers (no sniffing, no referrer, no framing...) and a
// strict Content-Security-Policy on every answer (docsCsp).
import type { FastifyInstance } from 'fastify';
import swaggerUi from '@fastify/swagger-ui';
import { pageCsp, securityHeaders } from './playground.js';

/** Where the page is mounted. */
export const DOCS_PREFIX = '/docs';

/** The routes that answer the OpenAPI document: they keep the API's token check. */
const DOCUMENT_ROUTES = new Set([`${DOCS_PREFIX}/json`, `${DOCS_PREFIX}/yaml`]);

/** The one <style> element Swagger UI (5.x, in @fastify/swagger-ui 6.1) inserts while it starts,
 *  allowed by the hash of its exact content (Chromium reports it when it blocks it); any other
 *  inline style stays blocked. A package update that changes it fails test/browser/api-docs. */
const SWAGGER_UI_STYLE = 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w=';

/** The page's Content-Security-Policy (./playground.ts pageCsp: this origin only; see there
 *  what each directive stops): styles add Swagger UI's own <style> by hash; images add data: (the
 *  icons Swagger UI's stylesheet embeds). connect-src 'self': the page fetches the document and
 *  sends "Try it out" requests to this origin only, never a token elsewhere. */
export function docsCsp(): string {
  return pageCsp(`'${SWAGGER_UI_STYLE}'`, 'data:');
}

/** Mounts the page at /docs (in its own encapsulated context: its hooks touch no other route).
 *  Needs @fastify/swagger registered first (./openapi.ts). */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(async (scoped) => {
    // The plugin's routes take no config: mark the page and its assets public here.
    scoped.addHook('onRoute', (route) => {
      if (DOCUMENT_ROUTES.has(route.url)) return;
      route.config = { ...(route.config as object | undefined), public: true } as typeof route.config;
    });
    scoped.addHook('onSend', async (_request, reply, payload) => {
      securityHeaders(reply);
      reply.header('content-security-policy', docsCsp());
      return payload;
    });
    await scoped.register(swaggerUi, {
      routePrefix: DOCS_PREFIX,
      // The validator badge would send the document to validator.swagger.io.
      validatorUrl: false,
      // Our CSP (onSend above), not the plugin's, which allows https: styles and fonts.
      staticCSP: false,
      uiConfig: { deepLinking: true, tryItOutEnabled: false },
      theme: { title: 'cylo API' },
      logLevel: 'warn',
    });
  });
}
