// An in-process HTTP server on a loopback socket.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Listens on 127.0.0.1 with a free port; returns the base URL. */
export async function listenLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}
