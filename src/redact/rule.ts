import type { Meter } from './scan.js';

/**
 * One redaction rule: a left-to-right scan that never looks at a character more than a constant
 * number of times. `mayApply` is a cheap literal search that lets most text skip the scan.
 */
export interface Rule {
  mayApply: (text: string) => boolean;
  apply: (text: string, meter: Meter) => string;
}
