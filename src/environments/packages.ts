// The packages a built tree holds, with their versions, for its manifest: pip's
// NAME.dist-info/METADATA (Name:, Version:) and npm's node_modules/[@scope/]NAME/package.json.
// Read from the decoded bundle (untrusted text: bounded, parsed, never evaluated).
import type { BundleFile } from '../backend/file-bundle.js';
import type { EnvironmentLanguage, EnvironmentPackage } from './types.js';

const clip = (s: string, n: number): string => s.slice(0, n);

function pythonPackage(f: BundleFile): EnvironmentPackage | undefined {
  const text = f.content.subarray(0, 64 * 1024).toString('utf8');
  const name = /^Name:\s*(.+)$/m.exec(text)?.[1]?.trim();
  const version = /^Version:\s*(.+)$/m.exec(text)?.[1]?.trim();
  return name === undefined ? undefined : { name: clip(name, 214), version: clip(version ?? '', 128) };
}

function nodePackage(f: BundleFile): EnvironmentPackage | undefined {
  try {
    const json = JSON.parse(f.content.subarray(0, 1024 * 1024).toString('utf8')) as { name?: unknown; version?: unknown };
    if (typeof json.name !== 'string') return undefined;
    return { name: clip(json.name, 214), version: typeof json.version === 'string' ? clip(json.version, 128) : '' };
  } catch {
    return undefined;
  }
}

/** The packages in `files` (bundle names under `root/`), sorted by name. */
export function environmentPackages(language: EnvironmentLanguage, files: readonly BundleFile[], root: string): EnvironmentPackage[] {
  const python = new RegExp(`^${root}/[^/]+\\.dist-info/METADATA$`);
  const node = new RegExp(`^${root}/node_modules/(@[^/]+/)?[^/@.][^/]*/package\\.json$`);
  const found = files.flatMap((f) => {
    const p = language === 'python' ? (python.test(f.name) ? pythonPackage(f) : undefined) : node.test(f.name) ? nodePackage(f) : undefined;
    return p === undefined ? [] : [p];
  });
  return found.sort((a, b) => a.name.localeCompare(b.name));
}
