import { expect } from 'vitest';
import { NodeError } from '../../src/cold/nodes/driver.js';
import { S3Error } from '../../src/s3/s3-error.js';

/** The error `p` rejects with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** The NodeError kind `p` rejects with, or 'resolved'; any other error is rethrown. */
export async function nodeErrorKind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof NodeError) return err.kind;
    throw err;
  }
  return 'resolved';
}

/** `fn` throws an S3Error with this code and status; returns it for further checks. */
export function expectS3Error(fn: () => unknown, code: string, status: number): S3Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    const e = err as S3Error;
    expect({ code: e.code, status: e.status }).toEqual({ code, status });
    return e;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/** The kind of a NodeError (fails the test for any other error). */
export function kindOfNodeError(err: unknown): string {
  expect(err).toBeInstanceOf(NodeError);
  return (err as NodeError).kind;
}
