import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { memoryIo } from '../io.js';

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('kvmx demo', () => {
  it("tells a TD's life with no argument: SEAMCALLs, exits, the S-EPT, a PASS", async () => {
    const r = await run('demo');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    for (const expected of [
      'KVM_CREATE_VM(tdx), KVM_TDX_INIT_VM',
      'seamcall: TDH.MEM.PAGE.ADD gpa 0x80000000',
      'seamcall: TDH.MR.EXTEND',
      'tdcall: TDG.MEM.PAGE.ACCEPT gpa 0x80100000 -> TDX_SUCCESS',
      'seamcall: TDH.MEM.PAGE.AUG gpa 0x80100000',
      'kvm_userspace_exit: vcpu 0 reason KVM_EXIT_HYPERCALL nr 0xc args [0x80100000, 0x2, 0x0]',
      'seamcall: TDH.MEM.RANGE.BLOCK gpa 0x80100000',
      'seamcall: TDH.MEM.PAGE.REMOVE gpa 0x80100000',
      'seamcall: TDH.PHYMEM.PAGE.RECLAIM',
      'mirror root: 4-level',
      'S-EPT (TDX module): 4-level',
    ]) {
      expect(text).toContain(expected);
    }
    expect(text).toMatch(/PT\[256\] gfn 0x80100 4K -> pfn 0x[0-9a-f]+ MAPPED/);
    expect(r.out.at(-1)).toMatch(
      /^PASS: 22 steps, 2 exits, \d+ SEAMCALLs, 15 expectations passed, 0 failed, 0 violations$/,
    );
  });

  it('tells the story under sw_protected, skipping what only a TD does', async () => {
    const r = await run('demo', '--vm', 'sw_protected');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toContain("== a TD's life ==");
    expect(text).toContain('skipped: accept (TDG.MEM.PAGE.ACCEPT) exists only for TDX VMs');
    expect(text).toContain('kvm_userspace_exit: vcpu 0 reason KVM_EXIT_HYPERCALL');
    expect(text).toContain('page tables');
    expect(r.out.at(-1)).toMatch(/^PASS: /);
  });

  it('gives JSON Lines with --json', async () => {
    const r = await run('demo', '--vm', 'sw_protected', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.at(-1) ?? '{}')).toMatchObject({ type: 'summary', ok: true });
  });

  it('tells the life of an SNP guest with --vm snp: launch, PVALIDATE, conversions, RMP changes', async () => {
    const t0 = performance.now();
    const r = await run('demo', '--vm', 'snp');
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toContain("== an SNP guest's life ==");
    expect(text).toContain('SNP_LAUNCH_UPDATE copies the image');
    expect(text).toMatch(/rmp: op rmpupdate by sev_gmem_prepare/);
    expect(text).toMatch(/rmp: op pvalidate/);
    expect(text).toContain('kvm_userspace_exit: vcpu 0 reason KVM_EXIT_HYPERCALL');
    expect(r.out.at(-1)).toMatch(/^PASS: /);
  });

  it('refuses a VM type without private memory', async () => {
    const r = await run('demo', '--vm', 'default');
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/use --vm tdx, snp or sw_protected/);
  });
});
