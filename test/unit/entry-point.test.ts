// Unit tests of the pure pieces behind "a compile that produces nothing runnable" (issue 12,
// item 2): the Java declaration reader, the entry planner, the artifact check, the helper's
// exec-failure status line and its classification. The integration tests
// (test/integration/compile-outcomes.test.ts) run the same cases through real compilers; these
// pin the edge cases a real compiler run would be slow to cover.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { javaDeclarations } from '../../src/runtimes/java-sources.js';
import { JAVA_SCAN_BYTES, planEntry } from '../../src/runtimes/entry-point.js';
import { runtimeDefinitionSchema } from '../../src/runtimes/definition.js';
import { BUILTIN_RUNTIMES } from '../../src/runtimes/builtin.js';
import { unrunnableArtifact } from '../../src/engine/artifact-check.js';
import { parseHelperStatus } from '../../src/sandbox/helper-status.js';
import { classifyStage } from '../../src/engine/outcome.js';
import type { StageReport } from '../../src/backend/backend.js';

const def = (id: string) => runtimeDefinitionSchema.parse(BUILTIN_RUNTIMES.find((d) => d.id === id));
const file = (name: string, content: string) => ({ name, content: Buffer.from(content) });

test('java declarations: comments, strings, text blocks and nested types are not declarations', () => {
  const src = `package com.example.app; // class Fake {
/* public class AlsoFake { public static void main(String[] a) {} } */
import static java.lang.Math.*;
@SuppressWarnings("unchecked class Nope")
public final class Solution {
  static String s = "public static void main(";
  static String block = """
      class InBlock { static void main(String[] a) {} }
      """;
  char c = '{';
  static class Inner { public static void main(String[] a) {} }
  void helper() { Object o = Solution.class; }
}
class Other { public static <T> void main(final String... args) throws Exception {} }
record Point(int x, int y) { }
`;
  const d = javaDeclarations(src);
  assert.equal(d.pkg, 'com.example.app');
  assert.deepEqual(d.types, [
    { name: 'Solution', isPublic: true, hasMain: false, instanceMain: false },
    { name: 'Other', isPublic: false, hasMain: true, instanceMain: false },
    { name: 'Point', isPublic: false, hasMain: false, instanceMain: false },
  ]);
  assert.equal(d.topLevelMain, false);
});

test('java declarations and entry: Java 21+ instance main and compact source files are not "no main"', () => {
  const instance = javaDeclarations('class Greeter { void main() { System.out.println("hi"); } int mainly() { return 1; } }');
  assert.deepEqual(instance.types, [{ name: 'Greeter', isPublic: false, hasMain: false, instanceMain: true }]);
  assert.equal(planEntry(def('java'), [file('Main.java', 'class Greeter { void main() {} }')]).mainClass, 'Greeter');
  const compact = javaDeclarations('void main() { IO.println("hi"); }\nString greet() { return "x"; }\n');
  assert.equal(compact.topLevelMain, true);
  const plan = planEntry(def('java'), [file('Main.java', 'void main() { }\n')]);
  assert.deepEqual([plan.mainClass, plan.problem], [undefined, undefined], 'the implicit class: the entry name runs');
});

test('java entry: code sent as Main.java is renamed after its public class, which runs', () => {
  const plan = planEntry(def('java'), [file('Main.java', 'public class Solution { public static void main(String[] a) {} }')]);
  assert.deepEqual(plan.files.map((f) => f.name), ['Solution.java']);
  assert.equal(plan.mainClass, 'Solution');
  assert.equal(plan.problem, undefined);
});

test('java entry: an entry without .java gets it; a name another file has is not taken', () => {
  const plan = planEntry(def('java'), [file('Main', 'class A { public static void main(String[] a) {} }'), file('dir/X.java', 'public class Main {}'), file('Y.java', 'public class Z {}')]);
  // Main -> Main.java (no public class to rename it after); dir/X.java -> dir/Main.java; Y.java -> Z.java
  assert.deepEqual(plan.files.map((f) => f.name), ['Main.java', 'dir/Main.java', 'Z.java']);
  assert.equal(plan.mainClass, 'A');
  const clash = planEntry(def('java'), [file('A.java', 'public class B {}'), file('B.java', 'class C { public static void main(String[] a) {} }')]);
  assert.deepEqual(clash.files.map((f) => f.name), ['A.java', 'B.java'], 'B.java is taken: left for javac to report');
});

