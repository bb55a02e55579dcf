// The declarative shape of a language. One object per language; the engine has no
// per-language branches. Operators add or override languages with the same shape in a
// configuration file (see docs/runtimes.md).
import { z } from 'zod';
import { limitsSchema } from '../api/request.js';

/**
 * Tokens in argv templates:
 *   {bin}      the resolved toolchain binary (absolute path, same inside and outside the sandbox)
 *   {entry}    the entry file, relative to the workspace
 *   {files}    every source file with the runtime's extension, one argv element each
 *   {args}     the program's arguments, one argv element each
 *   {out}      the compile stage's artifact path (compiled languages)
 */
export const runtimeDefinitionSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9+#._-]*$/, 'lower-case id, e.g. "python"'),
  aliases: z.array(z.string()).default([]),
  extension: z.string().regex(/^\.[A-Za-z0-9]+$/, 'an extension such as ".py"'),
  entry: z.string().min(1).describe('Default entry file name when a request gives `code`.'),
  package: z.string().describe('The Debian/Ubuntu package that provides the toolchain.'),
  binary: z.strictObject({
    candidates: z.array(z.string()).min(1).describe('Absolute paths or command names, tried in order.'),
    resolve: z.array(z.string()).optional().describe('Host command printing the real executable (first line) and extra trees to bind (next lines).'),
  }),
  version: z.strictObject({
    argv: z.array(z.string()).min(1),
    pattern: z.string().describe('Regular expression whose first group is the version.'),
  }),
  compile: z
    .strictObject({
      argv: z.array(z.string()).min(1),
      artifact: z.string().describe('Path of the compiled output inside the workspace.'),
      env: z.record(z.string(), z.string()).default({}),
    })
    .optional(),
  run: z.strictObject({ argv: z.array(z.string()).min(1) }),
  env: z.record(z.string(), z.string()).default({}),
  readOnlyPaths: z.array(z.string()).default([]).describe('Extra host trees the toolchain needs, bound read-only.'),
  limits: limitsSchema.optional(),
});

export type RuntimeDefinitionInput = z.input<typeof runtimeDefinitionSchema>;
export type RuntimeDefinition = z.output<typeof runtimeDefinitionSchema>;
