import { z } from 'zod';
import {
  absPath,
  absPaths,
  boolText,
  containerNames,
  depList,
  intText,
  linearEntries,
  linearRegexList,
  listenHost,
  numText,
  optionalAbsPath,
  optionalContainerName,
  optionalUrl,
  group,
} from './parsers.js';

const server = group('server');
const orchestrator = group('orchestrator');
const host = group('host');
const peers = group('containers and dependencies');
const procScan = group('test processes (/proc scan)');

/** The keys of what the watchdog watches: server, orchestrator, host, containers and dependencies, test processes. */
export const OBSERVE_KEYS = [
  server('WATCHDOG_HOST', 'host', listenHost, '127.0.0.1', {
    doc: 'Listen address: an IPv4 or IPv6 address or a host name (one the server cannot listen on falls back to 127.0.0.1 with a warning); the image and docker-compose.yml set 0.0.0.0.',
  }),
  server('WATCHDOG_PORT', 'port', intText(0, 65_535), '8787', { doc: 'Listen port of the HTTP API and /metrics.' }),
  server('WATCHDOG_TICK_S', 'tickS', numText(0.05, 86_400), '30', {
    doc: 'Seconds between ticks; ticks never overlap; /healthz turns 503 after 3 missed ticks.',
  }),
  server('WATCHDOG_COOLDOWN_S', 'cooldownS', numText(0, 7 * 86_400), '1800', {
    doc: 'Default re-alert cooldown in seconds, so a standing problem repeats twice an hour, not every tick.',
  }),
  server('WATCHDOG_HTTP_TIMEOUT_S', 'httpTimeoutS', numText(0.05, 600), '5', {
    doc: 'Timeout in seconds for every outbound HTTP call, cut to what is left of the tick budget, so one slow peer cannot stall a tick.',
  }),
  server('WATCHDOG_STATE_FILE', 'stateFile', optionalAbsPath, '', {
    doc: "Absolute path where alert states, undelivered alerts and the merge-gate queue survive a restart; empty = memory only. Its directory must be the watchdog's own (0700): a path others can write is refused; one watchdog per file.",
  }),
  orchestrator('WATCHDOG_METRICS_URL', 'metricsUrl', optionalUrl, '', {
    doc: "The orchestrator's JSON envelope URL (user:pass@ is sent as basic auth); empty turns orch_down/agent_hung/job_failed off.",
  }),
  orchestrator('WATCHDOG_ORCH_CONTAINER', 'orchContainer', optionalContainerName, '', {
    doc: "Name of the orchestrator's Docker container when it runs in its own PID namespace: the envelope's agent pids are that namespace's and are translated to this host's (NSpid) for owners and agent protection; empty = the orchestrator shares the watchdog's PID view.",
  }),
  orchestrator('WATCHDOG_ORCH_DOWN_AFTER', 'orchDownAfter', intText(1, 1000), '3', {
    doc: 'Consecutive failed fetches before orch_down is active, so one restart does not page.',
  }),
  orchestrator('WATCHDOG_AGENT_HUNG_S', 'agentHungS', numText(1, 7 * 86_400), '900', {
    doc: "Seconds an agent's cpu_ticks may stand still before it counts as hung.",
  }),
  host('WATCHDOG_MEM_CRIT_PCT', 'memCritPct', numText(1, 100), '90', { doc: 'Host memory used % that raises host_mem.' }),
  host('WATCHDOG_DISK_CRIT_ENABLED', 'diskCritEnabled', boolText, 'false', {
    doc: 'Disk ceiling check on/off; in a container, mount the host paths you mean and list those.',
  }),
  host('WATCHDOG_DISK_CRIT_PATHS', 'diskCritPaths', absPaths, '/', {
    doc: 'Comma-separated absolute paths whose filesystems are checked.',
  }),
  host('WATCHDOG_DISK_CRIT_PCT', 'diskCritPct', numText(1, 100), '90', { doc: 'Disk used % that raises disk_crit.' }),
  peers('WATCHDOG_DOCKER_SOCK', 'dockerSock', absPath('socket path'), '/var/run/docker.sock', {
    doc: 'Docker Engine API socket; only read (GET) requests are made on it.',
  }),
  peers('WATCHDOG_CONTAINERS', 'containers', containerNames, '', {
    doc: 'Comma-separated container names to watch; empty turns the container check off.',
  }),
  peers('WATCHDOG_DEPS', 'deps', depList, '', {
    doc: 'Comma-separated name=http(s)://url dependencies to ping (user:pass@ is sent as basic auth); empty turns dep_down off.',
  }),
  peers('WATCHDOG_DEP_DOWN_AFTER', 'depDownAfter', intText(1, 1000), '2', { doc: 'Consecutive failed pings before dep_down is active.' }),
  procScan('WATCHDOG_PROC_ENABLED', 'procEnabled', boolText, 'false', {
    doc: 'Scan /proc for long-lived test processes (a pytest that outlived its run).',
  }),
  procScan('WATCHDOG_PROC_AGE_MIN', 'procAgeMin', numText(0, 525_600), '60', {
    doc: 'Minutes after which a matching process is proc_blocking.',
  }),
  // onInvalid never the default: it could widen what the reaper takes beyond what the operator wrote
  procScan('WATCHDOG_PROC_PATTERNS', 'procPatterns', linearRegexList(), 'pytest', {
    doc: 'Comma-separated linear-time regular expressions (no backreferences or lookaround) matched on the program (see WATCHDOG_PROC_MATCH); an entry that cannot run is dropped with a warning, the others stay (none left: matching and the reaper are off).',
    onInvalid: linearEntries(),
  }),
  procScan('WATCHDOG_PROC_MATCH', 'procMatch', z.enum(['program', 'cmdline'], 'expected program or cmdline'), 'program', {
    doc: "program: argv[0]'s basename, or for an interpreter (Python, or a shell running a script file) the -m module or the script's basename; cmdline: the whole command line.",
  }),
  procScan('WATCHDOG_PROC_EXCLUDE', 'procExclude', linearRegexList(), '', {
    doc: 'Comma-separated linear-time regular expressions over the whole command line; a match is never a candidate; an entry that cannot run turns matching off (dropping it would expose what it protects).',
  }),
  procScan('WATCHDOG_PROC_LEFTOVER_GRACE_S', 'procLeftoverGraceS', numText(0, 86_400), '120', {
    doc: "Seconds after a run's test process is gone before its surviving descendants are blocking.",
  }),
  procScan('WATCHDOG_PROC_COOLDOWN_S', 'procCooldownS', numText(0, 7 * 86_400), '1800', {
    doc: 'Re-alert cooldown in seconds for proc_blocking.',
  }),
  procScan('WATCHDOG_PROC_ROOT', 'procRoot', absPath('path'), '/proc', {
    doc: "Where proc data is read; with pid: host the container's /proc is the host's.",
  }),
  procScan('WATCHDOG_PROC_REAP_ENABLED', 'procReapEnabled', boolText, 'false', {
    doc: 'Opt-in: terminate orphaned matching processes older than the reap age (needs permission to signal them).',
  }),
  procScan('WATCHDOG_PROC_REAP_AGE_MIN', 'procReapAgeMin', numText(0, 525_600), '240', {
    doc: 'Minutes; the reap age, kept above WATCHDOG_PROC_AGE_MIN so someone is alerted first.',
  }),
] as const;
