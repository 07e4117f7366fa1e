import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runScenarios } from './session.js';

// Random but well-formed scenarios: the runner must always end in exit status 0, 1 or 2
// with one summary, never throw, whatever the model answers, and give the same stream twice.
const page = fc.integer({ min: 0, max: 15 }).map((i) => 0x80000000 + i * 0x1000);
const size = fc.constantFrom('4KiB', '8KiB', '0x1800', '0');
const vcpu = fc.integer({ min: 0, max: 1 });
const bool = fc.boolean();

const step = fc.oneof(
  fc
    .record({ gpa: page, size, p: bool })
    .map((a) => `setAttributes: {gpa: ${a.gpa}, size: ${a.size}, private: ${a.p}}`),
  fc.record({ gpa: page, size }).map((a) => `punchHole: {gpa: ${a.gpa}, size: ${a.size}}`),
  fc.record({ gpa: page, size }).map((a) => `allocate: {gpa: ${a.gpa}, size: ${a.size}}`),
  fc
    .record({ gpa: page, b: fc.nat(255) })
    .map((a) => `hostWrite: {gpa: ${a.gpa}, size: 64, byte: ${a.b}}`),
  fc.record({ gpa: page }).map((a) => `hostRead: {gpa: ${a.gpa}, size: 64}`),
  fc.record({ gpa: page, size }).map((a) => `invalidateHva: {gpa: ${a.gpa}, size: ${a.size}}`),
  fc
    .record({ gpa: page, v: vcpu })
    .map((a) => `preFault: {gpa: ${a.gpa}, size: 4KiB, vcpu: ${a.v}}`),
  fc
    .record({ gpa: page, v: vcpu, p: bool, b: fc.nat(255) })
    .map((a) => `write: {gpa: ${a.gpa}, size: 16, byte: ${a.b}, private: ${a.p}, vcpu: ${a.v}}`),
  fc
    .record({ gpa: page, v: vcpu, p: bool })
    .map((a) => `read: {gpa: ${a.gpa}, size: 16, private: ${a.p}, vcpu: ${a.v}}`),
  fc
    .record({ gpa: page, v: vcpu, s: bool })
    .map((a) => `mapGpa: {gpa: ${a.gpa}, size: 4KiB, shared: ${a.s}, vcpu: ${a.v}}`),
  fc.record({ v: vcpu }).map((a) => `resume: {vcpu: ${a.v}}`),
  fc.record({ gpa: page, v: vcpu }).map((a) => `accept: {gpa: ${a.gpa}, vcpu: ${a.v}}`),
  fc.constant('check: {invariants: true}'),
  fc.constant('memslot: {slot: 0, gpa: 0x80000000, size: 0}'),
);

function scenario(type: string, steps: string[], extra: string): string {
  const setup = ['memslot: {slot: 0, gpa: 0x80000000, size: 64KiB, guestMemfd: true}'];
  if (type === 'tdx') setup.push('finalize');
  return `name: random\nvm: {type: ${type}, vcpus: 2${extra}}\nsteps:\n${[...setup, ...steps]
    .map((s) => `  - ${s}`)
    .join('\n')}\n`;
}

describe('runner on random well-formed scenarios', () => {
  for (const type of ['sw_protected', 'tdx']) {
    it(`${type}: ends in 0, 1 or 2 with a summary, never throws`, { timeout: 120_000 }, () => {
      fc.assert(
        fc.property(
          fc.array(step, { maxLength: 25 }),
          fc.constantFrom('', ', autoConvert: true', ', autoAccept: true'),
          (steps, extra) => {
            const body = type === 'tdx' ? steps : steps.filter((s) => !s.startsWith('accept'));
            const text = scenario(type, body, extra);
            let summaries = 0;
            const stream: string[] = [];
            const r = runScenarios([{ file: 'random.yaml', text }], {
              onEvent: (e) => {
                stream.push(JSON.stringify(e));
                if (e.type === 'summary') summaries++;
              },
            });
            expect([0, 1, 2]).toContain(r.exitCode);
            if (r.summary !== undefined) expect(summaries).toBe(1);
            // Deterministic: a second run gives the same stream.
            const again: string[] = [];
            runScenarios([{ file: 'random.yaml', text }], {
              onEvent: (e) => again.push(JSON.stringify(e)),
            });
            expect(again).toEqual(stream);
          },
        ),
        { numRuns: 60 },
      );
    });
  }
});
