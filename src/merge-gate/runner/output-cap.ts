/** A chatty suite must not exhaust memory: each stream keeps only its last ~1 MiB. */
export const DEFAULT_OUTPUT_CAP_BYTES = 1024 * 1024;

/** Keeps the last `capBytes` bytes written to it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private heldBytes = 0;
  droppedBytes = 0;

  constructor(private readonly capBytes: number = DEFAULT_OUTPUT_CAP_BYTES) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.heldBytes += chunk.length;
    while (this.chunks.length > 1 && this.heldBytes - this.chunks[0]!.length >= this.capBytes) {
      const dropped = this.chunks.shift()!;
      this.heldBytes -= dropped.length;
      this.droppedBytes += dropped.length;
    }
  }

  /** The kept tail as text, headed by a note when the start was dropped. */
  text(): string {
    let all = Buffer.concat(this.chunks, this.heldBytes);
    let dropped = this.droppedBytes;
    if (all.length > this.capBytes) {
      dropped += all.length - this.capBytes;
      all = all.subarray(all.length - this.capBytes);
    }
    const body = all.toString('utf8');
    return dropped > 0 ? `[orch-watchdog: first ${dropped} bytes dropped, last ${this.capBytes} kept]\n${body}` : body;
  }
}
