// Docker HEALTHCHECK: exit 0 when GET /healthz answers 2xx (503 until the first tick finished, covered by the
// Dockerfile's --start-period, and when ticks went stale).
// Node only, because the slim runtime image has no curl or wget.
const port = process.env.WATCHDOG_PORT || '8787';
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
