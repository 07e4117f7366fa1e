// The explorer's operations: each generated step is one 30-bit integer (fast-check shrinks
// integers towards 0 and arrays towards fewer elements, which is what a minimal
// reproduction needs), decoded into a scenario step against the VM as it is when the step
// runs. Decoding at run time lets a raw SEAMCALL name the VM's own TDR or a frame the TD
// really maps, and the decoded step holds only concrete values, so the reproduction is
// exactly what ran. One number per step keeps generation cheap: no object per step until
// the step is decoded, and the decoded step is the one the executor runs.

import { PAGE_SIZE, type VmTypeName } from '@kvmx/address';
import { KVM_EXIT_MEMORY_FAULT, KVM_MEMORY_EXIT_FLAG_PRIVATE } from '@kvmx/kvm-x86';
import type { StepOp, VmConfig } from '@kvmx/scenario';
import { supportedVmTypes } from '@kvmx/vendor-ops';
import type { StepExecutor } from './executor.js';

/** Most values one generated step may take (exclusive): 30 bits. */
export const STEP_CODE_LIMIT = 2 ** 30;

/**
 * The guest-physical window the explorer works in: 1152 pages (4.5 MiB) from GPA 0, i.e. all
 * of the prologue's memslot 1 (4 MiB at GPA 0) and the first 512 KiB of memslot 2 (4 MiB at
 * 4 MiB). GPAs without a memslot (MMIO) appear once memslot steps delete a slot or re-create
 * it smaller. Small on purpose: the invariant checker's cost grows with the pages in use.
 */
export const EXPLORE_PAGES = 1152;
export const EXPLORE_WINDOW = EXPLORE_PAGES * PAGE_SIZE;
const MIB2 = 0x200000;

/** vCPUs of an explored VM. */
export const EXPLORE_VCPUS = 2;

/** The `vm` section of an explored VM of `type`, with an injected bug switched on or not. */
export function exploreVmConfig(type: VmTypeName, inject?: string): VmConfig {
  return {
    ...(inject !== undefined ? { inject } : {}),
    type,
    vcpus: EXPLORE_VCPUS,
    gpaw: 48,
    cbit: 51,
    exitHypercall: true,
    // The VMM answers MapGPA / KVM_HC_MAP_GPA_RANGE by converting, and a TD guest accepts
    // what it touches, so random sequences reach converted and accepted memory often.
    autoConvert: true,
    autoAccept: type === 'tdx',
    septVeDisable: false,
  };
}

/** The VM types this build can explore: those KVM_CREATE_VM accepts (KVM_CAP_VM_TYPES). */
export function exploreVmTypes(): VmTypeName[] {
  return supportedVmTypes();
}

/** True when the VM type has private memory (guest_memfd, memory attributes). */
export function hasPrivateMemory(type: VmTypeName): boolean {
  return type !== 'default';
}

/**
 * The fixed first steps of every run: two memslots over the window (guest_memfd-backed where
 * the type has private memory), the first 2 MiB private, and for a TD or an SNP guest,
 * finalize (KVM_TDX_FINALIZE_VM, SNP LAUNCH_FINISH).
 */
export function prologue(type: VmTypeName): StepOp[] {
  const gmem = hasPrivateMemory(type) ? { offset: 0 } : null;
  const steps: StepOp[] = [
    {
      op: 'memslot',
      args: { slot: 1, gpa: 0, size: 2 * MIB2, guestMemfd: gmem, readonly: false, logDirty: false },
    },
    {
      op: 'memslot',
      args: {
        slot: 2,
        gpa: 2 * MIB2,
        size: 2 * MIB2,
        guestMemfd: gmem,
        readonly: false,
        logDirty: false,
      },
    },
  ];
  if (hasPrivateMemory(type)) {
    steps.push({ op: 'setAttributes', args: { gpa: 0, size: MIB2, private: true } });
  }
  if (type === 'tdx' || type === 'snp') steps.push({ op: 'finalize', args: {} });
  return steps;
}

type Kind =
  | 'write'
  | 'read'
  | 'setAttributes'
  | 'punchHole'
  | 'allocate'
  | 'hostWrite'
  | 'hostRead'
  | 'invalidateHva'
  | 'preFault'
  | 'mapGpa'
  | 'resume'
  | 'memslot'
  | 'accept'
  | 'seamcall'
  | 'destroy';

