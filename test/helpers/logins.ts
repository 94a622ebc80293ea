/** Processed logins for unit tests: distinct users, devices and offsets, any field overridable. */
import type { ProcessedLogin } from '../../src/domain/types';

export function loginMaker(defaults: { timestamp: number; processedAt: string; ip?: string | null }): (changes?: Partial<ProcessedLogin>) => ProcessedLogin {
  let seq = 0;
  return (changes = {}) => {
    seq++;
    const timestamp = changes.timestamp ?? defaults.timestamp;
    return {
      type: 'login',
      user_id: `user-${seq}`,
      app_version: '2.3.0',
      device_type: 'ios',
      locale: 'WA',
      ip: defaults.ip ?? null,
      device_id: `device-${seq}`,
      timestamp,
      login_at: new Date(timestamp * 1000).toISOString(),
      missing_fields: [],
      source: { topic: 'user-login', partition: 0, offset: String(seq) },
      batch_id: 'batch-a',
      processed_at: defaults.processedAt,
      ...changes,
    };
  };
}
