// The standing at a glance (issue 19): an SVG bar chart the benchmark writes next to its JSON,
// of hello-world wall time per execution (median ms, log scale): bare, cylo cold and pre-started
// (library and HTTP) as measured in this run, and the peers' published figures (not measured
// here; from the sources: Piston ~150 ms, Judge0 ~700-800 ms per submission).

export interface ChartBar {
  label: string;
  ms: number;
  /** 'measured' bars come from this run; 'published' ones from the peers' own figures. */
  kind: 'measured' | 'published';
}

/** Published end-to-end figures of the peers (ms), as the issue quotes them. */
export const PEER_FIGURES: readonly ChartBar[] = [
  { label: 'Piston (published)', ms: 150, kind: 'published' },
  { label: 'Judge0 (published)', ms: 750, kind: 'published' },
];

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A horizontal bar chart, log-scaled from 1 ms to the largest bar: SVG text. */
export function barChartSvg(title: string, bars: readonly ChartBar[]): string {
  const rowH = 24;
  const left = 260;
  const width = 820;
  const plotW = width - left - 90;
  const top = 40;
  const height = top + rowH * bars.length + 30;
  const max = Math.max(10, ...bars.map((b) => b.ms));
  const x = (ms: number): number => (Math.log10(Math.max(1, ms)) / Math.log10(max)) * plotW;
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const fill = b.kind === 'published' ? '#b0b0b0' : b.label.includes('pre-started') ? '#2a7ab9' : b.label.includes('bare') ? '#444444' : '#8fb8d8';
    return [
      `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${escape(b.label)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${x(b.ms).toFixed(1)}" height="${rowH - 8}" fill="${fill}"/>`,
      `<text x="${(left + x(b.ms) + 6).toFixed(1)}" y="${y + 16}">${b.ms < 10 ? b.ms.toFixed(1) : Math.round(b.ms)} ms</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`,
    ...rows,
    `<text x="${left}" y="${height - 8}" fill="#666">log scale; grey: published figures of other services, not measured in this run</text>`,
    '</svg>',
    '',
  ].join('\n');
}
