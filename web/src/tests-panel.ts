// The test-cases panel: cases (stdin + expected output) sent as the request's `tests` (see
// docs/judging.md), and the verdict table of the answer: one row per case.

export interface TestCaseInput {
  stdin: string;
  expectedOutput: string;
}

interface CaseResult {
  index: number;
  verdict: string;
  verdictMessage: string | null;
  wallMs: number;
  memoryBytes: number;
}

export class TestsPanel {
  private readonly list: HTMLElement;
  private readonly table: HTMLTableElement;
  private count = 0;

  constructor() {
    this.list = document.getElementById('cases') as HTMLElement;
    this.table = document.getElementById('verdicts') as HTMLTableElement;
    document.getElementById('add-case')?.addEventListener('click', () => this.add({ stdin: '', expectedOutput: '' }).querySelector('textarea')?.focus());
  }

  /** Adds a case to the panel and returns its element. */
  add(value: TestCaseInput): HTMLElement {
    const n = ++this.count;
    const item = document.createElement('li');
    item.className = 'case';
    const field = (label: string, text: string, cls: string): HTMLElement => {
      const wrap = document.createElement('div');
      const id = `case-${n}-${cls}`;
      const l = document.createElement('label');
      l.htmlFor = id;
      l.textContent = label;
      const area = document.createElement('textarea');
      area.id = id;
      area.className = cls;
      area.rows = 2;
      area.value = text;
      area.spellcheck = false;
      wrap.append(l, area);
      return wrap;
    };
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-label', `Remove test case ${n}`);
    remove.addEventListener('click', () => item.remove());
    item.append(field(`Case ${n} input`, value.stdin, 'case-stdin'), field(`Case ${n} expected output`, value.expectedOutput, 'case-expected'), remove);
    this.list.append(item);
    return item;
  }

  /** The cases entered, in order (none: an ordinary run). */
  cases(): TestCaseInput[] {
    return [...this.list.querySelectorAll('li.case')].map((item) => ({
      stdin: (item.querySelector('.case-stdin') as HTMLTextAreaElement).value,
      expectedOutput: (item.querySelector('.case-expected') as HTMLTextAreaElement).value,
    }));
  }

  /** Replaces the cases (a shared link's). */
  set(cases: TestCaseInput[]): void {
    this.list.replaceChildren();
    this.count = 0;
    for (const c of cases) this.add(c);
    (document.getElementById('tests-panel') as HTMLDetailsElement).open = cases.length > 0;
  }

  clearVerdicts(): void {
    this.table.hidden = true;
    this.table.tBodies[0]?.replaceChildren();
  }

  /** Fills the verdict table from the result's `tests`. */
  showVerdicts(tests: CaseResult[]): void {
    const body = this.table.tBodies[0];
    if (body === undefined) return;
    body.replaceChildren(
      ...tests.map((t) => {
        const row = document.createElement('tr');
        row.dataset.verdict = t.verdict;
        for (const text of [String(t.index + 1), t.verdict.replaceAll('_', ' '), `${t.wallMs.toFixed(0)} ms`, `${(t.memoryBytes / 1048576).toFixed(1)} MiB`, t.verdictMessage ?? '']) {
          const cell = document.createElement('td');
          cell.textContent = text;
          row.append(cell);
        }
        return row;
      }),
    );
    this.table.hidden = false;
  }
}
