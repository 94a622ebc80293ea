/**
 * A payload codec that deflates large payloads (a batch of records is hundreds of kilobytes of
 * JSON): four times fewer bytes through gRPC and into the server's database, which is where a
 * single-node Temporal spends its time. Small payloads (memo fields, results, queries) stay
 * plain, so the Web UI and `temporal workflow query` read them as they are.
 */
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw, constants } from 'node:zlib';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const DEFLATE_ENCODING = 'binary/deflate';
const COMPRESS_FROM_BYTES = 8 * 1024;
const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export class DeflateCodec implements PayloadCodec {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p) => this.encodeOne(p)));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p) => this.decodeOne(p)));
  }

  private async encodeOne(payload: Payload): Promise<Payload> {
    if ((payload.data?.length ?? 0) < COMPRESS_FROM_BYTES) return payload;
    const original = temporal.api.common.v1.Payload.encode(payload).finish();
    const data = await deflate(original, { level: 1, strategy: constants.Z_DEFAULT_STRATEGY });
    return { metadata: { encoding: textEncoder.encode(DEFLATE_ENCODING) }, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }

  private async decodeOne(payload: Payload): Promise<Payload> {
    const encoding = payload.metadata?.encoding;
    if (!encoding || textDecoder.decode(encoding) !== DEFLATE_ENCODING) return payload;
    const original = await inflate(payload.data ?? new Uint8Array());
    return temporal.api.common.v1.Payload.decode(original) as Payload;
  }
}

/** Codecs shared by every client and worker (they must agree). */
export const payloadCodecs: PayloadCodec[] = [new DeflateCodec()];
