// Judge0 CE language ids and the cylo runtime each one runs on. Judge0 has one id per compiler
// version (C: 48, 49, 50, 103...); cylo has one runtime per language, at the version installed
// here. Every id of a family maps to that runtime; the listing (GET /languages) shows one entry
// per installed runtime: the family's lowest id, named with cylo's real version. The other ids
// of the family still work, and GET /languages/all lists them as archived. Ids of languages cylo
// does not have (or whose runtime is not installed here) do not exist, as in Judge0.
import type { RuntimeInfo } from '../../cylo.js';

export interface Judge0Family {
  /** The cylo runtime id. */
  runtime: string;
  /** Judge0 CE ids of this language, lowest first (the first is the listed one). */
  ids: readonly number[];
  /** Judge0's name for the language at a version, e.g. "C (GCC 12.2.0)". */
  name: (version: string) => string;
}

/** The Judge0 CE ids cylo answers to (CE 1.13 and the newer ids of the extra list). Not mapped:
 *  ids whose compiler cylo does not have (C/C++ with Clang: 75, 76; Python 2: 70), and 89
 *  "Multi-file program". */
export const JUDGE0_FAMILIES: readonly Judge0Family[] = [
  { runtime: 'bash', ids: [46], name: (v) => `Bash (${v})` },
  { runtime: 'c', ids: [48, 49, 50, 103], name: (v) => `C (GCC ${v})` },
  { runtime: 'cpp', ids: [52, 53, 54, 105], name: (v) => `C++ (GCC ${v})` },
  { runtime: 'go', ids: [60, 95, 106, 107], name: (v) => `Go (${v})` },
  { runtime: 'java', ids: [62, 91], name: (v) => `Java (OpenJDK ${v})` },
  { runtime: 'javascript', ids: [63, 93, 97, 102], name: (v) => `JavaScript (Node.js ${v})` },
  { runtime: 'python', ids: [71, 92, 100], name: (v) => `Python (${v})` },
  { runtime: 'rust', ids: [73, 108], name: (v) => `Rust (${v})` },
  { runtime: 'typescript', ids: [74, 94, 101], name: (v) => `TypeScript (${v})` },
];

/** A Judge0 language as cylo answers it. */
export interface Judge0Language {
  id: number;
  name: string;
  /** The cylo runtime it runs on. */
  runtime: string;
  /** False for the listed id of a family, true for its other ids (GET /languages/all). */
  is_archived: boolean;
}

/** Every Judge0 id whose runtime is installed here, by id (ascending). */
export function judge0Languages(runtimes: readonly RuntimeInfo[]): Judge0Language[] {
  const out: Judge0Language[] = [];
  for (const family of JUDGE0_FAMILIES) {
    const info = runtimes.find((r) => r.language === family.runtime);
    if (info === undefined || !info.available) continue;
    const name = family.name(info.version ?? 'unknown');
    family.ids.forEach((id, i) => out.push({ id, name, runtime: family.runtime, is_archived: i > 0 }));
  }
  return out.sort((a, b) => a.id - b.id);
}

/** The language with this Judge0 id, or undefined when it does not exist here. */
export function judge0Language(runtimes: readonly RuntimeInfo[], id: number): Judge0Language | undefined {
  return judge0Languages(runtimes).find((l) => l.id === id);
}

/** Judge0's validation message for an id that does not exist. */
export function unknownLanguageMessage(id: unknown): string {
  return `language with id ${String(id)} doesn't exist`;
}
