// When a subscription reconnects, and how long it waits first.
//
// graphql-ws is told never to retry by itself (retryAttempts: 0): every
// close reaches subscriptions.ts, which asks shouldReconnect() here. One
// policy, per close code, readable in one place.

/** Close codes after which a new socket can succeed: the network or the
 * server went away and will come back. Each subscription then reconnects
 * forever, with backoff, and takes the first event after it as the truth
 * (paymentStatus sends a snapshot first; paymentEvents must be re-read). */
const TRANSIENT = new Map<number, string>([
  [1001, "the server is shutting down (a deploy or restart)"],
  [1005, "closed without a status: the connection dropped"],
  [1006, "abnormal closure: no connection, a dropped one, or a refused handshake (HTTP 403)"],
  [1011, "the server's keepalive ping went unanswered: the network was dead"],
  [1012, "service restart"],
  [1013, "try again later"],
  [1014, "a proxy got no good answer from the server"],
  [4408, "no connection_init in time, or the socket sat idle: a new socket starts afresh"],
  [4499, "terminated by this client because no pong came: the network is dead"],
  [4500, "an internal error on the server; it may not recur"],
  [4504, "no connection_ack in time"],
]);

/** Close codes that say the same request will fail again: reconnecting
 * would only hammer the server. The subscription ends with a
 * SocketClosedError, and the application decides (docs/frontend.md,
 * "Websocket close codes"). */
const FATAL = new Map<number, string>([
  [1000, "a normal close: nothing to recover"],
  [1002, "protocol error"],
  [1003, "unsupported data"],
  [1007, "invalid payload data"],
  [1008, "policy violation"],
  [1009, "a message over 64 KiB: the same document would be refused again (a bug)"],
  [1010, "a required extension is missing"],
  [4004, "the server's answer broke the protocol (graphql-ws closed it)"],
  [4005, "this client failed internally (e.g. the token function threw)"],
  [4400, "a malformed message or an unparsable document: the same message fails again"],
  [4401, "subscribe before connection_ack: a client bug"],
  // Never retried with the same token: a new socket would send it again and
  // be closed again (and count toward the 30-a-minute bad-token limit). Get a
  // fresh token (TokenSource can be a function), then subscribe again.
  [4403, "the staff token was rejected or has expired"],
  [4406, "the subprotocol was not graphql-transport-ws: a configuration error"],
  [4409, "an operation id already in use: a client bug (graphql-ws makes a new one per operation)"],
  // A second connection_init is a bug; too many bad tokens blocks the
  // address for the rest of the minute, and retrying keeps it blocked.
  [4429, "throttled: too many bad tokens from this address, or a second connection_init"],
]);

/** The close code of a CloseEvent-like value (ws's CloseEvent, a browser's,
 * or graphql-ws's TerminatedCloseEvent); undefined for anything else. */
export function closeCode(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (!("code" in value) || !("reason" in value)) return undefined;
  return typeof value.code === "number" ? value.code : undefined;
}

/** Whether to open a new socket after `cause` ended a subscription. */
export function shouldReconnect(cause: unknown): boolean {
  const code = closeCode(cause);
  if (code !== undefined) {
    // A code in neither list is none the service sends: not knowing that a
    // retry can help, the subscription ends and reports the code.
    return TRANSIENT.has(code);
  }
  // A list of GraphQL errors (an `error` message): the server refused the
  // operation itself (FORBIDDEN, the 11th operation on a socket, ...).
  if (Array.isArray(cause)) return false;
  // An Error is thrown by this process: graphql-ws refusing a message, the
  // token function, a bad URL. Retrying repeats it.
  if (cause instanceof Error) return false;
  // Anything else is the socket's `error` event (an Event, not an Error):
  // the connection failed (refused, reset, DNS). The network can come back.
  return true;
}

/** Why a close code is (not) retried, for logs; undefined for codes in neither list. */
export function describeCloseCode(code: number): string | undefined {
  return TRANSIENT.get(code) ?? FATAL.get(code);
}

export interface Backoff {
  /** First wait, in ms (doubled per failed attempt). */
  readonly initialMs: number;
  /** The longest wait, in ms. */
  readonly maxMs: number;
}

/** The same numbers as the checkout page: 0.5 s doubling to 10 s. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 10_000 };

/** The wait before reconnect attempt `attempt` (0 first): capped exponential,
 * with jitter between half and all of it, so the sockets a server restart
 * dropped do not all come back in the same instant. */
export function backoffDelay(
  attempt: number,
  backoff: Backoff = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
