// What the /decoder page shows for one input: the same parse and decode as `kvmx addr`
// (apps/cli/src/commands/addr.ts), so the page and the CLI agree field for field and error
// for error. Pure functions over @kvmx/address; the Vue component only renders them.

import {
  decodeGpa,
  type GpaDecode,
  gpaDecodeToJson,
  hex,
  levelShift,
  PHYS_ADDR_LIMIT,
  parseUint,
  type VmTypeName,
} from '@kvmx/address';

export interface DecoderSettings {
  readonly vmType: VmTypeName;
  readonly gpaw: number;
  /** C-bit position; only passed on for SEV, SEV-ES and SNP, as the CLI's --cbit. */
  readonly cbit?: number;
}

/** One column of the bit picture: a table index, the page offset, or bits beyond GPAW. */
export interface BitField {
  readonly kind: 'beyond' | 'index' | 'offset';
  readonly label: string;
  readonly hi: number;
  readonly lo: number;
  /** The field's bits, most significant first. */
  readonly bits: ReadonlyArray<{ readonly n: number; readonly v: 0 | 1; readonly mark: BitMark }>;
  readonly value: string;
}

export type BitMark = 'shared' | 'cbit' | null;

export type DecoderView =
  | {
      readonly ok: true;
      readonly decode: GpaDecode;
      /** Exactly the object `kvmx addr --json` prints for this input. */
      readonly json: Record<string, unknown>;
      readonly fields: readonly BitField[];
      /** Which root a fault on this GPA walks (tdp_mmu_get_root_for_fault()). */
      readonly root: string;
    }
  | { readonly ok: false; readonly message: string };

/** The EPT table each level indexes, root first (Intel SDM names). */
export const LEVEL_TABLE_NAMES: Readonly<Record<number, string>> = {
  5: 'PML5',
  4: 'PML4',
  3: 'PDPT',
  2: 'PD',
  1: 'PT',
};

/** The message the CLI prints on stderr for bad input (UsageError -> `kvmx: <message>`). */
function cliError(message: string): DecoderView {
  return { ok: false, message: `kvmx: ${message}` };
}

/** Parse `text` like `kvmx addr` does and decode it for the chosen VM. Never throws. */
export function decodeForPage(text: string, settings: DecoderSettings): DecoderView {
  const parsed = parseUint(text, {
    what: 'address',
    limit: PHYS_ADDR_LIMIT,
    limitName: '2^52 (MAXPHYADDR 52)',
  });
  if (!parsed.ok) return cliError(parsed.error);
  const r = decodeGpa(parsed.value, {
    vmType: settings.vmType,
    gpaw: settings.gpaw,
    ...(settings.cbit !== undefined ? { cbit: settings.cbit } : {}),
  });
  if (!r.ok) return cliError(r.error);
  const d = r.value;
  return { ok: true, decode: d, json: gpaDecodeToJson(d), fields: bitFields(d), root: rootName(d) };
}

function rootName(d: GpaDecode): string {
  if (d.gfnDirectBits === 0) return 'the only root (direct): private and shared share it';
  return d.isAddrDirect ? 'direct root (shared EPT)' : 'mirror root (S-EPT)';
}

/** Bit `n` of a number below 2^53, without bigint. */
function bitOf(value: number, n: number): 0 | 1 {
  return Math.floor(value / 2 ** n) % 2 === 1 ? 1 : 0;
}

/** The address cut into the fields the hardware walk uses, as the CLI draws them. */
export function bitFields(d: GpaDecode): BitField[] {
  const topBit = d.gpaw - 1;
  const mark = (n: number): BitMark => {
    if (d.sharedBit === n) return 'shared';
    if (d.cbit === n) return 'cbit';
    return null;
  };
  const make = (kind: BitField['kind'], label: string, hi: number, lo: number, value: string) => {
    const bits: { n: number; v: 0 | 1; mark: BitMark }[] = [];
    for (let n = hi; n >= lo; n--) bits.push({ n, v: bitOf(d.input, n), mark: mark(n) });
    return { kind, label, hi, lo, bits, value };
  };
  const fields: BitField[] = [];
  if (topBit < 51 && d.input >= 2 ** d.gpaw) {
    fields.push(make('beyond', 'beyond GPAW', 51, d.gpaw, ''));
  }
  for (const { level, index } of d.indices) {
    const lo = levelShift(level);
    // The root level's field reaches up to the top bit the TD's GPAW allows.
    const hi = level === d.rootLevel ? Math.max(topBit, lo + 8) : lo + 8;
    fields.push(
      make('index', `${LEVEL_TABLE_NAMES[level]} [${hi}:${lo}]`, hi, lo, `index ${index}`),
    );
  }
  fields.push(make('offset', 'offset [11:0]', 11, 0, hex(d.offset)));
  return fields;
}