/** Weights out of 32 per VM kind; the selector's 5 bits index the expanded table. */
function opTable(type: VmTypeName): readonly Kind[] {
  const w: [Kind, number][] =
    type === 'tdx'
      ? [
          ['write', 5],
          ['read', 4],
          ['setAttributes', 4],
          ['punchHole', 2],
          ['allocate', 1],
          ['hostWrite', 1],
          ['hostRead', 1],
          ['invalidateHva', 2],
          ['preFault', 1],
          ['mapGpa', 3],
          ['resume', 1],
          ['memslot', 1],
          ['accept', 3],
          ['seamcall', 2],
          ['destroy', 1],
        ]
      : hasPrivateMemory(type)
        ? [
            ['write', 6],
            ['read', 5],
            ['setAttributes', 5],
            ['punchHole', 2],
            ['allocate', 1],
            ['hostWrite', 2],
            ['hostRead', 1],
            ['invalidateHva', 2],
            ['preFault', 2],
            ['mapGpa', 3],
            ['resume', 1],
            ['memslot', 1],
            ['destroy', 1],
          ]
        : [
            ['write', 8],
            ['read', 7],
            ['hostWrite', 4],
            ['hostRead', 3],
            ['invalidateHva', 3],
            ['preFault', 3],
            ['resume', 1],
            ['memslot', 2],
            ['destroy', 1],
          ];
  const table: Kind[] = [];
  for (const [k, n] of w) for (let i = 0; i < n; i++) table.push(k);
  if (table.length !== 32) throw new Error(`op table for ${type} has ${table.length} entries`);
  return table;
}

const TABLES = new Map<VmTypeName, readonly Kind[]>();
function tableFor(type: VmTypeName): readonly Kind[] {
  let t = TABLES.get(type);
  if (t === undefined) {
    t = opTable(type);
    TABLES.set(type, t);
  }
  return t;
}

/** Range sizes in pages, by a 3-bit class: small ranges, a huge page, one past it, empty. */
const RANGE_PAGES = [1, 2, 512, 16, 513, 1, 3, 0] as const;
/** Guest access sizes in bytes. */
const ACCESS_SIZES = [8, 1, 4096, 8192, 16, 4096, 64, 2] as const;
/** Offsets within the page of a guest access (the last one crosses into the next page). */
const ACCESS_OFFSETS = [0, 0x800, 0, 0xff8] as const;
/** Bytes written. */
const BYTES = [0x11, 0x22, 0x33, 0xaa, 0x55, 0xcc, 0x00, 0xff] as const;

/** SEAMCALL leaves a hostile host tries; none of them may break what KVM relies on. */
const RAW_LEAVES = [
  'TDH.MEM.PAGE.REMOVE',
  'TDH.MEM.SEPT.REMOVE',
  'TDH.MEM.RANGE.UNBLOCK',
  'TDH.MEM.TRACK',
  'TDH.PHYMEM.PAGE.RECLAIM',
  'TDH.MEM.PAGE.AUG',
  'TDH.MEM.PAGE.DEMOTE',
  'TDH.MNG.KEY.FREEID',
] as const;

function bits(code: number, shift: number, width: number): number {
  return Math.floor(code / 2 ** shift) % 2 ** width;
}

/**
 * Decode one generated step for the VM as it is now. Layout of `code` (30 bits):
 * 0–4 operation, 5–15 page in the window, 16–18 size class, 19 vCPU, 20–21 private
 * (absent/true/false/absent), 22–24 byte, 25–27 variant, 28–29 offset in the page.
 */
