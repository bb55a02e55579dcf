// Which methods a path takes, for the not-found answer: `GET /v1/execute` is a route used with the
// wrong method, and the client is told `/v1/execute takes POST` instead of only "does not exist".
// Every route declared on the app (also inside plugins) is recorded through the onRoute hook, so
// the index cannot drift from what the router serves.
import type { FastifyInstance } from 'fastify';

/** A route pattern (`/v1/submissions/:id`, `/assets/*`) as a regular expression over a path. */
function patternToRegExp(url: string): RegExp {
  const body = url
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      if (segment.startsWith(':')) return '[^/]+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${body}$`);
}

/** Records every route the app declares from now on (call before the routes are registered) and
 *  returns `methodsFor(path)`: the methods (upper case, sorted, HEAD and OPTIONS left out) some
 *  route serves at that concrete path; [] when none. */
export function trackRouteMethods(app: FastifyInstance): (path: string) => string[] {
  const routes: Array<{ methods: string[]; pattern: RegExp }> = [];
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => String(m).toUpperCase());
    routes.push({ methods, pattern: patternToRegExp(route.url) });
  });
  return (path: string): string[] => {
    const found = new Set<string>();
    for (const route of routes) {
      if (!route.pattern.test(path)) continue;
      for (const method of route.methods) if (method !== 'HEAD' && method !== 'OPTIONS') found.add(method);
    }
    return [...found].sort();
  };
}
