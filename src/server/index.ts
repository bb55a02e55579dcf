// The HTTP service as a library entry point (`import { buildServer } from 'cylo/server'`), kept
// apart from the main entry so that library users do not load Fastify.
export { buildServer, DEFAULT_BODY_LIMIT, DEFAULT_MAX_CONNECTIONS } from './app.js';
export type { CyloServerHandle, ServerOptions, ServerPlugin } from './app.js';
export type { ServerContext } from './context.js';
export { loadServerConfig, checkExposure, isLoopbackHost } from './config.js';
export type { ServerConfig, LoadConfigOptions } from './config.js';
export { cyloToPistonResponse, pistonToCyloRequest } from './piston.js';
