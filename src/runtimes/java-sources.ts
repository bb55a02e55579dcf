// What a Java source file declares at its top level, read from its text on the host (pure; no
// compiler): its package, its top-level types, which of them is public, and which declares
// `static void main(...)`. Comments, string and character literals and text blocks are skipped,
// and braces are counted, so `class` in a comment or a string, or a `main` of a nested class or
// of a method's local class, is not taken for a declaration. Used by java-entry.ts to name files
// after their public class (javac's rule) and to find the class to run.

/** One top-level type of a file. */
export interface JavaType {
  name: string;
  isPublic: boolean;
  /** It declares `static void main(...)` in its own body (not in a nested type). */
  hasMain: boolean;
  /** It declares a `void main(...)` that is not static (an instance main: Java 21+). */
  instanceMain: boolean;
}

export interface JavaFileDecl {
  /** The package ("" for the default package). */
  pkg: string;
  types: JavaType[];
  /** A `void main(...)` outside any type (a compact source file: Java 21+, an implicit class
   *  named after the file). */
  topLevelMain: boolean;
}

const IDENT_SOURCE = '[\\p{L}\\p{Nl}_$][\\p{L}\\p{Nl}\\p{Mn}\\p{Mc}\\p{Nd}\\p{Pc}_$]*';
const IDENT = new RegExp(IDENT_SOURCE, 'uy');
const WHOLE_IDENT = new RegExp(`^${IDENT_SOURCE}$`, 'u');
const TYPE_KEYWORDS = new Set(['class', 'interface', 'enum', 'record']);

/** Tokens of `since` kept (the modifiers and return type before a declaration are fewer). */
const SINCE_KEPT = 64;

/** The tokens of `text` that matter here, one at a time (memory stays constant whatever the
 *  size of the file): identifiers and the punctuation { } ( ) ; . @ — with comments, literals
 *  and whitespace dropped. Linear in the length of `text`. */
export function* javaTokens(text: string): Generator<string> {
  let i = 0;
  const endOfQuoted = (from: number, quote: string): number => {
    let j = from + 1;
    for (; j < text.length && text[j] !== quote && text[j] !== '\n'; j++) if (text[j] === '\\') j++;
    return j + 1;
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (text.startsWith('//', i)) i = text.indexOf('\n', i) === -1 ? text.length : text.indexOf('\n', i);
    else if (text.startsWith('/*', i)) i = text.indexOf('*/', i + 2) === -1 ? text.length : text.indexOf('*/', i + 2) + 2;
    else if (text.startsWith('"""', i)) {
      let j = i + 3;
      while (j < text.length && !text.startsWith('"""', j)) j += text[j] === '\\' ? 2 : 1;
      i = j + 3;
    } else if (c === '"' || c === "'") i = endOfQuoted(i, c);
    else if ('{}();.@'.includes(c)) {
      i++;
      yield c;
    } else {
      IDENT.lastIndex = i;
      const m = IDENT.exec(text);
      if (m === null) i++;
      else {
        i += m[0].length;
        yield m[0];
      }
    }
  }
}

/** The package and top-level types of one Java source file. */
export function javaDeclarations(text: string): JavaFileDecl {
  const decl: JavaFileDecl = { pkg: '', types: [], topLevelMain: false };
  let depth = 0;
  /** The last tokens since the last ; { or } (the modifiers of what comes next). */
  let since: string[] = [];
  let current: JavaType | undefined;
  let pkg: string | undefined; // reading `package a.b.c;`
  let typeIsPublic: boolean | undefined; // after `class`: the next token is the type's name
  let maybeMain: 'static' | 'instance' | 'top' | undefined; // after `void main`: a `(` makes it a method
  for (const t of javaTokens(text)) {
    if (pkg !== undefined) {
      if (t === ';') decl.pkg = pkg;
      else if (pkg.length < 1000) pkg += t;
      if (t === ';') pkg = undefined;
      continue;
    }
    if (maybeMain !== undefined && t === '(') {
      if (maybeMain === 'top') decl.topLevelMain = true;
      else if (current !== undefined && maybeMain === 'static') current.hasMain = true;
      else if (current !== undefined) current.instanceMain = true;
    }
    maybeMain = undefined;
    if (typeIsPublic !== undefined && WHOLE_IDENT.test(t)) {
      current = { name: t, isPublic: typeIsPublic, hasMain: false, instanceMain: false };
      decl.types.push(current);
    }
    typeIsPublic = undefined;
    if (t === '{' || t === '}' || t === ';') {
      if (t === '{') depth++;
      if (t === '}') depth = Math.max(0, depth - 1);
      if (depth === 0 && t === '}') current = undefined;
      since = [];
      continue;
    }
    if (depth === 0 && t === 'package' && since.length === 0) pkg = '';
    else if (depth === 0 && TYPE_KEYWORDS.has(t) && current === undefined && since.at(-1) !== '.') typeIsPublic = since.includes('public');
    // A method `main` of the top-level type (`... static ... void main (`), or of no type.
    else if (depth === 1 && current !== undefined && t === 'main' && since.at(-1) === 'void') maybeMain = since.includes('static') ? 'static' : 'instance';
    else if (depth === 0 && current === undefined && t === 'main' && since.at(-1) === 'void') maybeMain = 'top';
    since.push(t);
    if (since.length > SINCE_KEPT) since.shift();
  }
  return decl;
}
