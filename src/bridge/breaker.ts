/**
 * The bridge's circuit breaker on dead letters (DLQ_MAX_RATIO, DLQ_MIN_RECORDS; off unless
 * DLQ_MAX_RATIO is set). Pure: it is fed the results of the bridge's batches (records, dead
 * letters) as its lanes receive them, and says whether the input must pause. A producer that
 * starts shipping broken data then waits in Kafka rather than filling the DLQ.
 *
 * The window is the most recent batches that together hold at least DLQ_MIN_RECORDS records
 * (the oldest batch is dropped while the rest still hold that many), so a burst of a few bad
 * records never trips it and a long healthy history never hides a flood. It trips when the
 * window's dead letters exceed DLQ_MAX_RATIO of its records.
 *
 * Open, it stays open until resumed by hand: resuming empties the window and lets the records
 * that wait at that moment (the backlog the pause built up) through without counting them, so
 * that the flood that tripped it is handed off (and dead-lettered, or replayed after a fix)
 * instead of tripping it again at once; it watches what comes after.
 */

export interface BreakerSettings {
  /** Dead letters / records above which it trips, in (0, 1). */
  maxRatio: number;
  /** Records the window holds at least before it may trip. */
  minRecords: number;
}

export interface BatchCounts {
  records: number;
  deadLetters: number;
}

export interface BreakerState {
  enabled: boolean;
  open: boolean;
  settings: BreakerSettings | null;
  /** The window now: the last batches holding at least minRecords records (fewer before there were that many). */
  window: BatchCounts;
  /** When it tripped, and the window that tripped it; null while closed. */
  tripped: { at: string; window: BatchCounts; sentence: string } | null;
  /** Records still let through uncounted since the last resume. */
  grace: number;
  /** The last resume: when, and how. */
  resumed: { at: string; by: string } | null;
}

export class CircuitBreaker {
  private batches: BatchCounts[] = [];
  private records = 0;
  private deadLetters = 0;
  private grace = 0;
  private tripped: BreakerState['tripped'] = null;
  private resumed: BreakerState['resumed'] = null;

  constructor(
    readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
  ) {}

  get open(): boolean {
    return this.tripped !== null;
  }

  /**
   * One batch's result. Returns true when it tripped the breaker. While open, results (of the
   * batches that were in flight when it tripped) change nothing.
   */
  record(batch: BatchCounts): boolean {
    if (this.open) return false;
    if (this.grace > 0) {
      this.grace = Math.max(0, this.grace - batch.records);
      return false;
    }
    if (batch.records <= 0) return false;
    this.batches.push({ records: batch.records, deadLetters: batch.deadLetters });
    this.records += batch.records;
    this.deadLetters += batch.deadLetters;
    while (this.batches.length > 1 && this.records - this.batches[0]!.records >= this.settings.minRecords) {
      const oldest = this.batches.shift()!;
      this.records -= oldest.records;
      this.deadLetters -= oldest.deadLetters;
    }
    if (this.records < this.settings.minRecords || this.deadLetters <= this.settings.maxRatio * this.records) return false;
    const window = { records: this.records, deadLetters: this.deadLetters };
    this.tripped = { at: new Date(this.now()).toISOString(), window, sentence: trippedSentence(window, this.settings) };
    return true;
  }

  /**
   * Closes it again. `waiting` records (what waits in Kafka now) go through uncounted; the window
   * starts empty. Returns false when it was not open.
   */
  resume(waiting: number, by: string): boolean {
    if (!this.open) return false;
    this.tripped = null;
    this.batches = [];
    this.records = 0;
    this.deadLetters = 0;
    this.grace = Math.max(0, waiting);
    this.resumed = { at: new Date(this.now()).toISOString(), by };
    return true;
  }

  state(): BreakerState {
    return {
      enabled: true,
      open: this.open,
      settings: this.settings,
      window: { records: this.records, deadLetters: this.deadLetters },
      tripped: this.tripped,
      grace: this.grace,
      resumed: this.resumed,
    };
  }
}

/** The state of a bridge without a breaker (DLQ_MAX_RATIO unset). */
export const BREAKER_OFF: BreakerState = { enabled: false, open: false, settings: null, window: { records: 0, deadLetters: 0 }, tripped: null, grace: 0, resumed: null };

/** What tripped it, in the words of the settings. */
export function trippedSentence(window: BatchCounts, settings: BreakerSettings): string {
  const percent = ((100 * window.deadLetters) / window.records).toFixed(1);
  return `${window.deadLetters} of the last ${window.records} records (${percent}%) were dead-lettered, more than DLQ_MAX_RATIO=${settings.maxRatio} of at least DLQ_MIN_RECORDS=${settings.minRecords}`;
}
