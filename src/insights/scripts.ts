/**
 * The Lua scripts of the insights store, each in a `.lua` file of its own (src/insights/lua),
 * registered on a client with ioredis's `defineCommand`: ioredis then sends EVALSHA and falls back
 * to EVAL once per connection, as BullMQ does with its commands.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../clients/redis';

/** The build copies src/insights/lua next to the compiled module (src/build/post-compile.ts). */
export const LUA_DIR = join(__dirname, 'lua');

const APPLY_BATCH = 'lpApplyBatch';

export interface ScriptCommands {
  [APPLY_BATCH](numKeys: number, ...keysAndArgs: string[]): Promise<number>;
}

type WithScripts<T> = T & { [APPLY_BATCH](numKeys: number, ...keysAndArgs: string[]): T };

/** Registers the scripts on the client once; commands on it and its pipelines can then call them. */
export function withScripts<R extends RedisClient>(redis: R): R & ScriptCommands {
  if (!(APPLY_BATCH in redis)) {
    redis.defineCommand(APPLY_BATCH, { lua: readFileSync(join(LUA_DIR, 'apply-batch.lua'), 'utf8') });
  }
  return redis as R & ScriptCommands;
}

/** Queues apply-batch.lua on a pipeline of a client that has the scripts. */
export function queueApplyBatch(pipeline: ChainableCommander, keys: string[], input: unknown): void {
  (pipeline as WithScripts<ChainableCommander>)[APPLY_BATCH](keys.length, ...keys, JSON.stringify(input));
}
