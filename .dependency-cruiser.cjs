// The layer order (README "Where things live"), checked by `npm run depcruise` (part of `npm run lint`):
//   routes/ -> src/app.ts, src/app-context.ts, src/http-server.ts -> src/{watchdog,sources,merge-gate,notify,cli,state}/
//   -> src/runner/ -> src/proc/ -> the ground floor (compile-cache, config, metrics, redact and its rules, clock, http, i18n, logger,
//   safe-regex, version, worker-module).
// Type-only imports count (tsPreCompilationDeps): a type is as much a dependency as a value.
// Test code (test/, scripts/, bench/) may import anything in src/; nothing in src/ or routes/ imports it.

const GROUND =
  '^src/(config(\\.ts$|-[^/]+\\.ts$|/)|redact/|(compile-cache|metrics|redact|clock|http|i18n|logger|safe-regex|version|worker-module)\\.ts$)';
const RUNNER = '^src/runner/';
const PROC = '^src/proc/';
const MIDDLE = '^src/(watchdog|sources|merge-gate|notify|cli|state)/';
const APP = '^src/(app|app-context|http-server)\\.ts$';
const PRODUCT = '^(src|routes)/';
const SERVER = '^src/server(-main)?\\.ts$';
const PLACED = [GROUND, PROC, RUNNER, MIDDLE, APP, SERVER];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle means two modules are one idea, or one of them holds the wrong half.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports (and that imports nothing) is dead code or a missing wire.',
      from: { orphan: true, path: PRODUCT },
      to: {},
    },
    {
      name: 'unplaced-src-module',
      severity: 'error',
      comment: 'Every module in src/ belongs to a layer; a new top-level file or folder gets a place in this config first.',
      from: { path: '^src/', pathNot: PLACED },
      to: {},
    },
    {
      name: 'to-unplaced-src-module',
      severity: 'error',
      comment: 'Every module in src/ belongs to a layer (this catches one that imports nothing; no-orphans the rest).',
      from: {},
      to: { path: '^src/', pathNot: PLACED },
    },
    {
      name: 'routes-only-from-app',
      severity: 'error',
      comment: 'Route plugins are registered in one place, src/app.ts; everything else reaches them over HTTP.',
      from: { path: '^src/', pathNot: '^src/app\\.ts$' },
      to: { path: '^routes/' },
    },
    {
      name: 'app-only-from-server',
      severity: 'error',
      comment: 'buildApp is for src/server-main.ts (and tests, scripts): routes and services get what they need through AppContext.',
      from: { path: PRODUCT, pathNot: '^src/server-main\\.ts$' },
      to: { path: '^src/app\\.ts$' },
    },
    {
      name: 'nothing-imports-server',
      severity: 'error',
      comment:
        'src/server.ts (the entry) and src/server-main.ts listen; importing either would start a server. Only the entry loads server-main.',
      from: { path: PRODUCT, pathNot: '^src/server\\.ts$' },
      to: { path: SERVER },
    },
    {
      name: 'middle-not-up',
      severity: 'error',
      comment: 'watchdog, sources, merge-gate, notify, cli and state are wired by the app; they never import it or a route.',
      from: { path: MIDDLE },
      to: { path: [APP, SERVER, '^routes/'] },
    },
    {
      name: 'cli-is-an-entry',
      severity: 'error',
      comment: 'The CLI sub-commands are entry points (bin/orch-watchdog.js); the service code they call never imports them.',
      from: { path: PRODUCT, pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'watchdog-owns-its-vocabulary',
      severity: 'error',
      comment: 'Sources, the merge gate and notifiers speak the watchdog vocabulary, never the reverse.',
      from: { path: '^src/watchdog/' },
      to: { path: '^src/(sources|merge-gate|notify|cli|state)/' },
    },
    {
      name: 'notify-knows-alerts-only',
      severity: 'error',
      comment: 'A notifier delivers AlertEvents; where an alert came from (a source, the merge gate) is not its business.',
      from: { path: '^src/notify/' },
      to: { path: '^src/(sources|merge-gate)/' },
    },
    {
      name: 'sources-not-merge-gate',
      severity: 'error',
      comment: 'Both use src/proc/; whatever else they share, the app wires.',
      from: { path: '^src/sources/' },
      to: { path: '^src/merge-gate/' },
    },
    {
      name: 'merge-gate-not-sources',
      severity: 'error',
      comment: 'Both use src/proc/; whatever else they share, the app wires.',
      from: { path: '^src/merge-gate/' },
      to: { path: '^src/sources/' },
    },
    {
      name: 'runner-below-its-users',
      comment: 'The runner (run a command, kill its whole tree) serves the merge gate and the `run` CLI; it knows neither.',
      from: { path: RUNNER },
      to: { path: PRODUCT, pathNot: [RUNNER, PROC, GROUND] },
    },
    {
      name: 'proc-below-its-users',
      severity: 'error',
      comment: 'The /proc library serves the scanner and the merge gate; it knows neither.',
      from: { path: PROC },
      to: { path: PRODUCT, pathNot: [PROC, GROUND] },
    },
    {
      name: 'ground-floor-imports-only-ground-floor',
      severity: 'error',
      comment: 'config, metrics, redact, clock, http, i18n, logger and safe-regex are the bottom: they import nothing above them.',
      from: { path: GROUND },
      to: { path: PRODUCT, pathNot: GROUND },
    },
    {
      name: 'product-not-to-test-code',
      severity: 'error',
      comment: 'Production code never reaches into test/, scripts/ or bench/.',
      from: { path: PRODUCT },
      to: { path: '^(test|scripts|bench)/' },
    },
    {
      name: 'not-to-dev-dep',
      severity: 'error',
      comment: 'The image prunes devDependencies (npm prune --omit=dev): src/ and routes/ may use runtime dependencies only.',
      from: { path: PRODUCT },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-non-package-json',
      severity: 'error',
      comment: 'A package that is not in package.json works here by accident (hoisting) and fails on a fresh install.',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve fails at run time.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|coverage|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: { text: { highlightFocused: true } },
  },
};
