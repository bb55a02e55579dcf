// Whether a compile stage's artifact is something the run stage can start. A compiler can exit 0
// and still write no program: `go build` of a package that is not `main` writes an archive
// (mode 0644), and exec'ing it would fail in the run stage. Checked on the host, on the bytes
// that came back through the pipe (the host never reads the sandbox's filesystem), before the
// artifact is cached, so such a compile is a compile_error and is never cached. Pure.
import { WORKSPACE } from '../backend/backend.js';
import type { BundleFile } from '../backend/file-bundle.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const SHEBANG = Buffer.from('#!', 'latin1');
const AR_MAGIC = Buffer.from('!<arch>\n', 'latin1');

/** What the file's first bytes say it is, for the message. */
function describe(content: Buffer): string {
  if (content.subarray(0, AR_MAGIC.length).equals(AR_MAGIC)) return 'an archive (a library), not a program';
  if (content.length === 0) return 'an empty file';
  return 'not an ELF executable and has no #! line';
}

/**
 * The problem with the program the run stage would start, or null when it looks runnable (or is
 * not an artifact: an interpreter such as `java` or `node` from the toolchain runs the artifact).
 * `program` is the run stage's argv[0] after expansion (absolute, inside the sandbox); artifacts
 * are workspace-relative. Returns e.g. ".build/main is not executable: an archive (a library),
 * not a program".
 */
export function unrunnableArtifact(program: string, artifactPaths: readonly string[], artifacts: readonly BundleFile[]): string | null {
  if (!program.startsWith(`${WORKSPACE}/`)) return null;
  const rel = program.slice(WORKSPACE.length + 1);
  const fromArtifact = artifactPaths.some((a) => rel === a || rel.startsWith(`${a}/`));
  if (!fromArtifact) return null;
  const file = artifacts.find((f) => f.name === rel);
  if (file === undefined) return `the compiler did not write ${rel}, the program the run stage starts`;
  if (file.executable !== true) return `${rel} is not executable: ${describe(file.content)}`;
  const head = file.content.subarray(0, 4);
  if (!head.equals(ELF_MAGIC) && !head.subarray(0, 2).equals(SHEBANG)) return `${rel} is not a program: ${describe(file.content)}`;
  return null;
}
