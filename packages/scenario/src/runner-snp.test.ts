// The runner on SNP VMs: LAUNCH_START at creation, initMemRegion as LAUNCH_UPDATE with a
// pageType, finalize as LAUNCH_FINISH, pvalidate, `private` as the C-bit, check root: rmp,
// page-state changes as KVM_HC_MAP_GPA_RANGE exits, and the rmp events in the stream.

import { describe, expect, it } from 'vitest';
import type { RunEvent, SummaryEvent } from './events.js';
import { runScenarios } from './session.js';

type Ev = RunEvent | SummaryEvent;

function run(text: string, vm?: 'snp' | 'tdx' | 'sev') {
  const events: Ev[] = [];
  const r = runScenarios([{ file: 's.yaml', text }], {
    ...(vm !== undefined ? { vm } : {}),
    onEvent: (e) => events.push(e),
  });
  return { ...r, events, expects: events.filter((e) => e.type === 'expect') };
}

const SNP =
  'name: s\nvm: {type: snp}\nsteps:\n  - memslot: {slot: 0, gpa: 0x100000, size: 2MiB, guestMemfd: true}\n';

describe('runner on SNP', () => {
  it('launches pages by type, finalizes, and the guest reads them privately; rmp events stream', () => {
    const r = run(
      `${SNP}  - setAttributes: {gpa: 0x100000, size: 12KiB, private: true}\n` +
        '  - hostWrite: {gpa: 0x100000, size: 8KiB, byte: 7}\n' +
        '  - initMemRegion: {gpa: 0x100000, size: 4KiB, pageType: normal}\n' +
        '  - initMemRegion: {gpa: 0x101000, size: 4KiB, pageType: zero}\n' +
        '  - initMemRegion: {gpa: 0x102000, size: 4KiB, measure: false}\n' +
        '  - finalize: {}\n' +
        '  - read: {gpa: 0x100000, size: 4KiB, private: true}\n    expect: {exit: none, bytes: 7}\n' +
        '  - read: {gpa: 0x101000, size: 4KiB, private: true}\n    expect: {exit: none, bytes: 0}\n' +
        '  - check: {gpa: 0x102000, root: rmp, mapped: true, state: validated, level: 1}\n',
    );
    expect(r.exitCode).toBe(0);
    expect(r.expects.every((e) => e.type === 'expect' && e.ok)).toBe(true);
    const rmp = r.events.filter((e) => e.type === 'rmp') as Array<Record<string, unknown>>;
    expect(rmp.length).toBeGreaterThanOrEqual(4);
    expect(rmp[0]).toMatchObject({ type: 'rmp', op: 'rmpupdate', gpa: '0x100000', assigned: true });
    expect(rmp.some((e) => e.vmsa === true)).toBe(true);
  });

  it('a conversion: MSR PSC exit with ENCRYPTED, PVALIDATE, private write, rmp check', () => {
    const r = run(
      `${SNP}  - mapGpa: {gpa: 0x110000, size: 4KiB, shared: false}\n` +
        '    expect: {exit: hypercall, nr: 12, args: [0x110000, 1, 0x10]}\n' +
        '  - setAttributes: {gpa: 0x110000, size: 4KiB, private: true}\n' +
        '  - resume: {}\n    expect: {exit: none}\n' +
        '  - pvalidate: {gpa: 0x110000, size: 4KiB}\n    expect: {exit: none}\n' +
        '  - write: {gpa: 0x110000, size: 16, byte: 3, private: true}\n    expect: {exit: none}\n' +
        '  - check: {gpa: 0x110000, root: rmp, mapped: true, state: validated}\n' +
        '  - check: {gpa: 0x111000, root: rmp, mapped: true}\n',
    );
    const results = r.expects.map((e) => (e.type === 'expect' ? e.ok : null));
    expect(results).toEqual([true, true, true, true, true, false]);
    const last = r.expects.at(-1);
    expect(last?.type === 'expect' && last.detail).toMatch(
      /no guest_memfd frame; expected assigned/,
    );
  });

  it('a shared write to a private page is a memory-fault exit without the private flag', () => {
    const r = run(
      `${SNP}  - setAttributes: {gpa: 0x100000, size: 4KiB, private: true}\n` +
        '  - pvalidate: {gpa: 0x100000, size: 4KiB}\n' +
        '  - write: {gpa: 0x100000, size: 1, byte: 1, private: false}\n' +
        '    expect: {exit: memory_fault, gpa: 0x100000, size: 0x1000, flags: 0}\n',
    );
    expect(r.exitCode).toBe(0);
  });

  it('refuses SNP-only operations elsewhere and pageType on TDX', () => {
    const tdx =
      'name: t\nvm: {type: tdx}\nsteps:\n  - memslot: {slot: 0, gpa: 0x100000, size: 2MiB, guestMemfd: true}\n' +
      '  - initMemRegion: {gpa: 0x100000, size: 4KiB, pageType: zero}\n';
    expect(run(tdx).exitCode).toBe(2);
    const sev = 'name: t\nvm: {type: sev}\nsteps:\n  - pvalidate: {gpa: 0, size: 4KiB}\n';
    expect(run(sev).exitCode).toBe(2);
  });

  it('runs SEV and SEV-ES VMs: encrypted, no private memory, memory faulted in through the shared path', () => {
    for (const type of ['sev', 'sev_es']) {
      const r = run(
        `name: s\nvm: {type: ${type}}\nsteps:\n  - memslot: {slot: 0, gpa: 0x100000, size: 2MiB}\n` +
          '  - write: {gpa: 0x100000, size: 8, byte: 9}\n    expect: {exit: none}\n' +
          '  - read: {gpa: 0x100000, size: 8}\n    expect: {exit: none, bytes: 9}\n',
      );
      expect(r.exitCode).toBe(0);
    }
  });
});
