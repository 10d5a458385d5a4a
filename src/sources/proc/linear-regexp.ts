import { setFlagsFromString } from 'node:v8';

let isEnabled = false;

/**
 * Turns on V8's linear-time regexp engine (the `l` flag) for the whole process, workers
 * included. A local stand-in until src/safe-regex.ts (branch config) owns pattern compiling.
 */
export function enableLinearRegExp(): void {
  if (isEnabled) return;
  setFlagsFromString('--enable-experimental-regexp-engine');
  isEnabled = true;
}