export function decodeStep(code: number, type: VmTypeName, ex: StepExecutor): StepOp {
  const kind = tableFor(type)[bits(code, 0, 5)] ?? 'write';
  let page = bits(code, 5, 11) % EXPLORE_PAGES;
  const sizeClass = bits(code, 16, 3);
  const vcpu = bits(code, 19, 1);
  const privBits = bits(code, 20, 2);
  const priv = privBits === 1 ? true : privBits === 2 ? false : undefined;
  const byte = BYTES[bits(code, 22, 3)] ?? 0;
  const variant = bits(code, 25, 3);
  const offset = ACCESS_OFFSETS[bits(code, 28, 2)] ?? 0;
  if (isGuestKind(kind) && ex.vcpus[vcpu]?.hasPendingExit === true) {
    return answerExit(ex, vcpu, variant);
  }
  const pages = RANGE_PAGES[sizeClass] ?? 1;
  // Huge ranges start on a 2 MiB boundary (except one class of one-past-huge ranges).
  if (pages >= 512 && sizeClass !== 4) page -= page % 512;
  const gpa = page * PAGE_SIZE;
  const size = pages * PAGE_SIZE;
  switch (kind) {
    case 'write':
    case 'read': {
      const accessSize = ACCESS_SIZES[sizeClass] ?? 8;
      const args = {
        gpa: gpa + offset,
        size: accessSize,
        vcpu,
        ...(priv !== undefined ? { private: priv } : {}),
      };
      return kind === 'write' ? { op: 'write', args: { ...args, byte } } : { op: 'read', args };
    }
    case 'setAttributes':
      return {
        op: 'setAttributes',
        args: { gpa: inSlots(gpa), size, private: (variant & 1) === 0 },
      };
    case 'punchHole':
      return { op: 'punchHole', args: { gpa, size } };
    case 'allocate':
      return { op: 'allocate', args: { gpa, size } };
    case 'hostWrite':
      return {
        op: 'hostWrite',
        args: { gpa: gpa + offset, size: Math.min(size, 16384) || 8, byte },
      };
    case 'hostRead':
      return { op: 'hostRead', args: { gpa: gpa + offset, size: Math.min(size, 16384) || 8 } };
    case 'invalidateHva':
      return { op: 'invalidateHva', args: { gpa, size } };
    case 'preFault':
      return { op: 'preFault', args: { gpa, size, vcpu } };
    case 'mapGpa':
      return { op: 'mapGpa', args: { gpa: inSlots(gpa), size, shared: (variant & 1) === 1, vcpu } };
    case 'resume':
      return { op: 'resume', args: { vcpu } };
    case 'accept':
      return {
        op: 'accept',
        args: { gpa, size: pages >= 512 ? 512 * PAGE_SIZE : PAGE_SIZE, level: 1, vcpu },
      };
    case 'memslot':
      return memslotStep(type, variant, sizeClass);
    case 'seamcall':
      return seamcallStep(ex, variant, gpa, sizeClass);
    case 'destroy':
      // Teardown ends everything after it; keep it rare (1 in 8 of its selector values).
      if (variant === 7 && byte === 0xff) return { op: 'destroy', args: {} };
      return { op: 'invalidateHva', args: { gpa, size } };
  }
}

/**
 * Conversions stay inside the prologue's memslots: a private GFN without a memslot makes
 * every private access to it fault for good, which only stalls a vCPU.
 */
function inSlots(gpa: number): number {
  return gpa % (2 * MIB2);
}

function isGuestKind(kind: Kind): boolean {
  return kind === 'write' || kind === 'read' || kind === 'mapGpa' || kind === 'accept';
}

/**
 * A guest operation was drawn for a vCPU whose exit still waits: the VMM answers the exit
 * instead, as a VMM's run loop does — a memory-fault exit by converting the range to what
 * the guest asked for (KVM_SET_MEMORY_ATTRIBUTES, as the selftests' handler does), any other
 * exit (or a fault the conversion did not cure, half of the time) by running the vCPU again.
 */
function answerExit(ex: StepExecutor, vcpu: number, variant: number): StepOp {
  const exit = ex.pendingExits[vcpu];
  if (
    exit !== null &&
    exit !== undefined &&
    exit.reason === KVM_EXIT_MEMORY_FAULT &&
    (variant & 1) === 0
  ) {
    const start = exit.gpa - (exit.gpa % PAGE_SIZE);
    const end = Math.ceil((exit.gpa + exit.size) / PAGE_SIZE) * PAGE_SIZE;
    return {
      op: 'setAttributes',
      args: {
        gpa: start,
        size: end - start,
        private: (exit.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE) !== 0,
      },
    };
  }
  return { op: 'resume', args: { vcpu } };
}

