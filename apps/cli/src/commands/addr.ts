// `kvmx addr <address>... [--vm TYPE] [--gpaw 48|52] [--cbit N] [--json]` (CONTRACTS §1).

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
import type { Command } from 'commander';
import type { RegisterCommand } from '../cli.js';
import { UsageError } from '../errors.js';
import { colors, type Io } from '../io.js';
import { parseGpawOption, parseIntOption, parseVmOption } from '../options.js';

interface AddrOptions {
  vm: VmTypeName;
  gpaw?: number;
  cbit?: number;
  json?: boolean;
}

export const registerAddr: RegisterCommand = (program: Command, io: Io) => {
  program
    .command('addr')
    .description('decode guest-physical addresses: shared bit, GFN, aliases, table indices')
    .argument('<address...>', 'addresses: hex (0x…), decimal, or sizes (4GiB)')
    .option(
      '--vm <type>',
      'VM type: default, sw_protected, sev, sev_es, snp, tdx',
      parseVmOption,
      'tdx',
    )
    .option('--gpaw <bits>', 'guest physical-address width: 48 or 52 (default 48)', parseGpawOption)
    .option('--cbit <n>', 'SEV/SNP C-bit position (default 51)', parseIntOption('--cbit', 0, 63))
    .option('--json', 'one JSON object per address, one per line')
    .action((addresses: string[], opts: AddrOptions) => {
      // Parse and validate everything first, so bad input prints nothing but its error.
      const decoded = addresses.map((text) => decodeOne(text, opts));
      for (const d of decoded) {
        if (opts.json) io.out(JSON.stringify(gpaDecodeToJson(d)));
        else for (const line of renderAddr(d, io)) io.out(line);
      }
    });
};

function decodeOne(text: string, opts: AddrOptions): GpaDecode {
  const parsed = parseUint(text, {
    what: 'address',
    limit: PHYS_ADDR_LIMIT,
    limitName: '2^52 (MAXPHYADDR 52)',
  });
  if (!parsed.ok) throw new UsageError(parsed.error);
  const r = decodeGpa(parsed.value, {
    vmType: opts.vm,
    ...(opts.gpaw !== undefined ? { gpaw: opts.gpaw } : {}),
    ...(opts.cbit !== undefined ? { cbit: opts.cbit } : {}),
  });
  if (!r.ok) throw new UsageError(r.error);
  return r.value;
}

const LEVEL_TABLE_NAMES: Record<number, string> = {
  5: 'PML5',
  4: 'PML4',
  3: 'PDPT',
  2: 'PD',
  1: 'PT',
};

/** The readable view: a header, the address's bit fields drawn level by level, the helpers. */
export function renderAddr(d: GpaDecode, io: Io): string[] {
  const c = colors(io);
  const topBit = d.gpaw - 1;
  const bits = d.input.toString(2).padStart(52, '0');
  const bit = (n: number) => bits[51 - n] ?? '0';
  const lines: string[] = [];
  const shared = d.sharedBit === null ? '' : `, shared bit ${d.sharedBit}`;
  lines.push(
    `${c.bold(hex(d.input))}  ${d.vmType}, GPAW ${d.gpaw}, ${d.rootLevel}-level EPT${shared}`,
  );
  // One column per field, root level first, then the page offset.
  const cols: { label: string; hi: number; lo: number; value: string }[] = [];
  if (topBit < 51 && d.input >= 2 ** d.gpaw) {
    cols.push({ label: `unwalked [51:${d.gpaw}]`, hi: 51, lo: d.gpaw, value: '' });
  }
  for (const { level, index } of d.indices) {
    const lo = levelShift(level);
    const hi = level === d.rootLevel ? topBit : lo + 8;
    cols.push({
      label: `${LEVEL_TABLE_NAMES[level]} [${hi}:${lo}]`,
      hi,
      lo,
      value: `idx ${index}`,
    });
  }
  cols.push({ label: 'offset [11:0]', hi: 11, lo: 0, value: hex(d.offset) });
  const cells = cols.map((col) => {
    let s = '';
    for (let b = col.hi; b >= col.lo; b--) {
      const ch = bit(b);
      s += d.sharedBit === b || (d.cbit === b && d.cbitSet !== null) ? c.yellow(c.bold(ch)) : ch;
    }
    const width = Math.max(col.hi - col.lo + 1, col.label.length, col.value.length);
    return { s, plainLen: col.hi - col.lo + 1, width, col };
  });
  const pad = (text: string, len: number, width: number) => text + ' '.repeat(width - len);
  lines.push(
    `  ${cells.map((x) => pad(c.dim(x.col.label), x.col.label.length, x.width)).join('  ')}`,
  );
  lines.push(`  ${cells.map((x) => pad(x.s, x.plainLen, x.width)).join('  ')}`.trimEnd());
  lines.push(
    `  ${cells.map((x) => pad(x.col.value, x.col.value.length, x.width)).join('  ')}`.trimEnd(),
  );
  if (d.sharedBit !== null) {
    lines.push(
      `  shared bit ${d.sharedBit} is ${bit(d.sharedBit)}: ${d.isAddrDirect ? c.cyan('shared') : c.magenta('private')} alias`,
    );
  }
  if (d.cbit !== null) {
    lines.push(
      `  C-bit ${d.cbit} is ${d.cbitSet ? 1 : 0} (in a guest page-table entry: ${d.cbitSet ? 'encrypted' : 'unencrypted'}); the GPA of a fault never carries it`,
    );
  }
  if (!d.reachable) {
    lines.push(
      c.yellow(
        `  beyond a ${d.rootLevel}-level walk: bits above ${12 + 9 * d.rootLevel - 1} are not indexed`,
      ),
    );
  }
  lines.push(`  raw GFN ${hex(d.rawGfn)}   canonical GFN ${hex(d.gfn)}   offset ${hex(d.offset)}`);
  lines.push(`  private alias ${hex(d.privateGpa)}   shared alias ${hex(d.sharedGpa)}`);
  lines.push(
    `  seed:     kvm_gfn_shared_mask ${hex(d.gfnSharedMask)}  kvm_is_private_gpa ${d.isPrivateGpa}`,
  );
  const root =
    d.gfnDirectBits === 0
      ? 'the only (direct) root'
      : d.isAddrDirect
        ? 'direct root (shared EPT)'
        : 'mirror root (S-EPT)';
  lines.push(
    `  upstream: kvm_gfn_direct_bits ${hex(d.gfnDirectBits)}  kvm_is_addr_direct ${d.isAddrDirect} -> ${root}`,
  );
  return lines;
}
