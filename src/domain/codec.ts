import type { PayloadCodec } from '@temporalio/common';

/** Codecs shared by every client and worker (they must agree). */
export const payloadCodecs: PayloadCodec[] = [];
