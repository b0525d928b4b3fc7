// Subscriptions over graphql-ws (subprotocol graphql-transport-ws), with
// reconnect. One socket per client, opened on the first subscription and
// closed after the last one ends (graphql-ws's lazy mode); up to 10
// operations share it (the server's limit per socket).
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { createClient as createWsClient, type Client as WsClient, type SubscribePayload } from "graphql-ws";

import { operationBody } from "./documents.js";
import { GraphQLRequestError, QPayGraphError, SocketClosedError, type GraphQLErrorEntry } from "./errors.js";
import { resolveToken, type TokenSource } from "./http.js";
import { backoffDelay, closeCode, shouldReconnect, type Backoff } from "./retry.js";

export interface SocketSettings {
  readonly url: string;
  readonly token: TokenSource | undefined;
  /** A WebSocket class (e.g. `ws`'s default export on node 20, which has no global one). */
  readonly webSocketImpl: unknown;
  readonly trustedDocuments: boolean;
  readonly backoff: Backoff;
  /** Send a graphql-transport-ws ping this long after the last pong. */
  readonly keepAliveMs: number;
  /** No pong this long after a ping: the network is dead; drop the socket (4499) and reconnect. */
  readonly pongTimeoutMs: number;
}

/** How a subscription ended. `last` is the last event handed to `next`. */
export type SubscriptionEnd<TEvent> =
  /** The server completed it (paymentStatus: the intent reached a final state). */
  | { readonly kind: "completed"; readonly last: TEvent | undefined }
  /** The caller called the unsubscribe function. */
  | { readonly kind: "unsubscribed"; readonly last: TEvent | undefined }
  /** Refused by the server, or closed with a code retrying cannot fix. */
  | { readonly kind: "failed"; readonly error: QPayGraphError; readonly last: TEvent | undefined };

export interface ReconnectInfo {
  /** 0 for the first retry since the socket last worked. */
  readonly attempt: number;
  readonly delayMs: number;
  /** What ended the socket: a CloseEvent, or the socket's error event. */
  readonly cause: unknown;
}

export interface SubscriptionHandlers<TEvent> {
  next(event: TEvent): void;
  /** The server completed the subscription; no more events. */
  complete?(last: TEvent | undefined): void;
  /** It ended for good (see SubscriptionEnd "failed"); not called after unsubscribing. */
  error?(error: QPayGraphError): void;
  /** The socket is acknowledged and the subscription is being sent:
   * `isReconnect` is true after a drop (time to re-read what the socket may
   * have missed). */
  connected?(isReconnect: boolean): void;
  /** The socket dropped for a reason a new one can fix: waiting, then reconnecting. */
  reconnecting?(info: ReconnectInfo): void;
}

/** Call it to unsubscribe; `done` settles (never rejects) when the subscription ends, whichever way. */
export interface Unsubscribe<TEvent> {
  (): void;
  readonly done: Promise<SubscriptionEnd<TEvent>>;
}

/** The shared socket and whether it is acknowledged right now. */
export interface Socket {
  readonly client: WsClient;
  isConnected(): boolean;
}

/** Trusted-documents mode sends `{documentId, variables, operationName}` as
 * the subscribe payload. graphql-ws validates every outgoing message and
 * insists on a string `query`, so the payload carries `query: ""` through
 * the validation and this JSON replacer, applied after it, leaves that key
 * out of the text actually sent. */
function dropPlaceholderQuery(this: unknown, key: string, value: unknown): unknown {
  const holder: unknown = this;
  if (key === "query" && value === "" && typeof holder === "object" && holder !== null && "documentId" in holder) {
    return undefined;
  }
  return value;
}

