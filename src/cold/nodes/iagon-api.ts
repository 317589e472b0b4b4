/*
 * The Iagon storage API v2 as this project understands it: every path, field name and answer shape the Iagon driver
 * relies on lives in this file, so the driver (iagon.ts), the HTTP client (iagon-client.ts) and the local contract
 * server (test/helpers/iagon-contract-server.ts, which implements exactly this contract) cannot drift apart.
 *
 * Confirmed by public clients of the gateway: upload fields and the `{ success, message, data }` envelope with
 * data._id, download as POST with JSON { id[, password] } answering the raw bytes, DELETE /storage/file/{id}, key
 * verification with { api_key }, listing as GET /storage/directory?parent_directory_id=..&visibility=..&listingType=index
 * answering data { directories: [{ _id, directory_name, ... }], files: [{ _id, name, file_size_byte_native, ... }] }.
 * Assumed (not seen documented): directory creation as POST /storage/directory with JSON { directory_name,
 * visibility, parent_directory_id? } answering data._id; that listings are not paginated; that error answers use the
 * usual statuses (401/403 auth, 404 missing, 413 too large, 429 throttled; mapped by http-status.ts) and that the
 * gateway honours `Expect: 100-continue`.
 */
export const IAGON_DEFAULT_BASE_URL = 'https://gw.iagon.com/api/v2';
/** Every shard is a private file; nothing Tessera stores is shared. */
export const IAGON_VISIBILITY = 'private';
export const IAGON_PATHS = {
  upload: '/storage/upload',
  download: '/storage/download',
  file: (id: string): string => `/storage/file/${encodeURIComponent(id)}`,
  directory: '/storage/directory',
  keyVerify: '/key/verify',
} as const;

/** Authentication: an API key header, or a Bearer token; key verification itself is unauthenticated. */
export const IAGON_API_KEY_HEADER = 'x-api-key';

/** multipart/form-data fields of an upload, in the order they are sent (text fields before the file). */
export interface IagonUploadFields {
  filename: string;
  visibility: string;
  directoryId: string;
  password?: string;
}
/** The multipart field that carries the file's bytes. */
export const IAGON_UPLOAD_FILE_FIELD = 'file';

export function uploadFields(fields: IagonUploadFields): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['filename', fields.filename],
    ['visibility', fields.visibility],
    ['directoryId', fields.directoryId],
  ];
  if (fields.password !== undefined) out.push(['password', fields.password]);
  return out;
}

export function downloadRequest(id: string, password: string | undefined): Record<string, string> {
  return password !== undefined ? { id, password } : { id };
}

export function listingQuery(parentId: string | undefined): Record<string, string> {
  const query: Record<string, string> = { visibility: IAGON_VISIBILITY, listingType: 'index' };
  if (parentId !== undefined) query.parent_directory_id = parentId;
  return query;
}

export function createDirectoryRequest(name: string): Record<string, string> {
  return { directory_name: name, visibility: IAGON_VISIBILITY };
}

export function keyVerifyRequest(apiKey: string): Record<string, string> {
  return { api_key: apiKey };
}

export interface IagonEnvelope<T> {
  success: boolean;
  message?: string;
  data?: T;
}
export interface IagonFileEntry {
  _id: string;
  name?: string;
  parent_directory_id?: string | null;
  /** Size of the bytes as uploaded (Iagon also reports its own encrypted size). */
  file_size_byte_native?: number;
  created_at?: string;
  updated_at?: string;
}
export interface IagonDirectoryEntry {
  _id: string;
  directory_name?: string;
  parent_directory_id?: string | null;
}
export interface IagonListing {
  directories?: IagonDirectoryEntry[];
  files?: IagonFileEntry[];
}

/** Size of a listed file as Tessera stored it. */
export function fileSize(file: IagonFileEntry): number {
  return file.file_size_byte_native ?? 0;
}

/** Last modification of a listed file (ms since epoch), when the listing says. */
export function fileMtimeMs(file: IagonFileEntry): number | undefined {
  const mtime = Date.parse(file.updated_at ?? file.created_at ?? '');
  return Number.isNaN(mtime) ? undefined : mtime;
}

/** File names go into multipart headers; keep them to a set that needs no escaping. */
const SAFE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

export function isSafeFileName(name: string): boolean {
  return SAFE_NAME.test(name);
}
