/** A one-line progress bar on stderr, for terminals only. */
export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;

  /** `unit` names what is counted ("DLQ offsets"), shown after the counts. */
  constructor(
    private readonly total: number,
    private readonly unit = '',
  ) {}

  update(done: number): void {
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    const rate = done / Math.max((now - this.started) / 1000, 0.001);
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}${this.unit ? ` ${this.unit}` : ''} ${Math.round((done / this.total) * 100)}% ${Math.round(rate)}/s`,
    );
  }

  done(): void {
    this.update(this.total);
    process.stderr.write('\n');
  }
}
