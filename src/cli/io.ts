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

export function processIo(): CliIo {
  return { stdout: writer(process.stdout), stderr: writer(process.stderr), env: process.env, signals: process };
}
