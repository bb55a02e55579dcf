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
}

export interface JavaFileDecl {
  /** The package ("" for the default package). */
  pkg: string;
  types: JavaType[];
}

const IDENT_SOURCE = '[\\p{L}\\p{Nl}_$][\\p{L}\\p{Nl}\\p{Mn}\\p{Mc}\\p{Nd}\\p{Pc}_$]*';
const IDENT = new RegExp(IDENT_SOURCE, 'uy');
const WHOLE_IDENT = new RegExp(`^${IDENT_SOURCE}$`, 'u');
const TYPE_KEYWORDS = new Set(['class', 'interface', 'enum', 'record']);

/** The tokens of `text` that matter here: identifiers and the punctuation { } ( ) ; . @ — with
 *  comments, literals and whitespace dropped. */
export function javaTokens(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  const skipQuoted = (quote: string): void => {
    for (i += 1; i < text.length && text[i] !== quote && text[i] !== '\n'; i++) if (text[i] === '\\') i++;
    i++;
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (text.startsWith('//', i)) i = text.indexOf('\n', i) === -1 ? text.length : text.indexOf('\n', i);
    else if (text.startsWith('/*', i)) i = text.indexOf('*/', i + 2) === -1 ? text.length : text.indexOf('*/', i + 2) + 2;
    else if (text.startsWith('"""', i)) {
      let j = i + 3;
      while (j < text.length && !text.startsWith('"""', j)) j += text[j] === '\\' ? 2 : 1;
      i = j + 3;
    } else if (c === '"' || c === "'") skipQuoted(c);
    else if ('{}();.@'.includes(c)) {
      tokens.push(c);
      i++;
    } else {
      IDENT.lastIndex = i;
      const m = IDENT.exec(text);
      if (m !== null) {
        tokens.push(m[0]);
        i += m[0].length;
      } else i++;
    }
  }
  return tokens;
}

/** The package and top-level types of one Java source file. */
export function javaDeclarations(text: string): JavaFileDecl {
  const tokens = javaTokens(text);
  const decl: JavaFileDecl = { pkg: '', types: [] };
  let depth = 0;
  /** Tokens since the last ; { or } at the current depth (modifiers of what comes next). */
  let since: string[] = [];
  let current: JavaType | undefined;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as string;
    if (t === '{' || t === '}' || t === ';') {
      if (t === '{') depth++;
      if (t === '}') depth = Math.max(0, depth - 1);
      if (depth === 0 && t === '}') current = undefined;
      since = [];
      continue;
    }
    if (depth === 0 && t === 'package' && since.length === 0) {
      let name = '';
      for (k++; k < tokens.length && tokens[k] !== ';'; k++) name += tokens[k];
      decl.pkg = name;
      continue;
    }
    if (depth === 0 && TYPE_KEYWORDS.has(t) && current === undefined && since.at(-1) !== '.') {
      const name = tokens[k + 1];
      if (name !== undefined && WHOLE_IDENT.test(name)) {
        current = { name, isPublic: since.includes('public'), hasMain: false };
        decl.types.push(current);
      }
    }
    // A method `main` of the top-level type: `... static ... void main (`.
    if (depth === 1 && current !== undefined && t === 'main' && tokens[k + 1] === '(' && since.at(-1) === 'void' && since.includes('static')) current.hasMain = true;
    since.push(t);
  }
  return decl;
}
