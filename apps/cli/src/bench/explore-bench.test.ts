import { describe, expect, it } from 'vitest';
import { memoryIo } from '../io.js';
import { benchExplore } from './explore-bench.js';

// Throughput is never asserted; the report's shape and the clean run are.
describe('bench explore workload', () => {
  it('explores every VM type with the checker on and reports steps per second', async () => {
    const io = memoryIo();
    const r = await benchExplore({ sequences: 2, steps: 20, repeats: 1, seed: 3, json: true }, io);
    const last = JSON.parse(io.stdout.at(-1) as string);
    expect(last.bench).toBe('explore');
    expect(last.violations).toBe(0);
    expect(last.steps).toBeGreaterThan(0); // skipped steps are not counted
    expect(typeof last.stepsPerSec).toBe('number');
    expect(Object.keys(last.byType).length).toBeGreaterThanOrEqual(3);
    expect(r.target).toBe(20_000);
  }, 120_000);
});
