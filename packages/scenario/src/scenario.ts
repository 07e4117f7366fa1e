// A parsed scenario: the file's values with defaults applied, numbers as numbers (bigints for
// 64-bit registers), and every step's position kept for messages and events.

import type { Gpaw, VmTypeName } from '@kvmx/address';
import type { SourcePos } from './diagnostic.js';
import type { CheckRoot, ErrnoName, ExitReasonName, OpName } from './schema.js';

export interface VmConfig {
  readonly type: VmTypeName;
  readonly vcpus: number;
  /** Guest physical-address width (TDX: selects shared bit 47 or 51). Default 48. */
  readonly gpaw: Gpaw;
  /** SEV/SNP C-bit position. Default 51. */
  readonly cbit: number;
  /** KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE. Default true. */
  readonly exitHypercall: boolean;
  /** The runner answers each KVM_HC_MAP_GPA_RANGE exit (set attributes, resume). */
  readonly autoConvert: boolean;
  /** A TDX guest accepts a PENDING page it touches, as its #VE handler would. */
  readonly autoAccept: boolean;
  /** TD attribute SEPT_VE_DISABLE: touching a PENDING page is fatal instead of a #VE. */
  readonly septVeDisable: boolean;
  /** An injected KVM bug switched on in the model (`kvmx explore --list-injections`). */
  readonly inject?: string;
}

export interface Range {
  readonly gpa: number;
  readonly size: number;
}

export interface GuestMemfdBinding {
  /** Offset of the slot's first page in the guest_memfd file. */
  readonly offset: number;
  /** Names one guest_memfd file shared between slots; absent = a file of its own. */
  readonly id?: number;
  /** Size of the guest_memfd file when this slot creates it (default offset + slot size). */
  readonly size?: number;
}

export type CheckArgs =
  | {
      readonly kind: 'mapping';
      readonly gpa: number;
      readonly root: CheckRoot;
      readonly mapped: boolean;
      readonly level?: number;
      readonly state?: string;
    }
  | { readonly kind: 'mrtd'; readonly mrtd: string }
  | { readonly kind: 'invariants' };

export interface OpArgsMap {
  memslot: Range & {
    readonly slot: number;
    readonly guestMemfd: GuestMemfdBinding | null;
    readonly readonly: boolean;
    readonly logDirty: boolean;
    /** The VMM backs the slot with huge pages (THP / hugetlbfs): shared 2M mappings possible. */
    readonly hostHugePages?: boolean;
  };
  setAttributes: Range & { readonly private: boolean };
  punchHole: Range;
  allocate: Range;
  hostWrite: Range & { readonly byte: number };
  hostRead: Range;
  /** `pageType` (SNP only): the KVM_SEV_SNP_PAGE_TYPE_* of LAUNCH_UPDATE. */
  initMemRegion: Range & { readonly measure: boolean; readonly pageType?: SnpPageTypeName };
  finalize: Record<string, never>;
  invalidateHva: Range;
  preFault: Range & { readonly vcpu: number };
  destroy: Record<string, never>;
  seamcall: {
    readonly leaf: string;
    readonly gpa?: number;
    readonly level?: number;
    readonly pfn?: number;
    readonly tdr?: number;
    readonly source?: number;
    readonly rcx?: bigint;
    readonly rdx?: bigint;
    readonly r8?: bigint;
    readonly r9?: bigint;
  };
  check: CheckArgs;
  write: Range & { readonly byte: number; readonly private?: boolean; readonly vcpu: number };
  read: Range & { readonly private?: boolean; readonly vcpu: number };
  accept: Range & { readonly level: number; readonly vcpu: number };
  mapGpa: Range & { readonly shared: boolean; readonly vcpu: number };
  hypercall: { readonly nr: bigint; readonly args: readonly bigint[]; readonly vcpu: number };
  pvalidate: Range & { readonly validate: boolean; readonly vcpu: number };
  resume: { readonly ret?: bigint; readonly vcpu: number };
}

export interface ExitExpect {
  readonly reason: ExitReasonName;
  readonly gpa?: number;
  readonly size?: number;
  readonly flags?: number;
  readonly nr?: bigint;
  readonly args?: readonly bigint[];
}

export interface Expect {
  readonly exit?: ExitExpect;
  readonly error?: ErrnoName;
  readonly bytes?: number;
  readonly status?: string;
  readonly seamcalls?: readonly string[];
  readonly violation?: boolean;
}

export type StepOp = { [K in OpName]: { readonly op: K; readonly args: OpArgsMap[K] } }[OpName];

export type Step = StepOp & {
  /** 0-based position in `steps`. */
  readonly index: number;
  /** Where the step starts in the file. */
  readonly pos: SourcePos;
  readonly expect?: Expect;
  /** Per-VM-type expectations, merged over `expect` when the run's type matches. */
  readonly expectOn: Partial<Record<VmTypeName, Expect>>;
  /** Run this step only under these VM types (all when absent). */
  readonly only?: readonly VmTypeName[];
  /** A sentence printed with the step in the human trace. */
  readonly note?: string;
};

export interface Scenario {
  /** The file name used in messages. */
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  readonly vm: VmConfig;
  /** Where `vm.type` is written (for messages about the VM). */
  readonly vmPos?: SourcePos;
  /** Run the invariant checker after every step. Default true. */
  readonly invariants: boolean;
  readonly seed?: number;
  readonly steps: readonly Step[];
}

/** The vCPU a guest operation runs on (0 for host operations). */
export function stepVcpu(step: StepOp): number {
  const args = step.args as { vcpu?: number };
  return args.vcpu ?? 0;
}

/** SNP LAUNCH_UPDATE page types, by the names scenario files use (KVM_SEV_SNP_PAGE_TYPE_*). */
export const SNP_PAGE_TYPE_NAMES = ['normal', 'zero', 'unmeasured', 'secrets', 'cpuid'] as const;
export type SnpPageTypeName = (typeof SNP_PAGE_TYPE_NAMES)[number];
