// `kvmx decode spte <hex>... [--json] [--vm TYPE]` (CONTRACTS §1): every field of an EPT
// entry as KVM reads it. `--vm tdx` uses TDX's MMIO SPTE value (0) instead of EPT's (W|X).

import { parseU64, type VmTypeName, word64FromBigInt } from '@kvmx/address';
import { decodeSpte, type SpteDecode, spteDecodeToJson } from '@kvmx/paging';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { colors, type Io } from '../io.js';
import { parseVmOption } from '../options.js';
import type { DecodeSubcommand } from './decode.js';

interface DecodeSpteOptions {
  vm: VmTypeName;
  json?: boolean;
}

export const registerDecodeSpte: DecodeSubcommand = (decode: Command, io: Io) => {
  decode
    .command('spte')
    .description("decode EPT entries (SPTEs) bit by bit, as KVM's MMU reads them")
    .argument('<spte...>', '64-bit entries: hex (0x…) or decimal')
    .option('--vm <type>', "VM type; tdx uses TDX's MMIO SPTE value (0)", parseVmOption, 'default')
    .option('--json', 'one JSON object per entry, one per line')
    .action((values: string[], opts: DecodeSpteOptions) => {
      const decoded = values.map((text) => {
        const r = parseU64(text);
        if (!r.ok) throw new UsageError(`spte: ${r.error}`);
        const w = word64FromBigInt(r.value);
        return decodeSpte(w.lo, w.hi, opts.vm === 'tdx' ? 'tdx' : 'ept');
      });
      for (const d of decoded) {
        if (opts.json) io.out(JSON.stringify(spteDecodeToJson(d)));
        else for (const line of renderSpte(d, io)) io.out(line);
      }
    });
};

const MEMTYPES: Readonly<Record<number, string>> = {
  0: 'UC',
  1: 'WC',
  4: 'WT',
  5: 'WP',
  6: 'WB',
};

/** The readable view: the value, what it is, then the bits grouped as the SDM draws them. */
export function renderSpte(d: SpteDecode, io: Io): string[] {
  const c = colors(io);
  const j = spteDecodeToJson(d);
  const flag = (name: string, on: boolean) => (on ? c.bold(name) : c.dim(name.toLowerCase()));
  const kind =
    d.kind === 'present'
      ? d.large
        ? 'present huge leaf, or a non-leaf above 4K (page-size bit set)'
        : 'present (a 4K leaf, or a non-leaf pointing at a table)'
      : d.kind === 'frozen'
        ? 'FROZEN_SPTE: another thread owns this entry'
        : d.kind === 'nonpresent'
          ? 'SHADOW_NONPRESENT_VALUE: empty / zapped'
          : d.kind === 'mmio'
            ? `MMIO SPTE (${d.vm === 'tdx' ? "TDX's value 0: #VE to the guest" : 'EPT misconfig W|X'})`
            : 'not present';
  const lines = [`${c.bold(String(j.input))}  ${kind}`];
  lines.push(
    `  access ${flag('R', d.readable)} ${flag('W', d.writable)} ${flag('X', d.executable)} ${flag('XU', d.userExec)}` +
      `  memtype ${d.memtype} (${MEMTYPES[d.memtype] ?? 'reserved'})  ${flag('IPAT', d.ipat)}  ${flag('PS', d.large)}`,
  );
  lines.push(
    `  ${flag('A', d.accessed)} ${flag('D', d.dirty)}  mmu-present(11) ${d.mmuPresent}  A/D mode ${d.adMode}` +
      `  saved R/X ${d.savedReadable ? 1 : 0}/${d.savedExecutable ? 1 : 0}`,
  );
  lines.push(
    `  host-writable(57) ${d.hostWritable}  mmu-writable(58) ${d.mmuWritable}  suppress-#VE(63) ${d.suppressVe}`,
  );
  lines.push(`  pfn ${String(j.pfn)} (hpa ${`0x${(d.pfn * 4096).toString(16)}`})`);
  if (d.mmio) {
    lines.push(`  mmio generation ${d.mmioGeneration}  gfn ${String(j.mmioGfn)}`);
  }
  return lines;
}
