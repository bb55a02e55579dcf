// The value types a configuration setting can have, shared by the config file, the environment
// and the flags (zod). Strings follow the command line's unit rules (src/util/units.ts: a bare
// duration is seconds, a bare size is refused with a hint); JSON numbers keep their meaning
// (milliseconds, bytes), so `"grace": 1500` and `"grace": "1.5s"` say the same.
import { z } from 'zod';
import { RELAXABLE_LAYERS, type RelaxableLayer } from '../sandbox/host-check.js';
import { parseDuration, parseSize } from '../util/units.js';

/** A whole number in [min, max]: a JSON number, or digits (environment, flags). */
export const wholeNumber = (min: number, max: number) =>
  z
    .union([z.number(), z.string().trim().regex(/^\d+$/, 'expected a whole number').transform(Number)])
    .pipe(z.number().int(`expected a whole number`).min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

/** Milliseconds: a JSON number of ms, or text such as 500ms, 10s, 2m (a bare number is seconds). */
export const duration = z.union([
  z.number().int().min(0, 'expected 0 or more milliseconds'),
  z.string().transform((text, ctx) => {
    if (/^\s*0+\s*(ms|s|m)?\s*$/i.test(text)) return 0;
    try {
      return parseDuration(text, '');
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 10s or 2m (a bare number is seconds)' });
      return z.NEVER;
    }
  }),
]);

/** Bytes: a JSON number of bytes, or text such as 512k, 16M, 1G (a unit is required). */
export const size = z.union([
  z.number().int().positive('expected a positive number of bytes'),
  z.string().transform((text, ctx) => {
    try {
      return parseSize(text, '');
    } catch (error) {
      // parseSize's own text: a bare number gets its hint ("16 has no unit; did you mean 16M?")
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'expected a size such as 512k, 16M or 1G' });
      return z.NEVER;
    }
  }),
]);

/** A switch: a JSON boolean, or 1/0, true/false, yes/no, on/off. */
export const flag = z.union([
  z.boolean(),
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], 'expected true or false (1/0)'))
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v)),
]);

const relaxable = RELAXABLE_LAYERS as [RelaxableLayer, ...RelaxableLayer[]];

/** Layers to relax: a JSON array, or a comma-separated list (`landlock,seccomp`). */
export const relaxList = z.union([
  z.array(z.enum(relaxable)),
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(relaxable, `only ${RELAXABLE_LAYERS.join(', ')} can be relaxed`))),
]);

/** Web origins (`https://app.example.com`): a JSON array, or a comma-separated list; each
 *  normalised to scheme://host[:port]; only http and https. */
export const originList = z
  .union([z.array(z.string()), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))])
  .transform((list, ctx) => {
    const out: string[] = [];
    for (const item of list) {
      let url: URL | undefined;
      try {
        url = new URL(item);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} is not an http(s) origin; write scheme://host[:port], e.g. https://app.example.com` });
        return z.NEVER;
      }
      out.push(url.origin);
    }
    return out;
  });

/** A file path, not empty. */
export const path = z.string().trim().min(1, 'expected a file path');
