import type { ManagedProcess } from './proc';

/** One service of the local stack, as `stack:up`, `down` and `status` see it. */
export interface Service {
  name: string;
  label: string;
  /** What `up` prints: the address each endpoint answers on. */
  address: string;
  extraAddresses?: { label: string; address: string }[];
  proc: ManagedProcess;
  startTimeoutMs: number;
  isHealthy(): Promise<boolean>;
  install(): Promise<void>;
  start(): Promise<void>;
}
