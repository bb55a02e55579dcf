// The web playground (docs/playground.md): `GET /` answers the page built from web/ by
// `npm run build:web` into dist/web/, and `/assets/...` its hashed script and style files
// (served by @fastify/static from files the build wrote; nothing a request or a program can
// change). The page is a client of the HTTP API like any other: it calls /v1 same-origin.
//
// Headers: a strict Content-Security-Policy on the page (no inline scripts; connections,
// scripts, styles and images from this origin only; CodeMirror's generated <style> element is
// allowed by a nonce made fresh for each answer), no caching of the page (its nonce changes),
// long immutable caching of the hashed assets. The files are public: the token protects the
// API, and the page must load to ask for it.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CyloError } from '../errors.js';

/** Where `npm run build:web` puts the page (dist/web, next to dist/src). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/** Stands in the built index.html for the answer's CSP nonce. */
const NONCE_MARK = '%CSP_NONCE%';

/** A page's Content-Security-Policy: everything from this origin only, plus the given extra
 *  style and image sources. Each directive stops one thing: script-src 'self' (no inline or
 *  injected scripts, no eval), connect-src 'self' (a script cannot send code or tokens
 *  elsewhere), style-src 'self' + `styles` (no injected styles), object-src/base-uri/form-action
 *  'none' (no plugins, no base-URL hijack, no form posting elsewhere), frame-ancestors 'none'
 *  (no framing: clickjacking). Shared by the playground and the API page (./api-docs.ts). */
export function pageCsp(styles: string, images: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    `style-src 'self' ${styles}`,
    `img-src 'self' ${images}`,
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The playground's CSP with this answer's style nonce (CodeMirror's generated <style>); img-src
 *  adds data:/blob: (images a run produces, shown inline). */
export function playgroundCsp(nonce: string): string {
  return pageCsp(`'nonce-${nonce}'`, 'data: blob:');
}

/** Headers every playground (and /docs, ./api-docs.ts) answer carries: no MIME sniffing, no referrer, no framing, no
 *  cross-origin window access, no use by other origins' pages, no powerful features. */
export function securityHeaders(reply: FastifyReply | { setHeader(name: string, value: string): void }): void {
  const set = (name: string, value: string): void => {
    if ('setHeader' in reply) reply.setHeader(name, value);
    else reply.header(name, value);
  };
  set('x-content-type-options', 'nosniff');
  set('referrer-policy', 'no-referrer');
  set('x-frame-options', 'DENY');
  set('cross-origin-opener-policy', 'same-origin');
  set('cross-origin-resource-policy', 'same-origin');
  set('permissions-policy', 'camera=(), microphone=(), geolocation=(), usb=(), payment=()');
}

/**
 * Mounts the playground: `GET /` and `/assets/*` from `root` (default dist/web). Throws
 * CYLO_E_CONFIG when the page was not built (a server that would answer its page with 404
 * is refused at start, with the fix).
 */
export async function registerPlayground(app: FastifyInstance, root: string = DEFAULT_WEB_ROOT): Promise<void> {
  const indexPath = `${root.replace(/\/$/, '')}/index.html`;
  if (!existsSync(indexPath) || !existsSync(`${root.replace(/\/$/, '')}/assets`)) {
    throw new CyloError('CYLO_E_CONFIG', `playground: the page is not built (${indexPath} is missing); run npm run build (or npm run build:web), or turn the playground off with "playground": false / CYLO_PLAYGROUND=0`, { field: 'playground' });
  }
  const template = readFileSync(indexPath, 'utf8');
  if (!template.includes(NONCE_MARK)) throw new CyloError('CYLO_E_CONFIG', `playground: ${indexPath} has no ${NONCE_MARK} mark; rebuild it with npm run build:web`, { field: 'playground' });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/',
    config: { public: true },
    schema: { hide: true },
    logLevel: 'warn',
    handler: async (_request, reply) => {
      const nonce = randomBytes(16).toString('base64');
      securityHeaders(reply);
      return reply
        .header('content-security-policy', playgroundCsp(nonce))
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(template.replaceAll(NONCE_MARK, nonce));
    },
  });

  await app.register(async (scoped) => {
    // The static plugin takes no route config: mark its routes public here (see the header).
    scoped.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object | undefined), public: true } as typeof route.config;
    });
    await scoped.register(fastifyStatic, {
      root: `${root.replace(/\/$/, '')}/assets`,
      prefix: '/assets/',
      // One route per file found at start: any other path is the API's ordinary 404.
      wildcard: false,
      globIgnore: ['**/*.gz', '**/*.br'],
      preCompressed: true,
      // Names carry a content hash: a changed file is a new URL.
      immutable: true,
      maxAge: '365d',
      dotfiles: 'deny',
      index: false,
      logLevel: 'warn',
      setHeaders: (res) => securityHeaders(res),
    });
  });
}
