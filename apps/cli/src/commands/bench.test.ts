import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { memoryIo } from '../io.js';

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

// Argument handling and output shape only: timings are never asserted.
describe('kvmx bench', () => {
  it('faultin --json ends with one object holding the CONTRACTS §1 fields', async () => {
    const r = await run('bench', 'faultin', '--pages', '100', '--runs', '1', '--no-c', '--json');
    expect(r.code).toBe(0);
    const last = JSON.parse(r.out.at(-1) as string);
    for (const key of ['pages', 'seconds', 'pagesPerSec', 'rssBytes']) {
      expect(typeof last[key], key).toBe('number');
    }
    expect(last).toMatchObject({ bench: 'faultin', pages: 100, runs: 1, c: { available: false } });
    expect(last.checker.violations).toBe(0);
  }, 120_000);

  it('rejects unknown benchmarks and bad numbers with exit 2', async () => {
    for (const argv of [
      ['bench', 'nope'],
      ['bench', 'paging', '--pages', '0'],
      ['bench', 'paging', '--pages', '16777217'],
      ['bench', 'paging', '--runs', 'x'],
      ['bench', 'paging', '--seed', '0'],
      ['bench', 'faultin', '--pages', '16777217'],
      ['bench', 'faultin', '--runs', '0'],
      ['bench'],
    ]) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.out).toEqual([]);
      expect(r.err.length).toBeGreaterThan(0);
    }
  });

  it('paging --json ends with one object holding the CONTRACTS §1 fields', async () => {
    const r = await run('bench', 'paging', '--pages', '2000', '--runs', '1', '--no-c', '--json');
    expect(r.code).toBe(0);
    const last = JSON.parse(r.out.at(-1) as string);
    for (const key of [
      'mapOpsPerSec',
      'mapColdOpsPerSec',
      'lookupOpsPerSec',
      'seqLookupOpsPerSec',
      'zap1GiBMs',
      'zap1GiBRandomMs',
      'zap1GiBDenseMs',
      'bytesPerPage',
    ]) {
      expect(typeof last[key], key).toBe('number');
    }
    expect(last).toMatchObject({ bench: 'paging', pages: 2000, runs: 1, c: { available: false } });
    // CONTRACTS §1: zap1GiBMs is the fully mapped 1 GiB range (zap1GiBDenseMs, kept)
    expect(last.zap1GiBMs).toBe(last.zap1GiBDenseMs);
    // 2000 random pages in 64 GiB: nearly every page needs its own PT, PD and more
    expect(last.bytesPerPage).toBeGreaterThan(4096);
  }, 120_000);
});
