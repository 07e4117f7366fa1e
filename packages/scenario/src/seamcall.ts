// The raw `seamcall` step: a SEAMCALL issued straight to the TDX module model, bypassing KVM,
// as a buggy or hostile host kernel could (CONTRACTS §2). Operands are given by name and
// placed where the module's ABI wants them (the module's typed wrappers do the placing);
// operands left out get valid values: the VM's TDR, a fresh host frame, level 4K.

import { PAGE_SIZE } from '@kvmx/address';
import type { Kvm } from '@kvmx/kvm-x86';
import type { OpArgsMap } from './scenario.js';

type SeamcallArgs = OpArgsMap['seamcall'];
type Module = NonNullable<Kvm['tdx']>['module'];

/** Named operands a leaf takes, in the order of the module's typed wrapper. */
type Operand = 'tdr' | 'gpaLevel' | 'gpa' | 'page' | 'source' | 'pa';

/**
 * The leaves a scenario may issue raw, each with its wrapper's operand order. Register use
 * per the module's ABI: RCX = GPA | level (or the TDR / page PA for leaves that take only
 * that), RDX = TDR, R8 = a page's PA, R9 = the source PA (TDX module 1.5 ABI spec).
 */
const LEAVES: Readonly<Record<string, { wrapper: keyof Module; operands: readonly Operand[] }>> = {
  'TDH.MEM.SEPT.ADD': { wrapper: 'memSeptAdd', operands: ['tdr', 'gpaLevel', 'page'] },
  'TDH.MEM.PAGE.ADD': { wrapper: 'memPageAdd', operands: ['tdr', 'gpa', 'page', 'source'] },
  'TDH.MEM.PAGE.AUG': { wrapper: 'memPageAug', operands: ['tdr', 'gpaLevel', 'page'] },
  'TDH.MEM.RANGE.BLOCK': { wrapper: 'memRangeBlock', operands: ['tdr', 'gpaLevel'] },
  'TDH.MEM.RANGE.UNBLOCK': { wrapper: 'memRangeUnblock', operands: ['tdr', 'gpaLevel'] },
  'TDH.MEM.TRACK': { wrapper: 'memTrack', operands: ['tdr'] },
  'TDH.MEM.PAGE.REMOVE': { wrapper: 'memPageRemove', operands: ['tdr', 'gpaLevel'] },
  'TDH.MEM.SEPT.REMOVE': { wrapper: 'memSeptRemove', operands: ['tdr', 'gpaLevel'] },
  'TDH.MEM.PAGE.DEMOTE': { wrapper: 'memPageDemote', operands: ['tdr', 'gpaLevel', 'page'] },
  'TDH.MEM.PAGE.PROMOTE': { wrapper: 'memPagePromote', operands: ['tdr', 'gpaLevel'] },
  'TDH.MR.EXTEND': { wrapper: 'mrExtend', operands: ['tdr', 'gpa'] },
  'TDH.MR.FINALIZE': { wrapper: 'mrFinalize', operands: ['tdr'] },
  'TDH.MNG.VPFLUSHDONE': { wrapper: 'mngVpflushdone', operands: ['tdr'] },
  'TDH.MNG.KEY.FREEID': { wrapper: 'mngKeyFreeid', operands: ['tdr'] },
  'TDH.PHYMEM.PAGE.RECLAIM': { wrapper: 'phymemPageReclaim', operands: ['pa'] },
};

/** Leaf names `seamcall` steps accept. */
export const RAW_SEAMCALL_LEAVES: readonly string[] = Object.keys(LEAVES);

/** FrameOwner.HOST of @kvmx/paging (its numbers never change): a page the host allocated. */
const FRAME_OWNER_HOST = 1;

/** A TDX status as the module returns it: the high and low 32 bits of RAX. */
export interface SeamcallStatus {
  readonly hi: number;
  readonly lo: number;
}

/**
 * Issue one raw SEAMCALL: its status (also the `seamcall` event's, when somebody listens) and
 * the output registers RCX, RDX, R8 as hex.
 */
export function rawSeamcall(
  kvm: Kvm,
  a: SeamcallArgs,
): { status: SeamcallStatus; outputs: Record<string, string> } | { badInput: string } {
  const tdx = kvm.tdx;
  if (tdx === null) return { badInput: 'seamcall needs a TDX VM' };
  const leaf = LEAVES[a.leaf];
  if (leaf === undefined) {
    return {
      badInput: `seamcall: leaf ${a.leaf} cannot be issued raw; expected one of ${RAW_SEAMCALL_LEAVES.join(', ')}`,
    };
  }
  // Raw registers override the named operands they carry.
  const reg = (v: bigint | undefined, name: string): number | undefined | string => {
    if (v === undefined) return undefined;
    if (v >= 1n << 53n) return `seamcall: ${name} values at or above 2^53 are not modelled`;
    return Number(v);
  };
  const rcx = reg(a.rcx, 'rcx');
  const rdx = reg(a.rdx, 'rdx');
  const r8 = reg(a.r8, 'r8');
  const r9 = reg(a.r9, 'r9');
  for (const r of [rcx, rdx, r8, r9]) if (typeof r === 'string') return { badInput: r };
  const num = (v: number | string | undefined) => v as number | undefined;
  const level = (a.level ?? 1) - 1; // PG_LEVEL -> the module's level (0 = 4K)
  const freshPage = () => kvm.pool.alloc(FRAME_OWNER_HOST as never) * PAGE_SIZE;
  // The TDR travels in RDX, except for the leaves that take nothing else (then in RCX).
  const tdrOnly = leaf.operands.length === 1 && leaf.operands[0] === 'tdr';
  const tdr = a.tdr ?? num(tdrOnly ? rcx : rdx) ?? tdx.tdr;
  const values: number[] = [];
  for (const op of leaf.operands) {
    switch (op) {
      case 'tdr':
        values.push(tdr);
        break;
      case 'gpaLevel':
        // The wrapper adds the level into RCX's low bits; a raw RCX already holds both.
        values.push(num(rcx) ?? a.gpa ?? 0, num(rcx) !== undefined ? 0 : level);
        break;
      case 'gpa':
        values.push(num(rcx) ?? a.gpa ?? 0);
        break;
      case 'page':
        values.push(num(r8) ?? (a.pfn !== undefined ? a.pfn * PAGE_SIZE : freshPage()));
        break;
      case 'source':
        values.push(num(r9) ?? a.source ?? freshPage());
        break;
      case 'pa':
        values.push(num(rcx) ?? (a.pfn !== undefined ? a.pfn * PAGE_SIZE : freshPage()));
        break;
    }
  }
  const mod = tdx.module;
  const fn = mod[leaf.wrapper] as unknown as (this: Module, ...args: number[]) => SeamcallStatus;
  const status = fn.apply(mod, values);
  const outputs: Record<string, string> = {};
  for (const [name, id] of [
    ['rcx', 1],
    ['rdx', 2],
    ['r8', 8],
  ] as const) {
    const w = mod.out.word(id);
    outputs[name] = `0x${((BigInt(w.hi >>> 0) << 32n) | BigInt(w.lo >>> 0)).toString(16)}`;
  }
  return { status, outputs };
}
