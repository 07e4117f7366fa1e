// Medians and ranges of repeated benchmark runs, and the rounding the reports use.

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median =
    s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
  return { median, min: s[0] as number, max: s[s.length - 1] as number };
}

/** 3 significant decimals below 100, integers above. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 1 ? 3 : 5;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Medians and [min, max] of each numeric key over runs. */
export function medians(runs: readonly Record<string, number>[]): {
  medians: Record<string, number>;
  ranges: Record<string, [number, number]>;
} {
  const keys = Object.keys(runs[0] ?? {});
  const med: Record<string, number> = {};
  const ranges: Record<string, [number, number]> = {};
  for (const k of keys) {
    const s = summarize(runs.map((x) => x[k] as number));
    med[k] = round(s.median);
    ranges[k] = [round(s.min), round(s.max)];
  }
  return { medians: med, ranges };
}

/** a / b, rounded; null when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined || b === 0 ? null : round(a / b);
}
