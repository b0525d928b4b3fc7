// The client on its own, no service: what goes over the wire (text or hash),
// the errors, the reconnect policy, and a fake graphql-transport-ws server
// that drops and refuses sockets. Fast; run by `npm test` and by
// tests/e2e/test_typescript_client.py.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import WebSocket, { WebSocketServer } from "ws";

import {
  backoffDelay,
  createClient,
  CreateInvoiceDocument,
  GraphQLRequestError,
  HttpError,
  PaymentMethodsDocument,
  shouldReconnect,
  SocketClosedError,
  type FetchLike,
  type PaymentStatusEvent,
} from "../src/index.js";

const persisted = JSON.parse(
  readFileSync(new URL("../../src/gql/persisted-documents.json", import.meta.url), "utf8"),
) as Record<string, string>;

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** A fetch that records the request and answers `status` with `text`. */
function fakeFetch(status: number, text: string, sent: Sent[]): FetchLike {
  return async (url, init) => {
    sent.push({
      url,
      headers: init.headers as Record<string, string>,
      body: JSON.parse(String(init.body)) as Record<string, unknown>,
    });
    return new Response(text, { status, headers: { "Content-Type": "application/graphql-response+json" } });
  };
}

const INVOICE = { invoice: null, errors: [{ code: "INVALID_AMOUNT", message: "no", field: "input.total" }] };

