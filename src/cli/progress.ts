/** A one-line progress bar on stderr, for terminals only. */
export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private first: number | undefined;

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
    // The rate since the first update, shown after a second: a bar made late (a replay followed
    // halfway) starts from where the work was, not from zero.
    this.first ??= done;
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed >= 1 ? ` ${Math.round((done - this.first) / elapsed)}/s` : '';
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}${this.unit ? ` ${this.unit}` : ''} ${Math.round((done / this.total) * 100)}%${rate}`,
    );
  }

  done(): void {
    this.update(this.total);
    process.stderr.write('\n');
  }
}
