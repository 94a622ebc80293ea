import { isGrpcServiceError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import type { Logger } from '../log';

const INDEXED_VALUE_TYPE = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
} as const;

/** gRPC's status code ALREADY_EXISTS. */
const GRPC_ALREADY_EXISTS = 6;

/** Registers the batch search attributes that the namespace lacks (idempotent). */
export async function ensureSearchAttributes(client: Client, namespace: string, logger: Logger): Promise<void> {
  const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = ALL_SEARCH_ATTRIBUTES.filter((key) => !(customAttributes && key.name in customAttributes));
  if (missing.length === 0) return;
  const searchAttributes = Object.fromEntries(missing.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type as keyof typeof INDEXED_VALUE_TYPE]]));
  try {
    await client.connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
    logger.info({ added: Object.keys(searchAttributes) }, 'Registered search attributes');
  } catch (err) {
    // Two workers starting at once both try; the loser finds them there.
    if (!(isGrpcServiceError(err) && err.code === GRPC_ALREADY_EXISTS)) throw err;
  }
}
