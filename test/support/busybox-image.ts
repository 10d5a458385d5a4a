import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dockerd } from './dockerd.js';

/** Debian's busybox-static: one static binary, so the image needs no libc and no pull. */
export const BUSYBOX_PATH = '/bin/busybox';

/**
 * Imports a one-layer image NAME whose rootfs is busybox-static plus its applet symlinks
 * (`busybox --install -s`), so `sh`, `sleep`, `wget`, `nc` … exist inside. Idempotent per daemon.
 */
export async function importBusyboxImage(dockerd: Dockerd, name = 'owd-busybox'): Promise<string> {
  if ((await dockerd.docker(['image', 'inspect', name])).code === 0) return name;
  if (!existsSync(BUSYBOX_PATH)) {
    throw new Error(`${BUSYBOX_PATH} is missing: install Debian's busybox-static (scripts/test-ci.sh does)`);
  }
  const rootfs = mkdtempSync(join(dockerd.dir, 'rootfs-'));
  try {
    for (const sub of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(join(rootfs, sub), { recursive: true });
    copyFileSync(BUSYBOX_PATH, join(rootfs, 'bin', 'busybox'));
    // Run inside a chroot so the symlinks point at /bin/busybox of the image, not of the host.
    const install = spawnSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin'], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`busybox --install failed: ${install.stderr}`);
    const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const imported = await dockerd.docker(['import', '-', name], { stdin: tar.stdout, timeoutMs: 60_000 });
    if (imported.code !== 0) throw new Error(`docker import ${name} failed: ${imported.stderr.trim()}`);
    return name;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}