export function openSocket(settings: SocketSettings): Socket {
  let connected = false;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  const client = createWsClient({
    url: settings.url,
    webSocketImpl: settings.webSocketImpl,
    // Staff: the token in connection_init (browsers cannot set headers on a
    // websocket). Checkout: an empty payload. Asked on every connection, so
    // a refreshed token is used by the next socket.
    connectionParams: async () => {
      const token = await resolveToken(settings.token);
      return token === undefined ? {} : { authorization: `Bearer ${token}` };
    },
    lazy: true,
    keepAlive: settings.keepAliveMs,
    // Every reconnect decision is ours (retry.ts); graphql-ws hands every
    // close to the subscription's sink.
    retryAttempts: 0,
    jsonMessageReplacer: dropPlaceholderQuery,
    on: {
      connected: () => {
        connected = true;
      },
      closed: () => {
        connected = false;
        clearTimeout(pongTimer);
      },
      // graphql-ws pings but never notices a missing pong: do it here.
      ping: (received) => {
        if (received) return;
        clearTimeout(pongTimer);
        pongTimer = setTimeout(() => client.terminate(), settings.pongTimeoutMs);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
    },
  });
  return { client, isConnected: () => connected };
}

function toError(cause: unknown): QPayGraphError {
  const code = closeCode(cause);
  if (code !== undefined) {
    const reason = typeof cause === "object" && cause !== null && "reason" in cause ? String(cause.reason) : "";
    return new SocketClosedError(code, reason);
  }
  if (Array.isArray(cause)) return new GraphQLRequestError(cause as GraphQLErrorEntry[], null);
  if (cause instanceof QPayGraphError) return cause;
  if (cause instanceof Error) return new QPayGraphError(cause.message, { cause });
  return new QPayGraphError("the websocket failed", { cause });
}

/**
 * Subscribe `document` and keep it subscribed: after a transient close,
 * wait (backoff with jitter), open a new socket and subscribe again, for as
 * long as it takes. `select` turns each result into the event handed to
 * `next`, or undefined to skip it.
 */
export function subscribe<TData, TVariables, TEvent>(
  socket: Socket,
  settings: SocketSettings,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables | undefined,
  select: (data: TData) => TEvent | undefined,
  handlers: SubscriptionHandlers<TEvent>,
): Unsubscribe<TEvent> {
  const body = operationBody(document, variables as Record<string, unknown> | undefined, settings.trustedDocuments);
  // `query: ""` is the placeholder dropPlaceholderQuery removes (trusted mode).
  const payload: SubscribePayload = { ...body, query: body.query ?? "" };

  let ended = false;
  let last: TEvent | undefined;
  let attempt = 0;
  let hadConnection = false;
  let awaitingConnection = true;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let dispose: (() => void) | undefined;
  let settle: (end: SubscriptionEnd<TEvent>) => void = () => undefined;
  const done = new Promise<SubscriptionEnd<TEvent>>((resolve) => {
    settle = resolve;
  });

  const announceConnection = (): void => {
    // Only while subscribed: not while waiting to retry (another
    // subscription may have opened the shared socket meanwhile).
    if (ended || !awaitingConnection || dispose === undefined) return;
    awaitingConnection = false;
    attempt = 0; // the socket works again: the next drop starts the backoff afresh
    handlers.connected?.(hadConnection);
    hadConnection = true;
  };
  const stopListening = socket.client.on("connected", announceConnection);

  const finish = (end: SubscriptionEnd<TEvent>): void => {
    if (ended) return;
    ended = true;
    clearTimeout(retryTimer);
    stopListening();
    dispose?.();
    settle(end);
  };

  const fail = (error: QPayGraphError): void => {
    if (ended) return;
    finish({ kind: "failed", error, last });
    handlers.error?.(error);
  };

  const start = (): void => {
    if (ended) return;
    awaitingConnection = true;
    dispose = socket.client.subscribe<TData>(payload, {
      next: (result) => {
        if (ended) return;
        const data = result.data;
        if (data === null || data === undefined) {
          // A refusal (FORBIDDEN, NOT_FOUND, INVALID_INPUT): the server
          // completes it next. Retrying would be refused again.
          fail(new GraphQLRequestError((result.errors ?? []) as GraphQLErrorEntry[], null));
          return;
        }
        announceConnection(); // an event proves the subscription is live
        const event = select(data);
        if (event === undefined) return;
        last = event;
        handlers.next(event);
      },
      error: (cause) => {
        dispose = undefined;
        if (ended) return;
        if (!shouldReconnect(cause)) {
          fail(toError(cause));
          return;
        }
        const delayMs = backoffDelay(attempt, settings.backoff);
        handlers.reconnecting?.({ attempt, delayMs, cause });
        attempt += 1;
        retryTimer = setTimeout(start, delayMs);
      },
      complete: () => {
        dispose = undefined;
        if (ended) return;
        finish({ kind: "completed", last });
        handlers.complete?.(last);
      },
    });
    // Joining a socket that is already acknowledged: no `connected` event
    // will come for this subscription.
    if (socket.isConnected()) queueMicrotask(announceConnection);
  };

  start();
  return Object.assign(() => finish({ kind: "unsubscribed", last }), { done });
}
