/** What every sub-command talks through; tests swap it, the binary uses the process's own. */
export interface CliIo {
  stdout: (chunk: Buffer | string) => void;
  stderr: (chunk: Buffer | string) => void;
  env: NodeJS.ProcessEnv;
  /** Where SIGINT/SIGTERM/SIGHUP arrive (run forwards them to the tree). */
  signals: Pick<NodeJS.Process, 'on' | 'off'>;
}

// A reader that went away (`run ... --json | head -c1`) must not crash run before the tree is dead.
const ignoreEpipe = (err: NodeJS.ErrnoException): void => {
  if (err.code !== 'EPIPE') throw err;
};

function writer(stream: NodeJS.WriteStream): (chunk: Buffer | string) => void {
  return (chunk) => {
    if (stream.listenerCount('error') === 0) stream.on('error', ignoreEpipe);
    stream.write(chunk);
  };
}

/** `--help`: the usage on stdout (exit 0); an argument not in `known`: the usage error (exit 2); null: go on. */
export function helpOrUnknown(command: string, args: string[], known: string[], usage: string, io: CliIo): number | null {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(usage);
    return 0;
  }
  const unknown = args.find((a) => !known.includes(a));
  if (unknown === undefined) return null;
  io.stderr(`orch-watchdog ${command}: unknown argument ${unknown}\n\n${usage}`);
  return 2;
}

export function processIo(): CliIo {
  return { stdout: writer(process.stdout), stderr: writer(process.stderr), env: process.env, signals: process };
}
