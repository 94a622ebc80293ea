/**
 * Batch identity. A batch is named by its group, topic, partition and FIRST offset only: when a
 * crash makes the bridge read a batch again with different boundaries, the same first offset
 * finds the workflow already there, whose memo says how far it reaches (see src/bridge/handoff.ts).
 * Pure and free of Node built-ins: workflow code imports it.
 */

export function batchId(groupId: string, topic: string, partition: number, firstOffset: string): string {
  return `${groupId}/${topic}/${partition}/${firstOffset}`;
}

export function batchWorkflowId(id: string): string {
  return `batch/${id}`;
}

/** What the bridge records in each batch workflow's memo (and reads back on a conflict). */
export interface BatchMemo {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  records: number;
}
