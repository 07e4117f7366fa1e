// The kvmx command line: one commander program, each command in commands/<name>.ts.

import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { type Io, processIo } from './io.js';

/** A command module adds itself to the program; its action returns the exit status. */
export type RegisterCommand = (program: Command, io: Io, setExit: (code: number) => void) => void;

/**
 * The commands, in help order: a name and a loader of the module that registers it. Only the
 * module of the command being run is loaded (start-up time: `kvmx addr` must not load the
 * scenario runner or the TDX module); help, --version and unknown names load them all.
 * To add a command: one entry `{ name, load: async () => (await import('./commands/x.js')).registerX }`.
 */
const COMMANDS: readonly {
  readonly name: string;
  readonly load: () => Promise<RegisterCommand>;
}[] = [
  { name: 'addr', load: async () => (await import('./commands/addr.js')).registerAddr },
  { name: 'run', load: async () => (await import('./commands/run.js')).registerRun },
  { name: 'demo', load: async () => (await import('./commands/demo.js')).registerDemo },
  { name: 'decode', load: async () => (await import('./commands/decode.js')).registerDecode },
  { name: 'bench', load: async () => (await import('./commands/bench.js')).registerBench },
  { name: 'explore', load: async () => (await import('./commands/explore.js')).registerExplore },
];

/** Run the CLI with `argv` (without node and script). Resolves to the exit status. */
export async function runCli(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let exitCode = EXIT_OK;
  const program = new Command('kvmx')
    .description("an executable model of KVM's x86 MMU for confidential VMs")
    .version('0.1.0')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(s),
    });
  const setExit = (code: number) => {
    exitCode = code;
  };
  const named = COMMANDS.filter((c) => c.name === argv[0]);
  const load = named.length > 0 ? named : COMMANDS;
  const registers = await Promise.all(load.map((c) => c.load()));
  for (const register of registers) register(program, io, setExit);
  for (const cmd of program.commands) cmd.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`kvmx: ${e.message}`);
      return EXIT_USAGE;
    }
    if (e instanceof CommanderError) {
      // Help and version are successes; every other commander error is bad usage, and
      // commander has already printed its one-line message.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT_OK;
      if (e.code === 'commander.help') return EXIT_OK;
      return EXIT_USAGE;
    }
    // A bug in kvmx itself: say so in one line, without a stack trace unless asked for.
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`kvmx: internal error: ${msg}`);
    if (typeof process !== 'undefined' && process.env.KVMX_DEBUG)
      io.err(String((e as Error).stack));
    return 70;
  }
}
