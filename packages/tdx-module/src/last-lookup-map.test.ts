// LastLookupMap: the remembered lookup never outlives a change of the table.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LastLookupMap } from './last-lookup-map.js';

describe('LastLookupMap', () => {
  it('answers a remembered miss with the value set afterwards, and a remembered hit with undefined after delete or clear', () => {
    const m = new LastLookupMap<string>();
    expect(m.get(5)).toBeUndefined();
    m.set(5, 'a');
    expect(m.get(5)).toBe('a');
    m.set(5, 'b');
    expect(m.get(5)).toBe('b');
    expect(m.delete(5)).toBe(true);
    expect(m.get(5)).toBeUndefined();
    m.set(7, 'c');
    expect(m.get(7)).toBe('c');
    m.clear();
    expect(m.get(7)).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it('behaves as a Map under any sequence of get/set/delete/clear (model: a plain Map)', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('get'), key: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ k: fc.constant('set'), key: fc.integer({ min: 0, max: 4 }), v: fc.nat(9) }),
      fc.record({ k: fc.constant('delete'), key: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ k: fc.constant('clear') }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const m = new LastLookupMap<number>();
        const ref = new Map<number, number>();
        for (const o of ops) {
          if (o.k === 'get') expect(m.get(o.key)).toBe(ref.get(o.key));
          else if (o.k === 'set') {
            m.set(o.key, o.v);
            ref.set(o.key, o.v);
          } else if (o.k === 'delete') expect(m.delete(o.key)).toBe(ref.delete(o.key));
          else {
            m.clear();
            ref.clear();
          }
        }
        expect([...m]).toEqual([...ref]);
      }),
    );
  });
});
