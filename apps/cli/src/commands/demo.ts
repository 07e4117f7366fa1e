// `kvmx demo [--vm TYPE] [--json]` (CONTRACTS §1): runs the embedded scenario — a TD boots
// with measured pages, accepts private memory, converts a range to shared and back, and is
// torn down — and tells the story as a trace, ending with the page tables.

import type { VmTypeName } from '@kvmx/address';
import { DEMO_FILE, DEMO_SCENARIO_YAML, DEMO_SNP_SCENARIO_YAML } from '@kvmx/scenario';
import type { Command } from 'commander';
import type { RegisterCommand } from '../cli.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { parseVmOption } from '../options.js';
import { runAndPrint } from './run.js';

interface DemoOptions {
  vm: VmTypeName;
  json?: boolean;
}

/** VM types the demo can tell today, and why the others cannot. */
export function demoUnavailable(vm: VmTypeName): string | undefined {
  if (vm === 'tdx' || vm === 'sw_protected' || vm === 'snp') return undefined;
  return `demo --vm ${vm}: the demo follows a confidential VM's private memory; use --vm tdx, snp or sw_protected`;
}

export const registerDemo: RegisterCommand = (program: Command, io: Io, setExit) => {
  program
    .command('demo')
    .description("tell a TD's life: measured boot, accept, convert to shared and back, teardown")
    .option(
      '--vm <type>',
      'tdx (default), snp (its own story) or sw_protected',
      parseVmOption,
      'tdx',
    )
    .option('--json', 'JSON Lines instead of the trace')
    .action((opts: DemoOptions) => {
      const why = demoUnavailable(opts.vm);
      if (why !== undefined) throw new UsageError(why);
      setExit(
        runAndPrint(
          // SNP tells its own story (LAUNCH_UPDATE, PVALIDATE, page-state changes).
          [
            {
              file: DEMO_FILE,
              text: opts.vm === 'snp' ? DEMO_SNP_SCENARIO_YAML : DEMO_SCENARIO_YAML,
            },
          ],
          { vm: opts.vm, ...(opts.json ? { json: true } : {}) },
          io,
        ),
      );
    });
};
