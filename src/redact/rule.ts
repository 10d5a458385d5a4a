import type { Meter } from './scan.js';

/** A linear left-to-right scan; `mayApply` is a cheap literal search that lets most text skip it. */
export interface Rule {
  mayApply: (text: string) => boolean;
  apply: (text: string, meter: Meter) => string;
}
