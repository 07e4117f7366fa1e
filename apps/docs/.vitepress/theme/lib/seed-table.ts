// Kai Huang's point about the seed's helpers, computed: for each VM type, what the seed's
// kvm_gfn_shared_mask() / kvm_is_private_gpa() and upstream's kvm_gfn_direct_bits() /
// kvm_is_addr_direct() say about the two aliases of GPA 0x1000 (kvm-mmu.md §4.2).

import {
  decodeGpa,
  type GpaDecode,
  type Gpaw,
  hex,
  VM_TYPE_NAMES,
  vmTypeNumber,
} from '@kvmx/address';

export interface SeedRow {
  readonly vm: string;
  readonly vmNumber: number;
  readonly gpaw: Gpaw;
  readonly gfnSharedMask: string;
  readonly gfnDirectBits: string;
  readonly privateGpa: string;
  readonly sharedGpa: string;
  /** kvm_is_private_gpa() of the private alias and of the shared alias. */
  readonly isPrivateGpa: readonly [boolean, boolean];
  /** kvm_is_addr_direct() of the private alias and of the shared alias. */
  readonly isAddrDirect: readonly [boolean, boolean];
  /** The canonical GFN a fault on either alias resolves to. */
  readonly gfn: readonly [string, string];
}

/** The GPA every row starts from: the second 4 KiB page of guest memory. */
export const SEED_TABLE_GPA = 0x1000;

function must(d: ReturnType<typeof decodeGpa>): GpaDecode {
  if (!d.ok) throw new Error(d.error); // cannot happen: both aliases are below 2^GPAW
  return d.value;
}

/** One row per VM type with GPAW 48, and a TDX row with GPAW 52. */
export function seedRows(gpa: number = SEED_TABLE_GPA): SeedRow[] {
  const configs: { vm: (typeof VM_TYPE_NAMES)[number]; gpaw: Gpaw }[] = [
    ...VM_TYPE_NAMES.map((vm) => ({ vm, gpaw: 48 as Gpaw })),
    { vm: 'tdx', gpaw: 52 },
  ];
  return configs.map(({ vm, gpaw }) => {
    const base = must(decodeGpa(gpa, { vmType: vm, gpaw }));
    const priv = must(decodeGpa(base.privateGpa, { vmType: vm, gpaw }));
    const shared = must(decodeGpa(base.sharedGpa, { vmType: vm, gpaw }));
    return {
      vm,
      vmNumber: vmTypeNumber(vm),
      gpaw,
      gfnSharedMask: hex(base.gfnSharedMask),
      gfnDirectBits: hex(base.gfnDirectBits),
      privateGpa: hex(priv.input),
      sharedGpa: hex(shared.input),
      isPrivateGpa: [priv.isPrivateGpa, shared.isPrivateGpa],
      isAddrDirect: [priv.isAddrDirect, shared.isAddrDirect],
      gfn: [hex(priv.gfn), hex(shared.gfn)],
    };
  });
}
