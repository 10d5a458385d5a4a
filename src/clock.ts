/** Milliseconds since the epoch; injected so cooldowns and ages are tested without sleeping. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export function isoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
