import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from './diagnostic.js';
import { loadScenarioText, MAX_SCENARIO_TEXT } from './load.js';
import { parseScenario } from './parse.js';

/** Parse, and require one single-line message with file:line:col. */
function badInput(text: string): string {
  const started = Date.now();
  const r = parseScenario(text, 'evil.yaml');
  const elapsed = Date.now() - started;
  expect(r.ok).toBe(false);
  if (r.ok) return '';
  const m = formatDiagnostic(r.error);
  expect(m).toMatch(/^evil\.yaml:\d+:\d+: \S/);
  expect(m).not.toContain('\n');
  // Not a performance target: a guard that hostile input is refused, not chewed on.
  expect(elapsed).toBeLessThan(30_000);
  return m;
}

describe('loadScenarioText', () => {
  it('keeps positions for values and keys', () => {
    const r = loadScenarioText('a:\n  b: [1, 0x10]\n', 'f.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.value).toEqual({ a: { b: [1, 16] } });
    expect(r.value.map.locate(['a', 'b', 1])).toEqual({ line: 2, col: 10 });
    expect(r.value.map.locateKey(['a'], 'b')).toEqual({ line: 2, col: 3 });
    // A path that was never written resolves to its nearest written ancestor.
    expect(r.value.map.locate(['a', 'b', 7])).toEqual({ line: 2, col: 6 });
  });

  it('hands integers beyond 2^53 on as their exact source text', () => {
    const r = loadScenarioText('x: 0xffffff8000000000\ny: 18446744073709551615\nz: -5\n', 'f');
    expect(r.ok && r.value.value).toEqual({
      x: '0xffffff8000000000',
      y: '18446744073709551615',
      z: -5,
    });
  });

  it('expands aliases within the budget and keeps the position of the alias', () => {
    const r = loadScenarioText('a: &p {gpa: 1}\nb: *p\n', 'f');
    expect(r.ok && r.value.value).toEqual({ a: { gpa: 1 }, b: { gpa: 1 } });
    if (r.ok) expect(r.value.map.locate(['b'])).toEqual({ line: 2, col: 4 });
  });

  it('strips a byte-order mark', () => {
    const r = loadScenarioText('\ufeffa: 1\n', 'f');
    expect(r.ok && r.value.value).toEqual({ a: 1 });
  });
});

describe('hostile input: exit-2 material, one message, never a crash or a hang', () => {
  it('deep flow nesting', () => {
    expect(badInput('['.repeat(100_000))).toContain('nesting deeper than 64 levels');
    expect(badInput(`a: ${'{b: '.repeat(10_000)}`)).toContain('nesting deeper than 64 levels');
  });

  it('deep block nesting (the YAML parser would exhaust memory on it)', () => {
    expect(badInput(`${'- '.repeat(20_000)}1`)).toContain('nesting deeper than 64 levels');
    const indented = Array.from({ length: 400 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
    expect(badInput(indented)).toMatch(/indentation deeper|nesting deeper/);
  });

  it('nesting that passes the prescan but not the walk', () => {
    // 40 block levels and 40 flow levels are each within the prescan's bound; together
    // they are deeper than a scenario may nest.
    const text = `${'- '.repeat(40)}${'['.repeat(40)}1${']'.repeat(40)}\n`;
    expect(badInput(text)).toContain('nesting deeper than 64 levels');
  });

  it('a file that is too large', () => {
    const big = `name: t\n# ${'x'.repeat(MAX_SCENARIO_TEXT)}\n`;
    expect(badInput(big)).toContain('a scenario file is at most');
  });

  it('a billion-laughs alias bomb', { timeout: 60_000 }, () => {
    const lines = ['a: &a [1,1,1,1,1,1,1,1,1,1]'];
    for (const [x, y] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
      ['h', 'g'],
      ['i', 'h'],
    ]) {
      lines.push(`${x}: &${x} [${Array(10).fill(`*${y}`).join(',')}]`);
    }
    expect(badInput(lines.join('\n'))).toContain('alias bomb');
  });

  it('an alias that refers to its own parent', () => {
    expect(badInput('a: &x [1, *x]\n')).toMatch(/alias|anchor/);
  });

  it('an alias to an undefined anchor', () => {
    expect(badInput('a: *nowhere\n')).toMatch(/alias|anchor/);
  });

  it('custom tags', () => {
    expect(badInput('name: !!js/function "return 1"\n')).toContain('tag');
    expect(badInput('name: !!python/object:os.system ["ls"]\n')).toContain('tag');
    expect(badInput('name: !local x\n')).toContain('tag');
  });

  it('binary junk', () => {
    expect(badInput('\u0000\u0001\u0002ELF')).toContain('binary data');
    expect(badInput('name: t\nvm: \u0007\n')).toMatch(/^evil\.yaml:2:5: binary data/);
    expect(badInput('name: \ufffd\ufffd\n')).toContain('binary data');
  });

  it('values of 2^64 and more', () => {
    const head = 'name: t\nvm: {type: tdx}\nsteps:\n';
    expect(badInput(`${head}  - read: {gpa: 0x10000000000000000, size: 1}\n`)).toContain(
      'must be below 2^52',
    );
    expect(badInput(`${head}  - read: {gpa: 0, size: ${'9'.repeat(400)}}\n`)).toContain(
      'must be below 2^52',
    );
    expect(
      badInput(`${head}  - seamcall: {leaf: TDH.MEM.PAGE.AUG, r8: 18446744073709551616}\n`),
    ).toContain('does not fit in 64 bits');
  });

  it('multiple YAML documents', () => {
    expect(badInput('name: a\n---\nname: b\n')).toContain('bad YAML');
  });

  it('never throws on arbitrary text', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        const r = parseScenario(text, 'f');
        if (!r.ok) expect(formatDiagnostic(r.error)).not.toContain('\n');
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on mutations of a valid scenario', { timeout: 60_000 }, () => {
    const valid =
      'name: t\nvm: {type: tdx, vcpus: 2}\nsteps:\n  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}\n  - write: {gpa: 0x80000000, size: 4KiB, byte: 0xaa, private: true}\n    expect: {exit: none}\n';
    fc.assert(
      fc.property(
        fc.nat(valid.length),
        fc.nat(12),
        fc.string({ maxLength: 8, unit: 'grapheme-ascii' }),
        (at, cut, insert) => {
          const text = valid.slice(0, at) + insert + valid.slice(at + cut);
          const r = parseScenario(text, 'f');
          if (!r.ok) expect(formatDiagnostic(r.error)).toMatch(/^f:\d+:\d+: [^\n]+$/);
        },
      ),
      { numRuns: 500 },
    );
  });
});
