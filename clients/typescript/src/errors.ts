// The errors the client throws (request) or hands to a subscription's
// `error` handler. Expected failures of a mutation are NOT errors: they come
// back as data, in the payload's typed `errors: [UserError]` list.
import type { ErrorCode } from "./gql/graphql.js";

/** `extensions.code` of a GraphQL error: an ErrorCode of the schema, or
 * UNAUTHENTICATED (no valid staff token), which is not one
 * (docs/frontend.md, "Errors"). Other strings are kept as they came. */
export type ServerErrorCode =
  | ErrorCode
  | "UNAUTHENTICATED"
  // Trusted documents (docs/frontend.md): the server runs only the documents
  // of its allow-list; this build and the server's list differ.
  | "DOCUMENT_NOT_TRUSTED"
  | "PERSISTED_DOCUMENT_NOT_FOUND";

/** One entry of a GraphQL response's `errors`, as the server sends it. */
export interface GraphQLErrorEntry {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly locations?: readonly { readonly line: number; readonly column: number }[];
  readonly extensions?: {
    /** What to act on; absent for "Unexpected error." and for validation errors. */
    readonly code?: ServerErrorCode | (string & {});
    /** The argument at fault, when there is one (e.g. `after`, `lastDay`). */
    readonly field?: string;
    readonly [key: string]: unknown;
  };
}

/** Anything this client throws or reports on its own account. */
export class QPayGraphError extends Error {
  override name = "QPayGraphError";
}

/** The server answered with GraphQL errors: refused queries and
 * subscriptions, protocol errors, UNAUTHENTICATED. `data` holds whatever
 * partial data came with them (usually null). */
export class GraphQLRequestError extends QPayGraphError {
  override name = "GraphQLRequestError";
  readonly errors: readonly GraphQLErrorEntry[];
  readonly data: unknown;
  /** The HTTP status (200 for most refusals); undefined over the websocket. */
  readonly status: number | undefined;

  constructor(errors: readonly GraphQLErrorEntry[], data: unknown, status?: number) {
    const first = errors[0];
    const code = first?.extensions?.code;
    super(
      first === undefined
        ? "the GraphQL answer had neither data nor errors"
        : `${code === undefined ? "" : `${code}: `}${first.message}`,
    );
    this.errors = errors;
    this.data = data;
    this.status = status;
  }

  /** Every `extensions.code` of the errors, in order, without the missing ones. */
  get codes(): string[] {
    return this.errors.flatMap((error) => {
      const code = error.extensions?.code;
      return code === undefined ? [] : [code];
    });
  }

  /** The first error's code: what a screen decides on. */
  get code(): ServerErrorCode | (string & {}) | undefined {
    return this.errors[0]?.extensions?.code;
  }

  hasCode(code: ServerErrorCode): boolean {
    return this.codes.includes(code);
  }
}

/** An HTTP answer that is not a GraphQL response: a proxy's 502, 413 (a body
 * over 256 KiB), 429 (too many bad tokens), 503 (too many connections). */
export class HttpError extends QPayGraphError {
  override name = "HttpError";
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body.slice(0, 200)}`);
  }
}

/** The websocket closed with a code retrying cannot fix (see retry.ts), or
 * the client could not speak to it at all. */
export class SocketClosedError extends QPayGraphError {
  override name = "SocketClosedError";
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`websocket closed ${code}${reason ? `: ${reason}` : ""}`);
  }
}
