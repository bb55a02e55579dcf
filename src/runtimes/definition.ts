// The declarative shape of a language. One object per language; the engine has no
// per-language branches. Operators add or override languages with the same shape in a
// configuration file (see docs/runtimes.md).
import { workspacePathProblem } from '../util/workspace-path.js';
import { z } from 'zod';
import { limitsSchema } from '../api/request.js';

/**
 * Tokens in argv templates (compile and run; see src/runtimes/tokens.ts):
 *   {bin}          the resolved toolchain binary (absolute path, same inside and outside the sandbox)
 *   {binDir}       its directory (e.g. `{binDir}/java` next to javac)
 *   {entry}        the entry file (the request's first file), relative to the workspace
 *   {entryStem}    the entry without its extension ("src/main" for "src/main.ts")
 *   {entryName}    the entry's base name without extension ("Main" for "Main.java")
 *   {mainClass}    with entryPoint "java-main-class": the class that declares main (its package
 *                  included, "Solution" or "com.x.App"); otherwise the same as {entryName}
 *   {files}        every source file with the runtime's extension, one argv element each
 *   {args}         the program's arguments, one argv element each (run stage)
 *   {compilerOptions} the request's compiler options (checked against the server's allowlist),
 *                  one argv element each (compile stage; a runtime without it takes none)
 *   {out}          the first compile artifact path
 *   {workspace}    the workspace directory inside the sandbox (/work)
 *   {memoryMiB}    the stage's memory limit in MiB; {memoryMiB*75%-64} is 75% of it minus 64
 *   {nodeModules}  where `nodePackages` are mounted inside the sandbox
 */
const workspacePath = z
  .string()
  .refine((p) => workspacePathProblem(p) === undefined, 'a relative path inside the workspace, without "." or ".." components');

export const runtimeDefinitionSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9+#._-]*$/, 'lower-case id, e.g. "python"'),
  aliases: z.array(z.string()).default([]),
  extension: z.string().regex(/^\.[A-Za-z0-9]+$/, 'an extension such as ".py"'),
  entry: z.string().min(1).describe('Default entry file name when a request gives `code`.'),
  package: z.string().describe('The Debian/Ubuntu package that provides the toolchain.'),
  binary: z.strictObject({
    candidates: z.array(z.string()).min(1).describe('Absolute paths, ~/paths or command names, tried in order.'),
    resolve: z.array(z.string()).optional().describe('Host command printing the real executable (first line) and extra trees to bind (next lines).'),
  }),
  version: z.strictObject({
    argv: z.array(z.string()).min(1),
    pattern: z.string().describe('Regular expression whose first group is the version.'),
  }),
  compile: z
    .strictObject({
      argv: z.array(z.string()).min(1),
      artifact: z
        .union([workspacePath, z.array(workspacePath).min(1)])
        .transform((v) => (Array.isArray(v) ? v : [v]))
        .describe('Workspace-relative path(s) of the compiled output, files or directories; they are carried into the run stage.'),
      env: z.record(z.string(), z.string()).default({}),
      notRunnableHint: z
        .string()
        .optional()
        .describe('Said in the compile_error when the compiler exits 0 but writes no program the run stage can start (Go: the entry file must declare package main with func main).'),
    })
    .optional(),
  run: z.strictObject({ argv: z.array(z.string()).min(1) }),
  entryPoint: z
    .enum(['java-main-class'])
    .optional()
    .describe('How the entry point is found beyond the first file. "java-main-class": sources are named after their public class and {mainClass} is the class that declares main.'),
  env: z.record(z.string(), z.string()).default({}),
  prestart: z
    .enum(['python', 'node', 'java'])
    .optional()
    .describe('How the run stage\'s runtime can be started ahead of its request (a prepared sandbox then waits with it initialised): "python" for CPython, "node" for Node.js run as `{bin} {entry} {args}`, "java" for a JVM run as `java OPTIONS -cp CP MAIN {args}`. Left out: always started cold.'),
  readOnlyPaths: z.array(z.string()).default([]).describe('Extra host trees the toolchain needs, bound read-only.'),
  nodePackages: z.array(z.string().regex(/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/, 'an npm package name')).default([]).describe("npm packages of cylo's own installation mounted read-only at {nodeModules}/<name>."),
  limits: limitsSchema.optional(),
});

export type RuntimeDefinitionInput = z.input<typeof runtimeDefinitionSchema>;
export type RuntimeDefinition = z.output<typeof runtimeDefinitionSchema>;
