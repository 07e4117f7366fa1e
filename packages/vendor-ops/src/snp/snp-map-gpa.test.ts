import { FramePool } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { ghcbMsrRegGpaReq } from './ghcb-msr.js';
import { SevOps, sevHost } from './sev-ops.js';
import { snpMapGpaRequests } from './snp-map-gpa.js';

function vm() {
  const pool = new FramePool({ maxFrames: 1 << 14 });
  const ops = new SevOps(
    'snp',
    { pool, emit: null, kickAllVcpus: () => {}, bug: () => {} },
    {
      host: sevHost(pool),
    },
  );
  ops.vmmCreate();
  ops.hypercallExitEnabled = true;
  ops.vmgexitMsr(0, ghcbMsrRegGpaReq(0x7));
  return ops;
}

/** The exits KVM produces for a mapGpa, userspace answering 0 each time. */
function exits(ops: SevOps, gpa: number, size: number, shared: boolean) {
  const out: (readonly number[])[] = [];
  for (const req of snpMapGpaRequests(gpa, size, shared)) {
    if (req.kind === 'msr') {
      const r = ops.vmgexitMsr(0, req.msr);
      if (r.kind === 'hypercall') out.push(r.args);
      ops.completePscMsr(0, 0);
    } else {
      let r = ops.vmgexitPsc(0, 0x7000, req.buffer);
      while (r.kind === 'hypercall') {
        out.push(r.args);
        r = ops.completePsc(0, 0);
      }
      expect(r).toEqual({ kind: 'done', exitInfo2: 0 });
    }
  }
  return out;
}

describe('mapGpa on SNP', () => {
  it('uses the MSR protocol for one page, exactly as the conversion selftest expects', () => {
    expect(snpMapGpaRequests(0x5000, 0x1000, false)[0]?.kind).toBe('msr');
    expect(exits(vm(), 0x5000, 0x1000, false)).toEqual([[0x5000, 1, 0x10]]);
    expect(exits(vm(), 0x5000, 0x1000, true)).toEqual([[0x5000, 1, 0]]);
  });

  it('uses 2M PSC entries only for 2M-aligned 2 MiB pieces (pieces count from the GPA)', () => {
    // From an unaligned GPA every 2 MiB piece is unaligned: 4K entries, 253 per buffer.
    const x = 0x1ff000;
    expect(exits(vm(), x, 0x402000, true)).toEqual([
      [x, 253, 0],
      [x + 253 * 4096, 253, 0],
      [x + 506 * 4096, 6, 0],
      [x + 0x200000, 253, 0],
      [x + 0x200000 + 253 * 4096, 253, 0],
      [x + 0x200000 + 506 * 4096, 6, 0],
      [x + 0x400000, 2, 0],
    ]);
    expect(exits(vm(), 0x200000, 0x401000, false)).toEqual([
      [0x200000, 512, 0x11],
      [0x400000, 512, 0x11],
      [0x600000, 1, 0x10],
    ]);
  });

  it('can be forced to the MSR protocol: one exit per page', () => {
    expect(snpMapGpaRequests(0x200000, 0x3000, true, 'msr')).toHaveLength(3);
  });
});
