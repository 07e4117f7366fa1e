// `kvmx decode status <hex>... [--json]` (CONTRACTS §1): name TDX module completion statuses —
// base name, class, operand, and the error / non-recoverable / fatal bits — with the TDX
// module 1.5 values (@kvmx/tdx-module status table).

import { parseU64, word64FromBigInt } from '@kvmx/address';
import { decodeStatus, type StatusDecode } from '@kvmx/tdx-module';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { colors, type Io } from '../io.js';
import type { DecodeSubcommand } from './decode.js';

interface DecodeStatusOptions {
  json?: boolean;
}

export const registerDecodeStatus: DecodeSubcommand = (decode: Command, io: Io) => {
  decode
    .command('status')
    .description('name TDX module status codes (SEAMCALL/TDCALL RAX), with class and operand')
    .argument('<status...>', '64-bit statuses: hex (0x…) or decimal')
    .option('--json', 'one JSON object per status, one per line')
    .action((values: string[], opts: DecodeStatusOptions) => {
      const decoded = values.map((text) => {
        const r = parseU64(text);
        if (!r.ok) throw new UsageError(`status: ${r.error}`);
        return decodeStatus(word64FromBigInt(r.value));
      });
      for (const d of decoded) {
        if (opts.json) io.out(JSON.stringify(statusDecodeToJson(d)));
        else for (const line of renderStatus(d, io)) io.out(line);
      }
    });
};

/** The JSON object: the CONTRACTS §1 fields first, then extras. */
export function statusDecodeToJson(d: StatusDecode): Record<string, unknown> {
  return {
    name: d.name,
    code: d.code,
    class: d.class,
    operandId: d.operandId,
    operand: d.operand,
    error: d.error,
    nonRecoverable: d.nonRecoverable,
    fatal: d.fatal,
    hostRecoverabilityHint: d.hostRecoverabilityHint,
    details: d.details,
    lowBits: d.lowBits,
    known: d.known,
    classCodeMatch: d.classCodeMatch,
    linuxName: d.linuxName,
  };
}

const CLASS_NAMES: Readonly<Record<number, string>> = {
  0: 'general',
  1: 'operand',
  2: 'busy / contention',
  3: 'page metadata',
  4: 'page metadata',
  5: 'system',
  6: 'TD state',
  7: 'vCPU state',
  8: 'keys',
  9: 'configuration',
  10: 'TDMR / PAMT',
  11: 'Secure EPT',
  12: 'metadata',
  13: 'service TD',
  14: 'migration',
  16: 'attestation',
  17: 'L2 / TD exit',
  255: 'Linux software (no module)',
};

/** The readable view: one line with the name and operand, one with the bits. */
export function renderStatus(d: StatusDecode, io: Io): string[] {
  const c = colors(io);
  const name = d.known ? c.bold(d.name) : c.yellow(d.name);
  let low = '';
  if (d.operand !== null) low = `|${d.operand}`;
  else if (d.lowBits === 'exitReason' && d.operandId !== 0)
    low = ` + VMX exit reason ${d.operandId}`;
  else if (d.lowBits === 'level') low = ` (level ${d.operandId})`;
  else if (d.operandId !== 0) low = ` + 0x${d.operandId.toString(16)}`;
  const lines = [`${d.code}  ${name}${low}`];
  const flags = [
    d.error ? c.red('error') : 'no error bit',
    d.nonRecoverable ? 'non-recoverable' : '',
    d.fatal ? c.red('fatal') : '',
    d.hostRecoverabilityHint ? 'host-recoverability hint' : '',
  ].filter((s) => s !== '');
  lines.push(
    `  class 0x${d.class.toString(16).padStart(2, '0')} (${CLASS_NAMES[d.class] ?? 'unknown'})  code 0x${d.details
      .toString(16)
      .padStart(2, '0')}  ${flags.join(', ')}`,
  );
  if (d.linuxName !== null) {
    lines.push(
      `  this is Linux's ${d.linuxName} constant; the module's value differs in bits 63:60`,
    );
  } else if (!d.known && d.classCodeMatch !== null) {
    lines.push(
      `  class and code match ${d.classCodeMatch}, but bits 63:60 differ from the module's value`,
    );
  }
  return lines;
}
