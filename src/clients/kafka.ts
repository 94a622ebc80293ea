/** The one place a kafkajs client is built: brokers, SASL and TLS come from the config. */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig as KafkajsConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../config';
import type { Logger } from '../log';

export interface KafkaClientOptions {
  clientId?: string;
  logger?: Logger;
  /** Give up connecting quickly, for health probes. */
  fast?: boolean;
}

export function createKafka(config: KafkaConfig, options: KafkaClientOptions = {}): Kafka {
  const settings: KafkajsConfig = {
    clientId: options.clientId ?? config.clientId,
    brokers: config.brokers,
    ssl: tlsOptions(config),
    sasl: saslOptions(config),
    logLevel: options.logger ? KafkaLogLevel.WARN : KafkaLogLevel.NOTHING,
    logCreator: options.logger ? routeTo(options.logger) : undefined,
    connectionTimeout: options.fast ? 1_000 : 5_000,
    requestTimeout: options.fast ? 2_000 : 30_000,
    retry: options.fast ? { retries: 0 } : { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
  };
  return new Kafka(settings);
}

function tlsOptions(config: KafkaConfig): KafkajsConfig['ssl'] {
  if (!config.ssl) return undefined;
  const { caFile, certFile, keyFile, rejectUnauthorized } = config.ssl;
  return {
    rejectUnauthorized,
    ca: caFile ? [readFileSync(caFile, 'utf8')] : undefined,
    cert: certFile ? readFileSync(certFile, 'utf8') : undefined,
    key: keyFile ? readFileSync(keyFile, 'utf8') : undefined,
  };
}

function saslOptions(config: KafkaConfig): SASLOptions | undefined {
  if (!config.sasl) return undefined;
  const { mechanism, username, password } = config.sasl;
  return { mechanism, username, password } as SASLOptions;
}

/** kafkajs's own log lines, as structured lines of ours. */
function routeTo(logger: Logger) {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, timestamp: _ts, logger: _l, ...extra } = log as { message: string; timestamp?: string; logger?: string };
      if (level === KafkaLogLevel.ERROR) child.error(extra, message);
      else if (level === KafkaLogLevel.WARN) child.warn(extra, message);
      else if (level === KafkaLogLevel.INFO) child.info(extra, message);
      else child.debug(extra, message);
    };
}
