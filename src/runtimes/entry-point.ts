// How a request's files become a compiled language's sources and entry point, before the
// compile stage (pure; the lifecycle calls it once per execution):
// - a compiled language's entry file sent without an extension ("Main", "solution") gets the
//   language's extension, so that the compiler sees it among {files};
// - `entryPoint: "java-main-class"` (Java): each source is named after its public top-level
//   type (javac refuses `public class Solution` in Main.java, and `code` always arrives as
//   Main.java), and {mainClass} is the class that declares `static void main`: the entry
//   file's, otherwise the only one of the request (Java 21+: else the only class with an instance
//   `void main()`, or, for a compact source file, the entry's name). None, or several outside the
//   entry file, is a problem the compile stage reports as a compile_error saying what to change.
import { posix } from 'node:path';
import type { SourceFile } from '../api/request.js';
import type { RuntimeDefinition } from './definition.js';
import { javaDeclarations } from './java-sources.js';

export interface EntryPlan {
  /** The request's files, renamed where needed (same order, same contents). */
  files: SourceFile[];
  /** The class the run stage starts ({mainClass}); undefined: the entry's base name. */
  mainClass?: string | undefined;
  /** Why no entry point could be chosen (a compile_error once the sources compile). */
  problem?: string | undefined;
}

/** Bytes of Java source read on the host per request (entry file first): the reader takes about
 *  0.2 s per MiB of adversarial input on the event loop; real programs are far smaller. A
 *  request with more is compiled as sent, and its main class is not looked for. */
export const JAVA_SCAN_BYTES = 1024 * 1024;

const MAIN_EXAMPLE = '`public class Main { public static void main(String[] args) { ... } }`';

/** `files` renamed so that `rename(file)` applies where the new name is free. */
function renamed(files: readonly SourceFile[], rename: (f: SourceFile, index: number) => string | undefined): SourceFile[] {
  const taken = new Set(files.map((f) => f.name));
  return files.map((f, index) => {
    const name = rename(f, index);
    if (name === undefined || name === f.name || taken.has(name)) return f;
    taken.delete(f.name);
    taken.add(name);
    return { ...f, name };
  });
}

/** Java: files named after their public class; the class to run. */
function planJava(files: SourceFile[], extension: string): EntryPlan {
  let budget = JAVA_SCAN_BYTES;
  let unread = false;
  const decls = files.map((f) => {
    if (!f.name.endsWith(extension)) return undefined;
    if (f.content.length > budget) {
      unread = true;
      return undefined;
    }
    budget -= f.content.length;
    return javaDeclarations(f.content.toString('utf8'));
  });
  const out = renamed(files, (f, k) => {
    const pub = decls[k]?.types.find((t) => t.isPublic);
    return pub === undefined ? undefined : posix.join(posix.dirname(f.name), `${pub.name}${extension}`);
  });
  const mains = (k: number): string[] => {
    const d = decls[k];
    return d === undefined ? [] : d.types.filter((t) => t.hasMain).map((t) => (d.pkg === '' ? t.name : `${d.pkg}.${t.name}`));
  };
  const inEntry = mains(0);
  const entryPublic = decls[0]?.types.find((t) => t.isPublic && t.hasMain);
  if (inEntry.length === 1) return { files: out, mainClass: inEntry[0] };
  if (inEntry.length > 1 && entryPublic !== undefined) return { files: out, mainClass: inEntry.find((n) => n === entryPublic.name || n.endsWith(`.${entryPublic.name}`)) };
  if (inEntry.length > 1) return { files: out, problem: `several classes of the entry file ${out[0]?.name ?? ''} declare main (${inEntry.join(', ')}); make the one to run public, or keep main in one class` };
  const all = decls.flatMap((_, k) => mains(k));
  if (all.length === 1) return { files: out, mainClass: all[0] };
  // Sources too large to read: compiled as sent, the entry's name runs (javac and java report).
  if (unread) return { files: out };
  // Java 21+: an instance main (the only one), or a compact source file (the entry's name).
  const instance = decls.flatMap((d) => (d === undefined ? [] : d.types.filter((t) => t.instanceMain).map((t) => (d.pkg === '' ? t.name : `${d.pkg}.${t.name}`))));
  if (all.length === 0 && instance.length === 1) return { files: out, mainClass: instance[0] };
  if (all.length === 0 && decls[0]?.topLevelMain === true) return { files: out };
  if (all.length > 1) return { files: out, problem: `several classes declare main (${all.join(', ')}) and none is in the entry file; send the file of the class to run first` };
  return { files: out, problem: `no class declares \`public static void main(String[] args)\`; add it to the class to run, e.g. ${MAIN_EXAMPLE}` };
}

/** The sources and entry point of `files` for `def` (see the top of this file). */
export function planEntry(def: RuntimeDefinition, files: readonly SourceFile[]): EntryPlan {
  if (def.compile === undefined) return { files: [...files] };
  const withExtension = renamed(files, (f, k) => (k === 0 && !posix.basename(f.name).includes('.') ? `${f.name}${def.extension}` : undefined));
  if (def.entryPoint === 'java-main-class') return planJava(withExtension, def.extension);
  return { files: withExtension };
}
