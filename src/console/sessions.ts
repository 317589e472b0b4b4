import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  accessKey: string;
  /** Sent back in every form of the session's pages; an action without it is refused (cross-site request forgery). */
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

/** Signed-in sessions live in the gateway's memory only (a restart signs everyone out); at most this many at once. */
const MAX_SESSIONS = 1000;

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The console's sessions: an opaque random token in an HttpOnly cookie, looked up by its hash (the map holds no usable
 * token). A session ends at sign-out, `ttlMs` after sign-in, or `idleMs` after its last request.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly ttlMs: number,
    private readonly idleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(accessKey: string): { token: string; session: Session } {
    this.sweep();
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const token = randomBytes(32).toString('base64url');
    const at = this.now();
    const session: Session = { accessKey, csrf: randomBytes(24).toString('base64url'), createdAt: at, lastSeen: at };
    this.sessions.set(digest(token), session);
    return { token, session };
  }

  /** The live session of a token (and it counts as activity), or undefined for an unknown, forged or expired one. */
  get(token: string | undefined): Session | undefined {
    if (token === undefined || token === '') return undefined;
    const key = digest(token);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    const at = this.now();
    if (this.expired(s, at)) {
      this.sessions.delete(key);
      return undefined;
    }
    s.lastSeen = at;
    return s;
  }

  end(token: string | undefined): void {
    if (token !== undefined) this.sessions.delete(digest(token));
  }

  /** Every session of a user (its key was removed from the config, or it signed out everywhere). */
  endAllOf(accessKey: string): void {
    for (const [k, s] of this.sessions) if (s.accessKey === accessKey) this.sessions.delete(k);
  }

  get size(): number {
    return this.sessions.size;
  }

  private expired(s: Session, at: number): boolean {
    return at - s.createdAt >= this.ttlMs || at - s.lastSeen >= this.idleMs;
  }

  private sweep(): void {
    const at = this.now();
    for (const [k, s] of this.sessions) if (this.expired(s, at)) this.sessions.delete(k);
  }
}

/** Constant-time string equality (a secret or token compared with what was sent). */
export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}
