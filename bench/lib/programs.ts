// The benign programs the benchmarks run: hello world per language and a prime sieve (size N,
// repeated R times, the count printed so no compiler can drop the work). The bare baselines
// run only these.

export const HELLO_TEXT = 'hello, world';

/** Hello world per language id. `entry` is the runtime's entry file name (Java needs it for the
 *  class name). */
export function helloProgram(language: string, entry: string): string | undefined {
  switch (language) {
    case 'python':
      return `print("${HELLO_TEXT}")\n`;
    case 'javascript':
      return `console.log("${HELLO_TEXT}");\n`;
    case 'typescript':
      return `const message: string = "${HELLO_TEXT}";\nconsole.log(message);\n`;
    case 'bash':
      return `echo "${HELLO_TEXT}"\n`;
    case 'c':
      return `#include <stdio.h>\nint main(void) { puts("${HELLO_TEXT}"); return 0; }\n`;
    case 'cpp':
      return `#include <iostream>\nint main() { std::cout << "${HELLO_TEXT}" << std::endl; return 0; }\n`;
    case 'go':
      return `package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("${HELLO_TEXT}") }\n`;
    case 'rust':
      return `fn main() { println!("${HELLO_TEXT}"); }\n`;
    case 'java':
      return `public class ${javaClass(entry)} {\n  public static void main(String[] args) { System.out.println("${HELLO_TEXT}"); }\n}\n`;
    default:
      return undefined;
  }
}

function javaClass(entry: string): string {
  const base = entry.split('/').pop() ?? 'Main.java';
  return base.endsWith('.java') ? base.slice(0, -'.java'.length) : 'Main';
}

/** A prime sieve of size argv[1], run argv[2] times; prints the total count of primes. */
export function sieveProgram(language: string, entry: string): string | undefined {
  switch (language) {
    case 'python':
      return [
        'import sys',
        'n, r = int(sys.argv[1]), int(sys.argv[2])',
        'total = 0',
        'for _ in range(r):',
        '    s = bytearray([1]) * (n + 1)',
        '    s[0] = s[1] = 0',
        '    i = 2',
        '    while i * i <= n:',
        '        if s[i]:',
        '            for j in range(i * i, n + 1, i):',
        '                s[j] = 0',
        '        i += 1',
        '    total += sum(s)',
        'print(total)',
        '',
      ].join('\n');
    case 'javascript':
      return [
        'const n = Number(process.argv[2]), r = Number(process.argv[3]);',
        'let total = 0;',
        'for (let k = 0; k < r; k++) {',
        '  const s = new Uint8Array(n + 1).fill(1); s[0] = 0; s[1] = 0;',
        '  for (let i = 2; i * i <= n; i++) if (s[i]) for (let j = i * i; j <= n; j += i) s[j] = 0;',
        '  for (let i = 0; i <= n; i++) total += s[i];',
        '}',
        'console.log(total);',
        '',
      ].join('\n');
    case 'c':
    case 'cpp':
      return [
        '#include <stdio.h>',
        '#include <stdlib.h>',
        '#include <string.h>',
        'int main(int argc, char **argv) {',
        '  if (argc < 3) return 2;',
        '  long n = atol(argv[1]), r = atol(argv[2]), total = 0;',
        '  char *s = (char *)malloc(n + 1);',
        '  for (long k = 0; k < r; k++) {',
        '    memset(s, 1, n + 1); s[0] = s[1] = 0;',
        '    for (long i = 2; i * i <= n; i++) if (s[i]) for (long j = i * i; j <= n; j += i) s[j] = 0;',
        '    for (long i = 0; i <= n; i++) total += s[i];',
        '  }',
        '  printf("%ld\\n", total);',
        '  free(s);',
        '  return 0;',
        '}',
        '',
      ].join('\n');
    case 'go':
      return [
        'package main',
        '',
        'import (',
        '\t"fmt"',
        '\t"os"',
        '\t"strconv"',
        ')',
        '',
        'func main() {',
        '\tn, _ := strconv.Atoi(os.Args[1])',
        '\tr, _ := strconv.Atoi(os.Args[2])',
        '\ttotal := 0',
        '\ts := make([]bool, n+1)',
        '\tfor k := 0; k < r; k++ {',
        '\t\tfor i := range s {',
        '\t\t\ts[i] = i >= 2',
        '\t\t}',
        '\t\tfor i := 2; i*i <= n; i++ {',
        '\t\t\tif s[i] {',
        '\t\t\t\tfor j := i * i; j <= n; j += i {',
        '\t\t\t\t\ts[j] = false',
        '\t\t\t\t}',
        '\t\t\t}',
        '\t\t}',
        '\t\tfor _, p := range s {',
        '\t\t\tif p {',
        '\t\t\t\ttotal++',
        '\t\t\t}',
        '\t\t}',
        '\t}',
        '\tfmt.Println(total)',
        '}',
        '',
      ].join('\n');
    case 'rust':
      return [
        'fn main() {',
        '    let a: Vec<String> = std::env::args().collect();',
        '    let n: usize = a[1].parse().unwrap();',
        '    let r: usize = a[2].parse().unwrap();',
        '    let mut total: usize = 0;',
        '    let mut s = vec![true; n + 1];',
        '    for _ in 0..r {',
        '        for (i, v) in s.iter_mut().enumerate() { *v = i >= 2; }',
        '        let mut i = 2;',
        '        while i * i <= n { if s[i] { let mut j = i * i; while j <= n { s[j] = false; j += i; } } i += 1; }',
        '        total += s.iter().filter(|&&p| p).count();',
        '    }',
        '    println!("{}", total);',
        '}',
        '',
      ].join('\n');
    case 'java':
      return [
        `public class ${javaClass(entry)} {`,
        '  public static void main(String[] args) {',
        '    int n = Integer.parseInt(args[0]), r = Integer.parseInt(args[1]);',
        '    long total = 0;',
        '    boolean[] s = new boolean[n + 1];',
        '    for (int k = 0; k < r; k++) {',
        '      for (int i = 0; i <= n; i++) s[i] = i >= 2;',
        '      for (int i = 2; (long) i * i <= n; i++) if (s[i]) for (int j = i * i; j <= n; j += i) s[j] = false;',
        '      for (int i = 0; i <= n; i++) if (s[i]) total++;',
        '    }',
        '    System.out.println(total);',
        '  }',
        '}',
        '',
      ].join('\n');
    default:
      return undefined;
  }
}

/** A line comment that makes the source text unique (a compile-cache miss) without changing
 *  the program. */
export function nonceComment(language: string, nonce: string): string {
  return language === 'python' || language === 'bash' ? `# ${nonce}\n` : `// ${nonce}\n`;
}
