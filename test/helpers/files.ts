import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

/** Every regular file under `root` (absolute paths, sorted); [] when root does not exist. */
export async function walkFiles(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true, recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
}

/** Inverts one byte of a file in place (a corrupt shard, a tampered blob). */
export async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] ?? 0) ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** The regular files under `root` as paths relative to it (sorted); [] when root does not exist. */
export async function filesUnder(root: string): Promise<string[]> {
  return (await walkFiles(root)).map((f) => path.relative(root, f));
}
