// Logging: pino through Fastify. JSON lines (one object per line, with the request id) unless
// stdout is a terminal, where pino-pretty makes them readable. The Authorization header is
// never logged. Request ids come from a well-formed X-Request-Id header or are generated.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import PinoPretty from 'pino-pretty';

import type { LogFormat, LogLevel } from '../config/schema.js';
// The settings' values are part of the one configuration schema (src/config/schema.ts).
export { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../config/schema.js';

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where JSON lines go (default: stdout). */
  stream?: NodeJS.WritableStream;
}

/** Fastify `logger` options for these settings. */
export function fastifyLoggerOptions(options: LoggerOptions = {}): Record<string, unknown> {
  const format = options.format ?? 'auto';
  const out = options.stream ?? process.stdout;
  const pretty = format === 'pretty' || (format === 'auto' && options.stream === undefined && process.stdout.isTTY === true);
  return {
    level: options.level ?? 'info',
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
    stream: pretty ? PinoPretty({ colorize: format === 'auto' || out === process.stdout, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: out as NodeJS.WritableStream & { fd?: number } }) : out,
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id: the client's X-Request-Id when it is well-formed, else a new UUID. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}
