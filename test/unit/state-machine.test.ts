// Unit tests for the execution lifecycle state machine: every allowed transition works and is
// observable, every other one throws, and the final states stay final.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecutionStateMachine, InvalidTransitionError, TRANSITIONS, type ExecutionState, type StateEvent } from '../../src/engine/state-machine.js';

const STATES: readonly ExecutionState[] = ['Init', 'MountRamdisk', 'PrepareExecution', 'Compiling', 'Processing', 'Done', 'Failed'];

// The lifecycle as documented (written out independently of TRANSITIONS, so that a change to the
// table has to be made here too, on purpose).
const EXPECTED: Record<ExecutionState, ExecutionState[]> = {
  Init: ['MountRamdisk', 'Failed'],
  MountRamdisk: ['PrepareExecution', 'Failed'],
  PrepareExecution: ['Compiling', 'Processing', 'Done', 'Failed'],
  Compiling: ['Processing', 'Done', 'Failed'],
  Processing: ['Done', 'Failed'],
  Done: [],
  Failed: [],
};

/** The shortest legal path from Init to each state. */
const PATH_TO: Record<ExecutionState, ExecutionState[]> = {
  Init: [],
  MountRamdisk: ['MountRamdisk'],
  PrepareExecution: ['MountRamdisk', 'PrepareExecution'],
  Compiling: ['MountRamdisk', 'PrepareExecution', 'Compiling'],
  Processing: ['MountRamdisk', 'PrepareExecution', 'Processing'],
  Done: ['MountRamdisk', 'PrepareExecution', 'Done'],
  Failed: ['Failed'],
};

function machineAt(state: ExecutionState, events: StateEvent[] = []): ExecutionStateMachine {
  const m = new ExecutionStateMachine('exec-1', (e) => events.push(e));
  for (const s of PATH_TO[state]) m.transition(s);
  assert.equal(m.state, state);
  return m;
}

test('the transition table is exactly the documented lifecycle', () => {
  assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...STATES].sort());
  for (const from of STATES) assert.deepEqual([...TRANSITIONS[from]].sort(), [...EXPECTED[from]].sort(), `transitions from ${from}`);
  assert.ok(Object.isFrozen(TRANSITIONS), 'the table cannot be changed at run time');
});

test('a new machine starts in Init, not finished, with no history', () => {
  const m = new ExecutionStateMachine('exec-0');
  assert.equal(m.state, 'Init');
  assert.equal(m.finished, false);
  assert.deepEqual(m.history, []);
});

test('every allowed transition works and emits one event with from/to', () => {
  let checked = 0;
  for (const from of STATES) {
    for (const to of EXPECTED[from]) {
      const events: StateEvent[] = [];
      const m = machineAt(from, events);
      const before = events.length;
      m.transition(to);
      assert.equal(m.state, to, `${from} -> ${to}`);
      assert.equal(events.length, before + 1, `${from} -> ${to} emits exactly one event`);
      const e = events.at(-1) as StateEvent;
      assert.equal(e.type, 'state');
      assert.equal(e.executionId, 'exec-1');
      assert.equal(e.from, from);
      assert.equal(e.to, to);
      assert.ok(typeof e.atMs === 'number' && e.atMs >= 0, 'atMs is a non-negative number');
      assert.equal('reason' in e, false, 'no reason unless one is given');
      assert.deepEqual(m.history.at(-1), e, 'the history records the same event');
      checked++;
    }
  }
  assert.equal(checked, 13);
});

test('the full paths emit their events in order', () => {
  const events: StateEvent[] = [];
  const m = new ExecutionStateMachine('exec-2', (e) => events.push(e));
  for (const s of ['MountRamdisk', 'PrepareExecution', 'Compiling', 'Processing', 'Done'] as const) m.transition(s);
  assert.deepEqual(
    events.map((e) => `${e.from}->${e.to}`),
    ['Init->MountRamdisk', 'MountRamdisk->PrepareExecution', 'PrepareExecution->Compiling', 'Compiling->Processing', 'Processing->Done'],
  );
  for (let i = 1; i < events.length; i++) assert.ok((events[i] as StateEvent).atMs >= (events[i - 1] as StateEvent).atMs, 'atMs never goes back');
  assert.equal(m.finished, true);
});

test('every disallowed transition throws InvalidTransitionError and changes nothing', () => {
  let checked = 0;
  for (const from of STATES) {
    for (const to of STATES) {
      if (EXPECTED[from].includes(to)) continue;
      const events: StateEvent[] = [];
      const m = machineAt(from, events);
      const before = events.length;
      assert.throws(
        () => m.transition(to),
        (error: unknown) => {
          assert.ok(error instanceof InvalidTransitionError, `${from} -> ${to} throws InvalidTransitionError`);
          assert.equal(error.from, from);
          assert.equal(error.to, to);
          assert.equal(error.name, 'InvalidTransitionError');
          assert.match(error.message, new RegExp(`${from} -> ${to}`));
          return true;
        },
      );
      assert.equal(m.state, from, `${from} -> ${to} leaves the state unchanged`);
      assert.equal(events.length, before, `${from} -> ${to} emits nothing`);
      assert.equal(m.history.length, before);
      checked++;
    }
  }
  // 7 x 7 pairs minus the 13 allowed ones (self-transitions are among the disallowed ones).
  assert.equal(checked, 49 - 13);
});

test('Done and Failed are final: nothing leaves them, not even Failed', () => {
  for (const final of ['Done', 'Failed'] as const) {
    const m = machineAt(final);
    assert.equal(m.finished, true);
    for (const to of STATES) assert.throws(() => m.transition(to), InvalidTransitionError, `${final} -> ${to}`);
    assert.equal(m.state, final);
  }
});

test('finished is false in every non-final state', () => {
  for (const s of STATES) assert.equal(machineAt(s).finished, s === 'Done' || s === 'Failed', s);
});

test('a transition to Failed carries its reason', () => {
  for (const from of ['Init', 'MountRamdisk', 'PrepareExecution', 'Compiling', 'Processing'] as const) {
    const events: StateEvent[] = [];
    const m = machineAt(from, events);
    m.transition('Failed', `boom in ${from}`);
    const e = events.at(-1) as StateEvent;
    assert.deepEqual([e.from, e.to, e.reason], [from, 'Failed', `boom in ${from}`]);
  }
});