describe("request over HTTP", () => {
  test("sends the document text, the variables and the staff token", async () => {
    const sent: Sent[] = [];
    const client = createClient({
      url: "http://service/graphql",
      token: async () => "staff-jwt",
      fetch: fakeFetch(200, JSON.stringify({ data: { createInvoice: INVOICE } }), sent),
    });
    const input = { total: "0", idempotencyKey: "k1" };
    const answer = await client.request(CreateInvoiceDocument, { input });

    // A payload's UserErrors are data, typed.
    assert.equal(answer.createInvoice.errors[0]?.code, "INVALID_AMOUNT");
    const [request] = sent;
    assert.ok(request);
    assert.equal(request.url, "http://service/graphql");
    assert.equal(request.headers["Authorization"], "Bearer staff-jwt");
    assert.equal(request.headers["Content-Type"], "application/json");
    assert.equal(request.headers["Accept"], "application/graphql-response+json, application/json");
    assert.deepEqual(Object.keys(request.body).sort(), ["operationName", "query", "variables"]);
    assert.equal(request.body["operationName"], "CreateInvoice");
    assert.deepEqual(request.body["variables"], { input });
    assert.match(String(request.body["query"]), /^mutation CreateInvoice\(\$input: CreateInvoiceInput!\)/);
    assert.match(String(request.body["query"]), /fragment InvoiceSummary on Invoice/);
  });

  test("in trusted-documents mode sends only the hash persisted-documents.json lists", async () => {
    const sent: Sent[] = [];
    const client = createClient({
      url: "http://service/graphql",
      trustedDocuments: true,
      fetch: fakeFetch(200, JSON.stringify({ data: { paymentMethods: [] } }), sent),
    });
    await client.request(PaymentMethodsDocument);

    const body = sent[0]?.body ?? {};
    assert.deepEqual(Object.keys(body).sort(), ["documentId", "operationName"]);
    assert.equal(sent[0]?.headers["Authorization"], undefined);
    const id = String(body["documentId"]);
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const text = persisted[id.slice("sha256:".length)];
    assert.ok(text, `${id} is not in persisted-documents.json`);
    assert.match(text, /^query PaymentMethods \{/);
    // The key is the sha256 of the text the server will run.
    assert.equal(createHash("sha256").update(text).digest("hex"), id.slice("sha256:".length));
  });

  test("throws GraphQL errors with their extensions.code, and HTTP failures as HttpError", async () => {
    const refusal = { data: null, errors: [{ message: "a valid staff token is required", extensions: { code: "UNAUTHENTICATED" } }] };
    const refused = createClient({ url: "http://service/graphql", fetch: fakeFetch(200, JSON.stringify(refusal), []) });
    const error = await refused.request(PaymentMethodsDocument).then(
      () => assert.fail("no error"),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof GraphQLRequestError);
    assert.equal(error.code, "UNAUTHENTICATED");
    assert.deepEqual(error.codes, ["UNAUTHENTICATED"]);
    assert.equal(error.status, 200);

    const throttled = createClient({ url: "http://service/graphql", fetch: fakeFetch(429, "too many failed logins", []) });
    await assert.rejects(throttled.request(PaymentMethodsDocument), (thrown: unknown) => thrown instanceof HttpError && thrown.status === 429);
  });

  test("types the variables", () => {
    const client = createClient({ url: "http://service/graphql", fetch: fakeFetch(200, "{}", []) });
    // Compile-time only (never called): tsc --noEmit fails if these compile.
    const unused = (): void => {
      // @ts-expect-error createInvoice needs its input
      void client.request(CreateInvoiceDocument);
      // @ts-expect-error a Decimal is a string, never a number
      void client.request(CreateInvoiceDocument, { input: { total: 15000 } });
      void client.request(PaymentMethodsDocument); // no variables: none needed
    };
    assert.equal(typeof unused, "function");
  });
});

describe("reconnect policy", () => {
  test("reconnects after transient closes and network errors only", () => {
    const close = (code: number) => ({ code, reason: "", wasClean: true });
    for (const code of [1001, 1005, 1006, 1011, 1012, 4408, 4499, 4504]) {
      assert.equal(shouldReconnect(close(code)), true, `close ${code}`);
    }
    for (const code of [1000, 1009, 4400, 4401, 4403, 4406, 4409, 4429, 4321]) {
      assert.equal(shouldReconnect(close(code)), false, `close ${code}`);
    }
    assert.equal(shouldReconnect([{ message: "Subscription limit reached" }]), false);
    assert.equal(shouldReconnect(new Error("a bug here")), false);
    assert.equal(shouldReconnect({ type: "error", message: "ECONNREFUSED" }), true);
  });

  test("backs off exponentially to a cap, with jitter", () => {
    assert.equal(backoffDelay(0, undefined, () => 0), 250);
    assert.equal(backoffDelay(0, undefined, () => 1), 500);
    assert.equal(backoffDelay(3, undefined, () => 1), 4000);
    assert.equal(backoffDelay(50, undefined, () => 1), 10_000);
    assert.equal(backoffDelay(50, undefined, () => 0), 5000);
  });
});

/** A graphql-transport-ws server whose every socket runs `script`. */
type Script = (socket: WebSocket, subscribe: { id: string; payload: Record<string, unknown> }, index: number) => void;

// A timeout each: a reconnect loop that never ends must fail the test, not hang it.
describe("subscriptions over a fake server", { timeout: 5000 }, () => {
  let server: WebSocketServer;
  let url = "";
  let script: Script = () => undefined;
  const inits: unknown[] = [];
  const subscribes: Record<string, unknown>[] = [];

  before(async () => {
    server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => "graphql-transport-ws" });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    server.on("connection", (socket) => {
      const index = inits.length;
      socket.on("message", (raw) => {
        const message = JSON.parse(String(raw)) as { type: string; id: string; payload: Record<string, unknown> };
        if (message.type === "connection_init") {
          inits.push(message.payload);
          socket.send(JSON.stringify({ type: "connection_ack" }));
        } else if (message.type === "subscribe") {
          subscribes.push(message.payload);
          script(socket, message, index);
        }
      });
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const status = (version: number, state: string) => ({
    paymentStatus: {
      version,
      settled: state === "PAID",
      at: "2026-11-27T09:30:00Z",
      intent: {
        id: "i",
        status: state,
        amount: "15000.00",
        paidAmount: state === "PAID" ? "15000.00" : "0.00",
        qrText: "",
        qrImage: "",
        shortUrl: null,
        expiresAt: "2026-11-27T09:45:00Z",
        deeplinks: [],
        payment: null,
      },
      invoice: { number: "INV-1" },
    },
  });

  test("reconnects after 1001, skips the repeated snapshot and reports completion", async () => {
    inits.length = 0;
    subscribes.length = 0;
    script = (socket, { id }, index) => {
      const next = (data: unknown) => socket.send(JSON.stringify({ id, type: "next", payload: { data } }));
      next(status(1, "PENDING"));
      if (index === 0) {
        socket.close(1001, "going away"); // a deploy
        return;
      }
      next(status(2, "PAID"));
      socket.send(JSON.stringify({ id, type: "complete" }));
    };
    const client = createClient({
      url: url.replace("ws:", "http:"),
      token: "staff-jwt",
      webSocketImpl: WebSocket,
      trustedDocuments: true,
      backoff: { initialMs: 5, maxMs: 20 },
    });
    const seen: PaymentStatusEvent[] = [];
    const connections: boolean[] = [];
    const reconnects: number[] = [];
    const watch = client.watchPaymentStatus(
      { intentId: "i" },
      {
        next: (event) => seen.push(event),
        connected: (isReconnect) => connections.push(isReconnect),
        reconnecting: (info) => reconnects.push(info.attempt),
      },
    );
    const end = await watch.done;

    assert.equal(end.kind, "completed");
    assert.equal(end.last?.intent.status, "PAID");
    assert.deepEqual(seen.map((event) => [event.version, event.intent.status]), [[1, "PENDING"], [2, "PAID"]]);
    assert.deepEqual(connections, [false, true]);
    assert.deepEqual(reconnects, [0]);
    // connection_init carries the staff token; subscribe carries the hash, no text.
    assert.deepEqual(inits, [{ authorization: "Bearer staff-jwt" }, { authorization: "Bearer staff-jwt" }]);
    for (const payload of subscribes) {
      assert.deepEqual(Object.keys(payload).sort(), ["documentId", "operationName", "variables"]);
      assert.equal(payload["operationName"], "CheckoutPaymentStatus");
      assert.ok(persisted[String(payload["documentId"]).replace("sha256:", "")]);
      assert.deepEqual(payload["variables"], { intentId: "i", clientSecret: null });
    }
    await client.dispose();
  });

  test("gives up at once on 4403 (a rejected token) and on a refusal", async () => {
    inits.length = 0;
    script = (socket) => socket.close(4403, "Forbidden");
    const client = createClient({ url, wsUrl: url, token: "expired", webSocketImpl: WebSocket, backoff: { initialMs: 5, maxMs: 20 } });
    const errors: unknown[] = [];
    const feed = client.followPaymentEvents({ next: () => assert.fail("no event"), error: (error) => errors.push(error) });
    const end = await feed.done;
    assert.equal(end.kind, "failed");
    assert.ok(end.kind === "failed" && end.error instanceof SocketClosedError && end.error.code === 4403);
    assert.equal(errors.length, 1);
    assert.equal(inits.length, 1, "no second socket with the same token");

    script = (socket, { id }) => {
      const refusal = { data: null, errors: [{ message: "not allowed to watch this payment", extensions: { code: "FORBIDDEN" } }] };
      socket.send(JSON.stringify({ id, type: "next", payload: refusal }));
      socket.send(JSON.stringify({ id, type: "complete" }));
    };
    const watch = client.watchPaymentStatus({ intentId: "i", clientSecret: "wrong" }, { next: () => assert.fail("no event") });
    const refused = await watch.done;
    assert.ok(refused.kind === "failed" && refused.error instanceof GraphQLRequestError && refused.error.code === "FORBIDDEN");
    await client.dispose();
  });
});
