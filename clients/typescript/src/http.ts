// Queries and mutations over HTTP: one POST per operation (GraphQL over HTTP).
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

import { operationBody } from "./documents.js";
import { GraphQLRequestError, HttpError, type GraphQLErrorEntry } from "./errors.js";

/** Where the staff token comes from: a string, or a function asked before
 * every request and every websocket connection (so a refreshed token is used
 * from then on). Undefined: no Authorization (a checkout screen). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** The variables argument: optional when the operation needs none. */
export type VariablesArgument<TVariables> =
  Record<string, never> extends TVariables
    ? [variables?: TVariables, options?: RequestOptions]
    : [variables: TVariables, options?: RequestOptions];

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export interface HttpSettings {
  readonly url: string;
  readonly token: TokenSource | undefined;
  readonly fetch: FetchLike;
  readonly trustedDocuments: boolean;
}

export async function resolveToken(token: TokenSource | undefined): Promise<string | undefined> {
  return typeof token === "function" ? await token() : token;
}

function isGraphQLResponse(
  value: unknown,
): value is { data?: unknown; errors?: readonly GraphQLErrorEntry[] } {
  if (typeof value !== "object" || value === null) return false;
  const errors = "errors" in value ? value.errors : undefined;
  return "data" in value || (Array.isArray(errors) && errors.length > 0);
}

/** POST one operation; the typed data, or a GraphQLRequestError (any
 * `errors` in the answer) or HttpError (an answer that is not GraphQL). */
export async function request<TResult, TVariables>(
  settings: HttpSettings,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables | undefined,
  options: RequestOptions = {},
): Promise<TResult> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    // The GraphQL-over-HTTP media type first; plain JSON for older servers.
    Accept: "application/graphql-response+json, application/json",
  };
  const token = await resolveToken(settings.token);
  if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
  const body = operationBody(
    document,
    variables as Record<string, unknown> | undefined,
    settings.trustedDocuments,
  );
  const response = await settings.fetch(settings.url, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const text = await response.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new HttpError(response.status, text);
  }
  if (!isGraphQLResponse(answer)) throw new HttpError(response.status, text);
  // Any error fails the call, even with partial data: a staff screen selects
  // no field it may not read, so an error here is never routine. The partial
  // data stays on the error.
  if (answer.errors !== undefined && answer.errors.length > 0) {
    throw new GraphQLRequestError(answer.errors, answer.data ?? null, response.status);
  }
  if (answer.data === null || answer.data === undefined) {
    throw new GraphQLRequestError([], null, response.status);
  }
  return answer.data as TResult;
}
