import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { memoryIo } from '../io.js';

describe('kvmx decode status', () => {
  it('names TDX_EPT_ENTRY_STATE_INCORRECT|SEPT_TREE with the CONTRACTS §1 fields', async () => {
    const io = memoryIo();
    const code = await runCli(['decode', 'status', '0xc0000b0d00000092', '--json'], io);
    expect(code).toBe(0);
    expect(io.stdout).toHaveLength(1);
    const j = JSON.parse(io.stdout[0] as string);
    expect(j).toMatchObject({
      name: 'TDX_EPT_ENTRY_STATE_INCORRECT',
      code: '0xc0000b0d00000092',
      class: 11,
      operandId: 0x92,
      operand: 'SEPT_TREE',
      error: true,
      nonRecoverable: true,
      fatal: false,
    });
  });

  it('decodes several values, one JSON line each', async () => {
    const io = memoryIo();
    await runCli(
      ['decode', 'status', '0x8000020000000080', '0', '0xe000060400000000', '--json'],
      io,
    );
    const rows = io.stdout.map((l) => JSON.parse(l));
    expect(rows.map((r) => r.name)).toEqual(['TDX_OPERAND_BUSY', 'TDX_SUCCESS', 'TDX_TD_FATAL']);
    expect(rows[0].operand).toBe('TDR');
    expect(rows[2].fatal).toBe(true);
  });

  it('prints a readable view', async () => {
    const io = memoryIo();
    await runCli(['decode', 'status', '0x80000200000000a9'], io);
    expect(io.stdout[0]).toBe('0x80000200000000a9  TDX_OPERAND_BUSY|TD_EPOCH');
    expect(io.stdout[1]).toContain('class 0x02 (busy / contention)');
  });

  it("points out Linux's divergent NON_RECOVERABLE_TD value", async () => {
    const io = memoryIo();
    await runCli(['decode', 'status', '0x4000000200000000', '--json'], io);
    expect(JSON.parse(io.stdout[0] as string)).toMatchObject({
      name: 'UNKNOWN',
      linuxName: 'TDX_NON_RECOVERABLE_TD',
      nonRecoverable: true,
      fatal: false,
    });
  });

  it('rejects bad input with exit 2 and one line', async () => {
    const io = memoryIo();
    expect(await runCli(['decode', 'status', '0x1ffffffffffffffff'], io)).toBe(2);
    expect(io.stderr).toHaveLength(1);
    expect(io.stdout).toHaveLength(0);
  });
});
