import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { KEY_SPECS } from '../../src/config.js';

/**
 * The invariants of deploy/kubernetes/ that keep the DaemonSet a sidecar and not a root shell on
 * every node: hostPID only there, nothing privileged, every capability dropped but the three
 * run-as needs (each said why), probes on /healthz, a read-only root. No cluster runs here, so
 * the manifests are read as YAML; the PrometheusRule must hold deploy/prometheus/rules.yml.
 */

const DIR = new URL('../../deploy/kubernetes/', import.meta.url);
const SECRET_KEYS = ['WATCHDOG_API_TOKEN', 'WATCHDOG_TG_BOT_TOKEN', 'WATCHDOG_WEBHOOK_SECRET'];
// What each added capability is for; a new one must say why here and in the manifest.
const ALLOWED_CAPS: Record<string, RegExp> = { SETUID: /re-test/, SETGID: /re-test/, KILL: /signal/ };

interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  securityContext?: {
    runAsUser?: number;
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  hostPID?: boolean;
  hostNetwork?: boolean;
  hostIPC?: boolean;
  automountServiceAccountToken?: boolean;
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; hostPath?: { path: string } }[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const texts = Object.fromEntries(files.map((f) => [f, readFileSync(new URL(f, DIR), 'utf8')]));
const manifests: Manifest[] = files
  .filter((f) => f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(texts[f]!).map((d) => d.toJS() as Manifest));
const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const daemonSet = byKind('DaemonSet')[0]!;
const podSpec = (daemonSet.spec as { template: { spec: PodSpec } }).template.spec;
const podLabels = (daemonSet.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
const watchdog = podSpec.containers[0]!;

function podSpecsOf(m: Manifest): PodSpec[] {
  const template = (m.spec as { template?: { spec?: PodSpec } } | undefined)?.template;
  return template?.spec ? [template.spec] : [];
}

describe('deploy/kubernetes/ as a whole', () => {
  it('holds a Namespace, the DaemonSet, a Service, a ServiceMonitor and a PrometheusRule, all in one namespace', () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual(['DaemonSet', 'Namespace', 'PrometheusRule', 'Service', 'ServiceMonitor']);
    expect(manifests.filter((m) => m.kind !== 'Namespace').map((m) => m.metadata.namespace)).toEqual(Array(4).fill('orch-watchdog'));
  });

  it("says which Node the pod runs: the image's base, the Dockerfile's default NODE_BASE (Node 24 LTS)", () => {
    const nodeBase = /^ARG NODE_BASE=(\S+)$/m.exec(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'))?.[1];
    expect(nodeBase).toBe('node:24-slim');
    const lines = texts['daemonset.yaml']!.split('\n');
    const imageLine = lines.findIndex((l) => /^\s+image: /.test(l));
    const comment = lines.slice(0, imageLine).reverse();
    const above = comment
      .slice(
        0,
        comment.findIndex((l) => !/^\s+#/.test(l)),
      )
      .join(' ');
    expect(above).toContain(`FROM ${nodeBase}`);
    expect(above).toMatch(/Node 24 LTS/);
  });

  it('kustomization.yaml lists every manifest of the directory', () => {
    const kustomization = parseYaml(texts['kustomization.yaml']!) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
  });

  it('gives hostPID to the DaemonSet alone, and hostNetwork, hostIPC and privileged to nothing', () => {
    const pods = manifests.flatMap((m) => podSpecsOf(m).map((spec) => ({ kind: m.kind, spec })));
    expect(pods.filter((p) => p.spec.hostPID).map((p) => p.kind)).toEqual(['DaemonSet']);
    expect(pods.filter((p) => (p.spec.hostNetwork ?? false) || (p.spec.hostIPC ?? false)).map((p) => p.kind)).toEqual([]);
    const containers = pods.flatMap((p) => [...p.spec.containers, ...(p.spec.initContainers ?? [])]);
    expect(containers.filter((c) => c.securityContext?.privileged !== false).map((c) => c.name)).toEqual([]);
  });
});

describe('the DaemonSet', () => {
  const sc = watchdog.securityContext!;

  it('runs a read-only root, no privilege escalation, the runtime seccomp profile, and no service-account token', () => {
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.seccompProfile?.type).toBe('RuntimeDefault');
    expect(podSpec.automountServiceAccountToken).toBe(false);
  });

  it('drops every capability and adds back only SETUID, SETGID and KILL, each with a comment saying why', () => {
    expect(sc.capabilities?.drop).toEqual(['ALL']);
    const added = sc.capabilities?.add ?? [];
    expect(added.filter((c) => !(c in ALLOWED_CAPS))).toEqual([]);
    const text = texts['daemonset.yaml']!;
    for (const cap of added) {
      // The comment block right above the capability's list entry (or its group's) names its use.
      const above = text
        .slice(0, text.indexOf(`- ${cap}\n`))
        .split('\n')
        .slice(-4)
        .join('\n');
      expect(above, `why ${cap}?`).toMatch(new RegExp(`# .*${cap}\\b[\\s\\S]*${ALLOWED_CAPS[cap]!.source}`));
    }
    // Root only so that run-as can switch uid; with no capability that is what the three give.
    expect(sc.runAsUser).toBe(0);
  });

  it('probes /healthz (startup, liveness, readiness) on the port the server listens on', () => {
    const port = watchdog.ports?.find((p) => p.name === 'http');
    expect(port?.containerPort).toBe(8787);
    const env = Object.fromEntries((watchdog.env ?? []).map((e) => [e.name, e.value]));
    expect(env.WATCHDOG_PORT).toBe('8787');
    expect(env.WATCHDOG_HOST).toBe('0.0.0.0');
    for (const probe of [watchdog.startupProbe, watchdog.livenessProbe, watchdog.readinessProbe]) {
      expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    }
  });

  it('sets only WATCHDOG_* keys the config knows (or a secret key _FILE), and keeps the state file on the node', () => {
    const names = (watchdog.env ?? []).map((e) => e.name).filter((n) => n.startsWith('WATCHDOG_'));
    const known = new Set<string>([...KEY_SPECS.map((s) => s.key), ...SECRET_KEYS.map((k) => `${k}_FILE`)]);
    expect(names.filter((n) => !known.has(n))).toEqual([]);
    const stateFile = watchdog.env?.find((e) => e.name === 'WATCHDOG_STATE_FILE')?.value ?? '';
    const mount = watchdog.volumeMounts?.find((m) => stateFile.startsWith(`${m.mountPath}/`));
    expect(podSpec.volumes?.find((v) => v.name === mount?.name)?.hostPath?.path).toBe('/var/lib/orch-watchdog');
  });

  it('passes secrets as files, never as env values', () => {
    const inline = (watchdog.env ?? []).filter((e) => SECRET_KEYS.includes(e.name));
    expect(inline).toEqual([]);
  });
});

describe('the Service, the ServiceMonitor and the PrometheusRule', () => {
  const service = byKind('Service')[0]!;
  const monitor = byKind('ServiceMonitor')[0]!;

  it('the Service selects the pods, names the http port, and keeps each client on its own node', () => {
    const spec = service.spec as {
      selector: Record<string, string>;
      internalTrafficPolicy: string;
      ports: { name: string; targetPort: string }[];
    };
    expect(podLabels).toMatchObject(spec.selector);
    expect(spec.internalTrafficPolicy).toBe('Local');
    expect(spec.ports).toEqual([expect.objectContaining({ name: 'http', targetPort: 'http' })]);
  });

  it('the ServiceMonitor scrapes /metrics through that port, labels each target with its node, and job is the Service name', () => {
    const spec = monitor.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string; relabelings: { sourceLabels: string[]; targetLabel: string }[] }[];
    };
    expect(service.metadata.labels).toMatchObject(spec.selector.matchLabels);
    expect(spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(spec.endpoints[0]!.relabelings).toContainEqual({ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'instance' });
    // The rules select job="orch-watchdog": the Operator's job label is the Service name.
    expect(service.metadata.name).toBe('orch-watchdog');
  });

  // promtool checks that file (deploy/prometheus.ci.test.ts): equal groups need no second check here.
  it('the PrometheusRule carries deploy/prometheus/rules.yml unchanged', () => {
    const rule = byKind('PrometheusRule')[0]!;
    const shipped = parseYaml(readFileSync(new URL('../../deploy/prometheus/rules.yml', import.meta.url), 'utf8')) as { groups: unknown };
    expect(rule.spec).toEqual({ groups: shipped.groups });
  });

  it('scrape annotations on the pods, for a Prometheus without the Operator, point at the same port and path', () => {
    const annotations = (daemonSet.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata
      .annotations;
    expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8787', 'prometheus.io/path': '/metrics' });
  });
});
