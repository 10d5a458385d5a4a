import type { Dockerd } from './dockerd.js';
import { repoRoot } from './repo-root.js';

const REPO = repoRoot();
// 40-60 s on an idle 2-core machine; many minutes when other suites load it (npm ci and tsc run inside).
const BUILD_TIMEOUT_MS = 1_200_000;

export interface BuiltImage {
  tag: string;
  buildS: number;
  sizeBytes: number;
}

/**
 * `docker build` of this repository's Dockerfile. `--network host`: there is no bridge on the
 * private daemon, and the build stage's `npm ci` reaches the npm registry through the host.
 */
export async function buildWatchdogImage(dockerd: Dockerd, tag: string, buildArgs: Record<string, string>): Promise<BuiltImage> {
  const args = Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  const startedMs = Date.now();
  const build = await dockerd.docker(['build', '--network', 'host', ...args, '-t', tag, REPO], { timeoutMs: BUILD_TIMEOUT_MS });
  const buildS = (Date.now() - startedMs) / 1000;
  if (build.code !== 0) throw new Error(`docker build failed (${build.code}):\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-2000)}`);
  const sizeBytes = Number((await dockerd.dockerOk(['image', 'inspect', '--format', '{{.Size}}', tag])).trim());
  return { tag, buildS, sizeBytes };
}

/** The figure the deploy tests print, so a slow build or a grown image shows in the test log. */
export function describeImage(image: BuiltImage): string {
  return `${image.tag}: built in ${image.buildS.toFixed(1)} s, ${(image.sizeBytes / 1e6).toFixed(1)} MB`;
}
