/**
 * Records like the original take-home's generator (mpradeep954/fetch-de-data-gen): uuid4 user
 * and device ids, app version 2.3.0, a US state locale, a random IPv4, integer epoch seconds,
 * device_type "android" or "iOS" and absent about 5% of the time; the Kafka key a fresh uuid4.
 * Plus, on request, invalid records of every kind the rules reject.
 */
import { randomUUID } from 'node:crypto';

export const US_STATES = [
  'AL', 'AK', 'AZ', 'AR', 'CA', 'CO', 'CT', 'DE', 'FL', 'GA', 'HI', 'ID', 'IL', 'IN', 'IA', 'KS', 'KY',
  'LA', 'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'MO', 'MT', 'NE', 'NV', 'NH', 'NJ', 'NM', 'NY', 'NC', 'ND',
  'OH', 'OK', 'OR', 'PA', 'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VT', 'VA', 'WA', 'WV', 'WI', 'WY',
];
const DEVICE_TYPES = ['android', 'iOS'];

export interface GeneratorOptions {
  appVersions: string[];
  invalidRatio: number;
  missingDeviceTypeRatio: number;
  random?: () => number;
  nowSeconds?: () => number;
}

export interface GeneratedRecord {
  key: string;
  value: string;
  /** True when the record breaks a rule on purpose. */
  invalid: boolean;
}

export const DEFAULT_GENERATOR_OPTIONS: GeneratorOptions = {
  appVersions: ['2.3.0'],
  invalidRatio: 0,
  missingDeviceTypeRatio: 0.05,
};

export function createGenerator(options: Partial<GeneratorOptions> = {}): () => GeneratedRecord {
  const o = { ...DEFAULT_GENERATOR_OPTIONS, ...options };
  const random = o.random ?? Math.random;
  const now = o.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const login = () => {
    const record: Record<string, unknown> = {
      user_id: randomUUID(),
      app_version: pick(o.appVersions),
      ip: `${octet(random)}.${octet(random)}.${octet(random)}.${octet(random)}`,
      locale: pick(US_STATES),
      device_id: randomUUID(),
      timestamp: now(),
    };
    if (random() >= o.missingDeviceTypeRatio) record.device_type = pick(DEVICE_TYPES);
    return record;
  };
  return () => {
    const key = randomUUID();
    if (random() < o.invalidRatio) return { key, value: pick(INVALID_KINDS)(login(), random), invalid: true };
    return { key, value: JSON.stringify(login()), invalid: false };
  };
}

function octet(random: () => number): number {
  return Math.floor(random() * 256);
}

type Corruption = (login: Record<string, unknown>, random: () => number) => string;

/** One of each way a record can be bad, so that every dead-letter reason shows up. */
const INVALID_KINDS: Corruption[] = [
  (l) => JSON.stringify(l).slice(0, -3),
  (l) => JSON.stringify([l]),
  (l) => JSON.stringify({ ...l, user_id: undefined }),
  (l) => JSON.stringify({ ...l, user_id: 12345 }),
  (l) => JSON.stringify({ ...l, app_version: 'two.three' }),
  (l) => JSON.stringify({ ...l, timestamp: undefined }),
  (l) => JSON.stringify({ ...l, timestamp: 'yesterday' }),
  (l) => JSON.stringify({ ...l, timestamp: 1.5e9 + 0.5 }),
  (l) => JSON.stringify({ ...l, ip: '300.1.2.3' }),
  (l) => JSON.stringify({ ...l, device_type: 42 }),
  () => '',
];
