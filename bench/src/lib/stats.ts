/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The q-quantile (0..1) of `values`, nearest-rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export const round = (value: number, digits = 1) => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

/** Prints a small aligned table. */
export function table(rows: Array<Record<string, string | number>>): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]!);
  const width = columns.map((c) =>
    Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)),
  );
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(width[i]!)).join('  ');
  return [
    line(columns),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(columns.map((c) => String(r[c] ?? '')))),
  ].join('\n');
}

export interface Ratio {
  name: string;
  value: number;
  baseline: number;
  ratio: number;
  target?: number;
}

/** `RATIO name: 0.83 (value / baseline) target ≥ 0.8 MET`. */
export function ratioLine(r: Ratio, unit = ''): string {
  const verdict =
    r.target === undefined
      ? ''
      : r.ratio >= r.target
        ? `  target ≥ ${r.target}: MET`
        : `  target ≥ ${r.target}: MISSED`;
  return `RATIO ${r.name}: ${r.ratio.toFixed(2)} (${round(r.value)}${unit} / ${round(r.baseline)}${unit})${verdict}`;
}
