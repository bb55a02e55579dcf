// The host side of the session driver protocol (src/sessions/protocol.ts) treats the driver's
// output as untrusted: answers split across chunks are joined, and a line over the cap, a line
// that is not JSON, an answer of another shape or with a field over its cap is a violation
// (reported once; the session then ends), never an answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerReader, type DriverAnswer } from '../../src/sessions/protocol.js';

const caps = { textChars: 16, contentChars: 32 };

function reader(maxLine = 200): { r: AnswerReader; answers: DriverAnswer[]; problems: string[] } {
  const answers: DriverAnswer[] = [];
  const problems: string[] = [];
  return { r: new AnswerReader(caps, maxLine, (a) => answers.push(a), (p) => problems.push(p)), answers, problems };
}

test('answers split across chunks, and several in one chunk, are parsed in order', () => {
  const { r, answers, problems } = reader();
  r.push(Buffer.from('{"id":1,"stdout":"a'));
  r.push(Buffer.from('b","result":"3"}\n{"id":2,"size":4}\n'));
  assert.deepEqual(problems, []);
  assert.deepEqual(answers, [{ id: 1, stdout: 'ab', result: '3' }, { id: 2, size: 4 }]);
});

test('a line longer than the cap is a violation even before its newline arrives', () => {
  const { r, answers, problems } = reader(50);
  r.push(Buffer.from(`{"id":1,"stdout":"${'x'.repeat(60)}`));
  assert.equal(answers.length, 0);
  assert.match(problems[0] ?? '', /larger than 50 bytes/);
  r.push(Buffer.from('"}\n{"id":2}\n'));
  assert.equal(problems.length, 1, 'reported once; nothing is parsed after a violation');
  assert.equal(answers.length, 0);
});

for (const [what, line] of [
  ['not JSON', 'hello from print()'],
  ['an unknown key', '{"id":1,"eval":"x"}'],
  ['a field over its cap', `{"id":1,"stdout":"${'x'.repeat(17)}"}`],
  ['a base64 content over its cap', `{"id":1,"content":"${'A'.repeat(36)}"}`],
  ['a wrong type', '{"id":"1"}'],
  ['an image of another type', '{"id":1,"images":[{"mimeType":"text/html","data":""}]}'],
] as const) {
  test(`an answer with ${what} is a violation, not an answer`, () => {
    const { r, answers, problems } = reader();
    r.push(Buffer.from(`${line}\n`));
    assert.equal(answers.length, 0);
    assert.equal(problems.length, 1);
  });
}
