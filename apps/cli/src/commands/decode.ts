// `kvmx decode <what> <hex>...` (CONTRACTS §1): a parent command whose subcommands live in
// their own files. To add one, write commands/decode-<what>.ts exporting a
// DecodeSubcommand and append it to DECODE_SUBCOMMANDS below.

import type { Command } from 'commander';
import type { RegisterCommand } from '../cli.js';
import type { Io } from '../io.js';
import { registerDecodeSpte } from './decode-spte.js';
import { registerDecodeStatus } from './decode-status.js';

/** Adds one `decode` subcommand (e.g. `spte`, `status`) to the `decode` command. */
export type DecodeSubcommand = (decode: Command, io: Io, setExit: (code: number) => void) => void;

/** The `decode` subcommands, in help order. */
export const DECODE_SUBCOMMANDS: DecodeSubcommand[] = [registerDecodeStatus, registerDecodeSpte];

export const registerDecode: RegisterCommand = (program, io, setExit) => {
  const decode = program
    .command('decode')
    .description('name TDX status codes or EPT entries (see `kvmx decode <what> --help`)');
  for (const register of DECODE_SUBCOMMANDS) register(decode, io, setExit);
  for (const sub of decode.commands) sub.exitOverride();
};
