/** The watchdog's own settings hold secrets (API token, bot token, webhook secret): a test suite gets none of them. */
export function retestEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('WATCHDOG_')));
}