test('java entry: the main class, or a problem saying what to change', () => {
  const main = (cls: string, pub = false) => `${pub ? 'public ' : ''}class ${cls} { public static void main(String[] a) {} }\n`;
  assert.equal(planEntry(def('java'), [file('Main.java', 'class Util {}'), file('pkg/App.java', `package pkg;\n${main('App', true)}`)]).mainClass, 'pkg.App');
  assert.equal(planEntry(def('java'), [file('Main.java', `${main('A')}${main('B', true)}`)]).mainClass, 'B', 'the public one of the entry file');
  assert.match(planEntry(def('java'), [file('Main.java', `${main('A')}${main('B')}`)]).problem ?? '', /several classes of the entry file Main\.java declare main \(A, B\)/);
  assert.match(planEntry(def('java'), [file('Main.java', 'class U {}'), file('A.java', main('A')), file('B.java', main('B'))]).problem ?? '', /several classes declare main \(A, B\) and none is in the entry file/);
  assert.match(planEntry(def('java'), [file('Main.java', 'public class Solution { int f() { return 1; } }')]).problem ?? '', /no class declares `public static void main\(String\[\] args\)`/);
});

test('entry without an extension: compiled languages get theirs, interpreted ones are left alone', () => {
  assert.deepEqual(planEntry(def('c'), [file('prog', 'int main(void){return 0;}')]).files.map((f) => f.name), ['prog.c']);
  assert.deepEqual(planEntry(def('python'), [file('prog', 'print(1)')]).files.map((f) => f.name), ['prog']);
  assert.equal(planEntry(def('c'), [file('prog', '')]).mainClass, undefined);
});

test('artifact check: the run stage program must be an executable ELF or #! artifact', () => {
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(60)]);
  const art = (content: Buffer, executable: boolean) => [{ name: '.build/main', content, executable }];
  assert.equal(unrunnableArtifact('/work/.build/main', ['.build/main'], art(elf, true)), null);
  assert.equal(unrunnableArtifact('/work/.build/main', ['.build/main'], art(Buffer.from('#!/bin/sh\n'), true)), null);
  assert.equal(unrunnableArtifact('/work/.build/main', ['.build/main'], art(Buffer.from('!<arch>\n__.PKGDEF'), false)), '.build/main is not executable: an archive (a library), not a program');
  assert.equal(unrunnableArtifact('/work/.build/main', ['.build/main'], art(Buffer.from('hello'), true)), '.build/main is not a program: not an ELF executable and has no #! line');
  assert.match(unrunnableArtifact('/work/.build/run', ['.build'], art(elf, true)) ?? '', /did not write \.build\/run/);
  // an interpreter from the toolchain runs the artifact (java, node): nothing to check
  assert.equal(unrunnableArtifact('/usr/bin/java', ['.build'], []), null);
  assert.equal(unrunnableArtifact('/work/main.py', ['.build'], []), null, 'not an artifact');
});

test('helper status: "F <errno> <message>" is an exec failure, not a setup error', () => {
  assert.deepEqual(parseHelperStatus('F 13 cannot execute /work/x: Permission denied'), { type: 'exec-error', errno: 13, message: 'cannot execute /work/x: Permission denied' });
  assert.equal(parseHelperStatus('F nonsense'), undefined);
  assert.deepEqual(parseHelperStatus('Ebwrap failed'), { type: 'setup-error', message: 'bwrap failed' });
});

test('classification: an exec failure is the program\'s runtime_error, the compiler\'s internal_error', () => {
  const limits = { timeoutMs: 1000, cpuTimeMs: 1000, memoryBytes: 1 << 26, pids: 8, outputBytes: 1024, workspaceBytes: 1 << 20 };
  const report: StageReport = {
    stopReason: null,
    setupError: null,
    execError: { errno: 8, message: 'cannot execute /work/a: Exec format error' },
    exit: { code: 127, signalNumber: null },
    oomKilled: false,
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    wallMs: 1,
    cpuMs: 1,
    memoryBytes: 1,
  };
  const run = classifyStage(report, 'run', limits, 'utf8');
  assert.equal(run.status, 'runtime_error');
  assert.equal(run.exitCode, 127);
  assert.equal(run.message, 'the program could not be started: cannot execute /work/a: Exec format error; the file is not a program the system can start (not an ELF executable, no #! line)');
  const compile = classifyStage(report, 'compile', limits, 'utf8');
  assert.equal(compile.status, 'internal_error');
  assert.match(compile.message ?? '', /^the compiler could not be started: .*check the runtime definition$/);
  assert.equal(classifyStage({ ...report, setupError: 'no bwrap' }, 'run', limits, 'utf8').status, 'internal_error', 'a setup failure still wins');
});

test('java entry: sources beyond the scan budget are compiled as sent, with no verdict on main', () => {
  const big = `public class Big { static int[] a = {${'1,'.repeat(JAVA_SCAN_BYTES / 2)}1}; }\n`;
  const plan = planEntry(def('java'), [file('Main.java', big)]);
  assert.deepEqual(plan.files.map((f) => f.name), ['Main.java'], 'not read, so not renamed');
  assert.equal(plan.mainClass, undefined);
  assert.equal(plan.problem, undefined, 'no claim about a main it did not look for');
});
