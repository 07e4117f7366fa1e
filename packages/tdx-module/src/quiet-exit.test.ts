// exitGuestQuiet() / enterResultQuiet() are exitGuest() / enterResult() for callers that drop
// the result (KVM's vCPU loop): the same vCPU and TD state, exit registers and events.
import { describe, expect, it } from 'vitest';
import type { TdxCallEvent as TdxEvent } from './tdx-module.js';
import { buildTd, expectOk, type Fixture, mapTables } from './test-helpers.js';

const GPA = 0x10000000;

/** A runnable TD whose vCPU is inside the TD, optionally with an event listener. */
function inside(listen: boolean): { f: Fixture; events: TdxEvent[] } {
  const f = buildTd();
  expectOk(f.mod.mrFinalize(f.tdr), 'MR.FINALIZE');
  mapTables(f, GPA);
  const events: TdxEvent[] = [];
  if (listen) f.mod.setListener((e) => events.push(e));
  expectOk(f.mod.enterGuest(f.vcpus[0] as number), 'VP.ENTER');
  return { f, events };
}

function state(f: Fixture) {
  const v = f.mod.vcpu(f.vcpus[0] as number);
  const td = f.mod.td(f.tdr);
  return {
    inGuest: v?.inGuest,
    vcpuState: v?.state,
    lastExit: v?.lastExit,
    refcount: [...(td?.refcount ?? [])],
    out: [0, 1, 2, 8, 9, 10, 11].map((r) => f.mod.out.get(r)),
  };
}

describe('quiet VP.ENTER completions', () => {
  for (const listen of [false, true]) {
    it(`exitGuestQuiet leaves what exitGuest leaves (listener ${listen ? 'on' : 'off'})`, () => {
      const a = inside(listen);
      const b = inside(listen);
      a.f.mod.exitGuest(a.f.vcpus[0] as number);
      expect(b.f.mod.exitGuestQuiet(b.f.vcpus[0] as number)).toBe(true);
      expect(state(b.f)).toEqual(state(a.f));
      expect(b.events).toEqual(a.events);
      // Outside the TD both refuse; the quiet one changes nothing.
      expect(b.f.mod.exitGuestQuiet(b.f.vcpus[0] as number)).toBe(false);
      expect(state(b.f)).toEqual(state(a.f));
    });

    it(`enterResultQuiet leaves what enterResult leaves after an EPT-violation exit (listener ${listen ? 'on' : 'off'})`, () => {
      const a = inside(listen);
      const b = inside(listen);
      for (const x of [a, b]) {
        const r = x.f.mod.tdgMemPageAccept(x.f.vcpus[0] as number, GPA, 0);
        expect(r.kind).toBe('exit');
      }
      expect(a.f.mod.enterResult(a.f.vcpus[0] as number)).not.toBeNull();
      expect(b.f.mod.enterResultQuiet(b.f.vcpus[0] as number)).toBe(true);
      expect(state(b.f)).toEqual(state(a.f));
      expect(b.events).toEqual(a.events);
    });
  }
});
