import type { Dockerd } from './dockerd.js';
import { importPackageImage } from './python-base-image.js';
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
 * The Dockerfile's CC_IMAGE, which builds the subreaper helper: a stand-in for node:24-slim after
 * `apt-get install gcc libc6-dev` (what the default build does), made of this machine's Debian
 * gcc and libc6-dev package files, because no registry is reachable here.
 */
export const CC_IMAGE = 'owd-cc';

/**
 * `docker build` of this repository's Dockerfile (CC_IMAGE: the stand-in above, unless given).
 * `--network host`: there is no bridge on the private daemon, and the build stage's `npm ci`
 * reaches the npm registry through the host.
 */
export async function buildWatchdogImage(dockerd: Dockerd, tag: string, buildArgs: Record<string, string>): Promise<BuiltImage> {
  const ccImage = buildArgs.CC_IMAGE ?? (await importPackageImage(dockerd, CC_IMAGE, ['gcc', 'libc6-dev'], 'sh'));
  const args = Object.entries({ CC_IMAGE: ccImage, ...buildArgs }).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
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
