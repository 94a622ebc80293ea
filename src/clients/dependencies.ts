/** The services each process of ours needs, as src/clients/availability.ts waits for them. */
import { isGrpcServiceError } from '@temporalio/client';
import type { Config } from '../config';
import { LOCAL_STACK_HINT, type Dependency } from './availability';
import { kafkaAddress, probeKafka } from './kafka';
import { probeRedis, redisAddress } from './redis';
import { probeTemporal } from './temporal';

export function kafkaDependency(config: Pick<Config, 'kafka'>): Dependency {
  return {
    name: 'kafka',
    label: 'Kafka',
    address: kafkaAddress(config.kafka),
    hint: LOCAL_STACK_HINT,
    probe: () => probeKafka(config.kafka),
    refused: (err) => causes(err).some((e) => e.name === 'KafkaJSSASLAuthenticationError'),
  };
}

export function temporalDependency(config: Pick<Config, 'temporal'>): Dependency {
  return {
    name: 'temporal',
    label: 'Temporal',
    address: config.temporal.address,
    hint: LOCAL_STACK_HINT,
    probe: () => probeTemporal(config.temporal),
    refused: (err) => causes(err).some((e) => isGrpcServiceError(e) && GRPC_REFUSALS.includes(e.code)),
  };
}

export function redisDependency(config: Pick<Config, 'redis'>): Dependency {
  return {
    name: 'redis',
    label: 'Redis',
    address: redisAddress(config.redis),
    hint: LOCAL_STACK_HINT,
    probe: () => probeRedis(config.redis),
    // Redis's error replies start with their code; ioredis gives nothing else to go on.
    refused: (err) => causes(err).some((e) => /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(e.message)),
  };
}

/** gRPC's PERMISSION_DENIED and UNAUTHENTICATED. */
const GRPC_REFUSALS = [7, 16];

function causes(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 6; depth++) {
    chain.push(e);
    e = e.cause ?? (e as { originalError?: unknown }).originalError;
  }
  return chain;
}
