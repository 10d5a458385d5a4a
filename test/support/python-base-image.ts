import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUSYBOX_PATH } from './busybox-image.js';
import type { Dockerd } from './dockerd.js';

/**
 * A stand-in for an orchestrator's test image (python:3.x-slim plus pytest and git), because no
 * registry is reachable here: the files of Debian's python3, python3-pytest, libstdc++6,
 * util-linux and git packages as installed on this machine (dpkg's own file lists, with every installed dependency),
 * busybox-static for /bin/sh and the coreutils, and no Node at all, so an image built on it
 * proves the Dockerfile brings its own. libstdc++6 is there because every Debian-based image
 * has it (apt depends on it), and Node needs it.
 */

export const PYTHON_BASE_IMAGE = 'owd-python-base';
// util-linux is essential in every Debian-based image; its setpriv is how a re-test becomes its user.
// git: a test image carries it (the checkout is a repository); skip-when-current reads HEAD with it.
const ROOT_PACKAGES = ['python3', 'python3-pytest', 'libstdc++6', 'util-linux', 'git'];
// Installed as dependencies of the above but not needed to run pytest or `git rev-parse`; a slim image lacks
// most of them too (perl and curl serve git's scripted and http commands only).
const SKIPPED_PACKAGES = new Set(['dpkg', 'tar', 'perl-base', 'debconf', 'perl', 'liberror-perl', 'git-man', 'libcurl3-gnutls']);
const SKIPPED_PATHS = /^\/usr\/share\/(?:doc|man|info|lintian|locale)\//;

function dpkgQuery(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('dpkg-query', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout ?? '' };
}

function installedDeps(pkg: string): string[] | null {
  const r = dpkgQuery(['-W', '-f=${Status}\t${Pre-Depends}, ${Depends}', pkg]);
  const [status, deps = ''] = r.out.split('\t');
  if (!r.ok || !status?.endsWith(' installed')) return null;
  const chosen: string[] = [];
  for (const group of deps.split(',')) {
    // `a | b`: the first alternative that is installed, as dpkg itself would have satisfied it.
    const names = group
      .split('|')
      .map((alt) => alt.trim().split(/[\s(:]/)[0]!)
      .filter(Boolean);
    const installed = names.find((n) => dpkgQuery(['-W', '-f=${Status}', n]).out.endsWith(' installed'));
    if (installed) chosen.push(installed);
  }
  return chosen;
}

/** The installed packages `roots` need, with every installed dependency, minus SKIPPED_PACKAGES. */
export function packageClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const pkg = todo.pop()!;
    if (seen.has(pkg) || SKIPPED_PACKAGES.has(pkg)) continue;
    const deps = installedDeps(pkg);
    if (deps === null) {
      if (roots.includes(pkg)) throw new Error(`Debian package ${pkg} is not installed (scripts/test-ci.sh installs it)`);
      continue;
    }
    seen.add(pkg);
    todo.push(...deps);
  }
  return [...seen].sort();
}

/** Files and symlinks (never directories) the packages own, as dpkg lists them. */
function packageFiles(packages: string[]): string[] {
  const files = new Set<string>();
  for (const pkg of packages) {
    for (const path of dpkgQuery(['-L', pkg]).out.split('\n')) {
      if (!path.startsWith('/') || SKIPPED_PATHS.test(path)) continue;
      try {
        if (!lstatSync(path).isDirectory()) files.add(path);
      } catch {
        // listed but removed locally (e.g. a conffile the admin deleted)
      }
    }
  }
  return [...files].sort();
}

function copyPackageFiles(rootfs: string, files: string[]): void {
  const list = join(rootfs, '..', `files-${process.pid}.txt`);
  // Relative names, so the extraction lands in rootfs and through its own merged-/usr symlinks.
  writeFileSync(list, files.map((f) => f.slice(1)).join('\n') + '\n');
  const r = spawnSync('sh', ['-c', 'tar -C / --no-recursion -cf - -T "$1" | tar -C "$2" -xf -', 'copy', list, rootfs], {
    encoding: 'utf8',
  });
  rmSync(list, { force: true });
  if (r.status !== 0) throw new Error(`copying package files failed: ${r.stderr}`);
}

/** Imports NAME once per daemon; returns its name. */
export function importPythonBaseImage(dockerd: Dockerd, name = PYTHON_BASE_IMAGE): Promise<string> {
  return importPackageImage(dockerd, name, ROOT_PACKAGES, 'python3');
}

/**
 * Imports NAME once per daemon, made of the files of Debian's `packages` on this machine (with every
 * installed dependency) and busybox; `cmd` is its CMD. Returns its name.
 */
export async function importPackageImage(dockerd: Dockerd, name: string, packages: string[], cmd: string): Promise<string> {
  if ((await dockerd.docker(['image', 'inspect', name])).code === 0) return name;
  const rootfs = mkdtempSync(join(dockerd.dir, 'pb-'));
  try {
    mkdirSync(join(rootfs, 'usr'));
    // Debian's merged /usr: /bin, /lib, /lib64, /sbin are links into /usr, as in the real images.
    for (const dir of ['bin', 'lib', 'lib64', 'sbin']) {
      mkdirSync(join(rootfs, 'usr', dir), { recursive: true });
      symlinkSync(`usr/${dir}`, join(rootfs, dir));
    }
    for (const sub of ['etc', 'proc', 'sys', 'dev', 'root', 'home', 'var/tmp', 'usr/local/bin'])
      mkdirSync(join(rootfs, sub), { recursive: true });
    mkdirSync(join(rootfs, 'tmp'));
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    copyPackageFiles(rootfs, packageFiles(packageClosure(packages)));
    mkdirSync(join(rootfs, 'usr/local/lib/busybox'), { recursive: true });
    copyFileSync(BUSYBOX_PATH, join(rootfs, 'usr/local/lib/busybox/busybox'));
    chmodSync(join(rootfs, 'usr/local/lib/busybox/busybox'), 0o755);
    // Applets as links in /usr/local/bin, never over a file a package installed; sh and env where scripts name them.
    const install = spawnSync(
      'chroot',
      [
        rootfs,
        '/usr/local/lib/busybox/busybox',
        'sh',
        '-c',
        'for a in $(/usr/local/lib/busybox/busybox --list); do [ -e "/usr/bin/$a" ] || ln -s ../lib/busybox/busybox "/usr/local/bin/$a"; done; for a in sh env; do [ -e "/usr/bin/$a" ] || ln -s /usr/local/lib/busybox/busybox "/usr/bin/$a"; done',
      ],
      { encoding: 'utf8' },
    );
    if (install.status !== 0) throw new Error(`busybox applets failed: ${install.stderr}`);
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    writeFileSync(join(rootfs, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');

    const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const imported = await dockerd.docker(
      [
        'import',
        '--change',
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change',
        `CMD ["${cmd}"]`,
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
