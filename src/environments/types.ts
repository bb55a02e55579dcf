// Named environments (docs/environments.md): read-only dependency layers a request selects with
// `environment: "NAME"`. What one is (its manifest) and what it adds to a stage (its layer).
import { z } from 'zod';
import type { HostMount } from '../backend/backend.js';

/** The languages an environment can be built for. */
export const ENVIRONMENT_LANGUAGES = ['python', 'javascript'] as const;
export type EnvironmentLanguage = (typeof ENVIRONMENT_LANGUAGES)[number];

/** An environment's name: also its directory's name, so nothing a path could misread. */
export const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const ENVIRONMENT_NAME_RULE = 'lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 64 characters';

/** Where a built environment's tree appears inside the sandbox. Python: a site-packages tree on
 *  PYTHONPATH. JavaScript: a node_modules tree at /node_modules, which both require() and
 *  import find from /work by walking up the parents (ESM ignores NODE_PATH). */
export const PYTHON_ENV_IN_SANDBOX = '/.cylo/environment';
export const NODE_MODULES_ENV_IN_SANDBOX = '/node_modules';

const packageSchema = z.strictObject({ name: z.string().min(1).max(214), version: z.string().max(128) });
export type EnvironmentPackage = z.infer<typeof packageSchema>;

/** manifest.json of a stored environment (written by `cylo env build`). */
export const manifestSchema = z.strictObject({
  name: z.string().regex(ENVIRONMENT_NAME),
  language: z.enum(ENVIRONMENT_LANGUAGES),
  packages: z.array(packageSchema).max(10_000),
  /** ISO 8601 time of the build. */
  created: z.string().max(64),
  /** How it was built: the tool, what it was asked for, from where, with network or not. */
  build: z.strictObject({
    tool: z.enum(['pip', 'npm', 'debian']),
    requested: z.array(z.string().max(4096)).max(1000),
    from: z.string().max(4096).nullable(),
    network: z.boolean(),
  }),
});
export type EnvironmentManifest = z.infer<typeof manifestSchema>;

/** An environment as listed (`cylo env list`, `cylo runtimes`, GET /v1/runtimes, MCP). */
export interface EnvironmentInfo {
  name: string;
  language: EnvironmentLanguage;
  /** Installed packages (the import names' distributions) with their versions. */
  packages: EnvironmentPackage[];
  /** true: built into cylo from the host's Debian packages (`datasci`); false: built by
   *  `cylo env build` into the environments directory. */
  builtin: boolean;
  created: string | null;
  build: EnvironmentManifest['build'];
}

/** What an environment adds to a stage: read-only trees and variables. */
export interface EnvironmentLayer {
  mounts: HostMount[];
  env: Record<string, string>;
}
