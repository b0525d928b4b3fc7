// @qpay-graph/client: a thin typed client of qpay-graph.
//
//   const client = createClient({ url: "https://pay.example/graphql", token });
//   const { createInvoice } = await client.request(CreateInvoiceDocument, { input });
//   const stop = client.watchPaymentStatus({ intentId, clientSecret }, { next: render });
//
// Documents and their types are generated from schema.graphql and
// src/operations/ (`npm run codegen`, into src/gql/).
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

import {
  CheckoutPaymentStatusDocument,
  PaymentEventsDocument,
  type CheckoutPaymentStatusSubscription,
  type PaymentEventsSubscription,
} from "./gql/graphql.js";
import { request, type FetchLike, type RequestOptions, type TokenSource, type VariablesArgument } from "./http.js";
import { DEFAULT_BACKOFF, type Backoff } from "./retry.js";
import {
  openSocket,
  subscribe,
  type Socket,
  type SocketSettings,
  type SubscriptionHandlers,
  type Unsubscribe,
} from "./subscriptions.js";

export * from "./gql/graphql.js";
export { GraphQLRequestError, HttpError, QPayGraphError, SocketClosedError } from "./errors.js";
export type { GraphQLErrorEntry, ServerErrorCode } from "./errors.js";
export { documentId } from "./documents.js";
export { backoffDelay, describeCloseCode, shouldReconnect, DEFAULT_BACKOFF } from "./retry.js";
export type { Backoff } from "./retry.js";
export type { FetchLike, RequestOptions, TokenSource, VariablesArgument } from "./http.js";
export type { ReconnectInfo, SubscriptionEnd, SubscriptionHandlers, Unsubscribe } from "./subscriptions.js";

/** One state of the watched intent (PaymentStatusEvent, checkout selection). */
export type PaymentStatusEvent = CheckoutPaymentStatusSubscription["paymentStatus"];
/** One entry of the staff feed (PaymentEvent). */
export type PaymentFeedEvent = PaymentEventsSubscription["paymentEvents"];

export interface ClientOptions {
  /** The GraphQL endpoint, e.g. "https://pay.example.mn/graphql". */
  readonly url: string;
  /** The staff token (or a function giving the current one); none for a checkout screen. */
  readonly token?: TokenSource | undefined;
  /** Default: the global fetch (node 18+, browsers). */
  readonly fetch?: FetchLike | undefined;
  /** A WebSocket class; default: the global WebSocket. Node 20 has none: pass `ws`'s default export. */
  readonly webSocketImpl?: unknown;
  /** Default: `url` with http(s) turned into ws(s). */
  readonly wsUrl?: string | undefined;
  /** Send only each document's hash (`documentId: "sha256:<hex>"`), never
   * its text: for a server that runs only the documents of
   * persisted-documents.json (GRAPHQL_TRUSTED_DOCUMENTS). */
  readonly trustedDocuments?: boolean | undefined;
  /** Reconnect waits; default 0.5 s doubling to 10 s, with jitter. */
  readonly backoff?: Backoff | undefined;
  /** Ping interval on the websocket, default 15 s (as the checkout page). */
  readonly keepAliveMs?: number | undefined;
  /** Reconnect when a ping gets no pong within this, default 10 s. */
  readonly pongTimeoutMs?: number | undefined;
}

export interface QPayGraphClient {
  /** Run a query or mutation over HTTP. Resolves to its typed data; rejects
   * with GraphQLRequestError (GraphQL errors: read `.code`), HttpError (an
   * answer that is not GraphQL) or fetch's own error (no connection). A
   * mutation's expected failures are data: its payload's `errors`. */
  request<TResult, TVariables>(
    document: TypedDocumentNode<TResult, TVariables>,
    ...args: VariablesArgument<TVariables>
  ): Promise<TResult>;

  /** Watch one intent as the checkout screen does. The first event is its
   * current state; then only newer versions (an event is never repeated,
   * even after a reconnect). Completes after a final state: `done` then
   * settles with kind "completed" and the last event. With a staff token
   * `clientSecret` may be left out. */
  watchPaymentStatus(
    variables: { readonly intentId: string; readonly clientSecret?: string | null },
    handlers: SubscriptionHandlers<PaymentStatusEvent>,
  ): Unsubscribe<PaymentStatusEvent>;

  /** Follow the staff feed (staff token required). No snapshot and it never
   * completes: read the screen's data first, and again whenever
   * `connected(true)` says the socket came back (entries committed while it
   * was down are not sent later). */
  followPaymentEvents(handlers: SubscriptionHandlers<PaymentFeedEvent>): Unsubscribe<PaymentFeedEvent>;

  /** Close the socket (if one is open); subscriptions still running end as "failed". */
  dispose(): Promise<void>;
}

function defaultWsUrl(url: string): string {
  return url.replace(/^http(s?):/i, (_, secure: string) => `ws${secure}:`);
}

export function createClient(options: ClientOptions): QPayGraphClient {
  const http = {
    url: options.url,
    token: options.token,
    fetch: options.fetch ?? ((input: string, init: RequestInit) => fetch(input, init)),
    trustedDocuments: options.trustedDocuments ?? false,
  };
  const socketSettings: SocketSettings = {
    url: options.wsUrl ?? defaultWsUrl(options.url),
    token: options.token,
    webSocketImpl: options.webSocketImpl,
    trustedDocuments: http.trustedDocuments,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    keepAliveMs: options.keepAliveMs ?? 15_000,
    pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
  };
  // Opened on the first subscription: a client used only for HTTP needs no
  // WebSocket implementation.
  let socket: Socket | undefined;
  const theSocket = (): Socket => (socket ??= openSocket(socketSettings));

  return {
    request<TResult, TVariables>(
      document: TypedDocumentNode<TResult, TVariables>,
      ...[variables, requestOptions]: VariablesArgument<TVariables>
    ): Promise<TResult> {
      return request(http, document, variables, requestOptions as RequestOptions | undefined);
    },

    watchPaymentStatus(variables, handlers) {
      let version = -1;
      return subscribe(
        theSocket(),
        socketSettings,
        CheckoutPaymentStatusDocument,
        { intentId: variables.intentId, clientSecret: variables.clientSecret ?? null },
        (data) => {
          // Each event is the whole state: keep only newer versions (the
          // snapshot after a reconnect repeats the version already shown).
          if (data.paymentStatus.version <= version) return undefined;
          version = data.paymentStatus.version;
          return data.paymentStatus;
        },
        handlers,
      );
    },

    followPaymentEvents(handlers) {
      return subscribe(theSocket(), socketSettings, PaymentEventsDocument, undefined, (data) => data.paymentEvents, handlers);
    },

    async dispose() {
      await socket?.client.dispose();
      socket = undefined;
    },
  };
}