/**
 * Memslot changes: delete, re-create (with or without huge host backing), move, a readonly
 * or dirty-logged slot, overlaps.
 */
function memslotStep(type: VmTypeName, variant: number, sizeClass: number): StepOp {
  const gmem = hasPrivateMemory(type) && sizeClass < 6 ? { offset: 0 } : null;
  const slot = 1 + (variant & 1);
  const base = (variant & 1) * 2 * MIB2;
  const make = (
    gpa: number,
    size: number,
    readonly = false,
    logDirty = false,
    hostHugePages = false,
  ): StepOp => ({
    op: 'memslot',
    args: {
      slot,
      gpa,
      size,
      guestMemfd: size === 0 ? null : gmem,
      readonly,
      logDirty,
      ...(hostHugePages ? { hostHugePages: true } : {}),
    },
  });
  switch (variant >> 1) {
    case 0:
      return make(base, 0);
    case 1:
      // Half of the re-created slots get huge host backing (THP): shared 2M mappings.
      return make(base, 2 * MIB2, false, false, sizeClass >= 4);
    case 2:
      return make(base + MIB2, MIB2, false, sizeClass >= 6);
    default:
      return make(base, 2 * MIB2, sizeClass === 7, sizeClass === 6);
  }
}

/**
 * A raw SEAMCALL with registers spelled out (RCX = GPA | module level, RDX = the TDR, R8 a
 * page the TD owns): every leaf here must be refused, or succeed harmlessly, whatever KVM's
 * state — the module protects the TD from its host.
 */
function seamcallStep(ex: StepExecutor, variant: number, gpa: number, sizeClass: number): StepOp {
  const leaf = RAW_LEAVES[variant] ?? 'TDH.MEM.TRACK';
  const tdx = ex.kvm.tdx;
  const tdr = BigInt(tdx !== null && tdx.tdr >= 0 ? tdx.tdr : 0);
  const level = BigInt(sizeClass === 2 ? 1 : 0);
  const info = BigInt(gpa) | level;
  const ownedPa = BigInt(ownedPage(ex, gpa) * PAGE_SIZE);
  switch (leaf) {
    case 'TDH.MEM.TRACK':
    case 'TDH.MNG.KEY.FREEID':
      return { op: 'seamcall', args: { leaf, rcx: tdr } };
    case 'TDH.PHYMEM.PAGE.RECLAIM':
      return { op: 'seamcall', args: { leaf, rcx: ownedPa } };
    case 'TDH.MEM.PAGE.DEMOTE':
      // A 2 MiB leaf split without BLOCK first; R8 a TD page as the new table.
      return {
        op: 'seamcall',
        args: { leaf, rcx: BigInt(gpa - (gpa % MIB2)) | 1n, rdx: tdr, r8: ownedPa },
      };
    case 'TDH.MEM.PAGE.AUG':
      return {
        op: 'seamcall',
        args: { leaf, rcx: BigInt(gpa + PAGE_SIZE), rdx: tdr, r8: ownedPa },
      };
    case 'TDH.MEM.SEPT.REMOVE':
      return {
        op: 'seamcall',
        args: { leaf, rcx: BigInt(gpa - (gpa % (2 * MIB2))) | 1n, rdx: tdr },
      };
    default:
      return { op: 'seamcall', args: { leaf, rcx: info, rdx: tdr } };
  }
}

/**
 * A page the TD owns: the frame its mirror root maps at (or after) `gpa`, else its TDR.
 * Handing a hostile leaf the TD's own pages is the interesting case.
 */
function ownedPage(ex: StepExecutor, gpa: number): number {
  const kvm = ex.kvm;
  const tdx = kvm.tdx;
  const root = kvm.mmu.mirrorRoot;
  if (root !== null && !kvm.destroyed) {
    const first = Math.floor(gpa / PAGE_SIZE);
    for (let g = first; g < first + 8 && g < EXPLORE_PAGES; g++) {
      const leaf = kvm.mmu.lookup(root, g);
      if (leaf !== null) return leaf.pfn;
    }
  }
  return tdx !== null && tdx.tdr >= 0 ? tdx.tdr / PAGE_SIZE : 0;
}
