// One payment through a live qpay-graph with the typed client, as a staff
// screen and a checkout screen would make it. tests/e2e/test_typescript_client.py
// starts the service and the QPay simulator and runs this with:
//   QPG_URL            the service's base URL (http://127.0.0.1:PORT)
//   QPG_TOKEN          a staff token
//   QPG_SIMULATOR_URL  the QPay simulator's base URL (its /_sim controls)
//   QPG_TRUSTED        "1": trusted-documents mode (hashes only, no document text)
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import WebSocket from "ws";

import {
  createClient,
  CreateInvoiceDocument,
  CreateQPayInvoiceDocument,
  GraphQLRequestError,
  InvoiceDetailsDocument,
  InvoicesDocument,
  type PaymentFeedEvent,
  type PaymentStatusEvent,
} from "../src/index.js";

const env = {
  url: process.env["QPG_URL"],
  token: process.env["QPG_TOKEN"],
  simulator: process.env["QPG_SIMULATOR_URL"],
  trusted: process.env["QPG_TRUSTED"] === "1",
};
const missing = env.url === undefined || env.token === undefined || env.simulator === undefined;

/** Resolves once `predicate` holds for an item of `items`, checked on every `poke`. */
function waiter<T>(items: T[], predicate: (item: T) => boolean) {
  let wake = (): void => undefined;
  const found = new Promise<T>((resolve) => {
    wake = () => {
      const match = items.find(predicate);
      if (match !== undefined) resolve(match);
    };
  });
  return { found, poke: () => wake() };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test(
  `a QPay payment through a live service (${env.trusted ? "trusted documents" : "document text"})`,
  {
    skip: missing ? "set QPG_URL, QPG_TOKEN and QPG_SIMULATOR_URL (the pytest module does)" : false,
    timeout: 60_000,
  },
  async () => {
    const graphql = `${env.url}/graphql`;
    const common = { url: graphql, webSocketImpl: WebSocket, trustedDocuments: env.trusted };
    const staff = createClient({ ...common, token: env.token });
    const checkout = createClient(common); // no token: the patient's screen
    const anonymous = createClient(common);

    // Staff only: a query without a token is a GraphQL error with its code.
    await assert.rejects(
      anonymous.request(InvoicesDocument, { first: 1 }),
      (error: unknown) => error instanceof GraphQLRequestError && error.code === "UNAUTHENTICATED",
    );

    // The feed first (it sends no snapshot): wait until its socket is up.
    const feed: PaymentFeedEvent[] = [];
    let connected = (_isReconnect: boolean): void => undefined;
    let refused = (_error: unknown): void => undefined;
    const feedConnected = new Promise<boolean>((resolve, reject) => {
      connected = resolve;
      refused = reject;
    });
    let feedPoke = (): void => undefined;
    const stopFeed = staff.followPaymentEvents({
      next: (event) => {
        feed.push(event);
        feedPoke();
      },
      connected: (isReconnect) => connected(isReconnect),
      error: (error) => refused(error),
    });
    assert.equal(await within(feedConnected, 10_000, "the feed's socket"), false);

    // The invoice, made safe to repeat by its idempotency key.
    const key = randomUUID();
    const input = { total: "15000", description: "typed client e2e", idempotencyKey: key };
    const made = (await staff.request(CreateInvoiceDocument, { input })).createInvoice;
    assert.deepEqual(made.errors, []);
    const invoice = made.invoice;
    assert.ok(invoice);
    assert.equal(invoice.total, "15000.00"); // exact, two decimals, a string
    assert.equal(invoice.balance, "15000.00");
    assert.equal(invoice.status, "UNPAID");
    const again = (await staff.request(CreateInvoiceDocument, { input })).createInvoice;
    assert.equal(again.invoice?.id, invoice.id);

    // An expected failure of a mutation is data: typed errors in the payload.
    const tooMuch = (
      await staff.request(CreateQPayInvoiceDocument, { input: { invoiceId: invoice.id, amount: "15000.01" } })
    ).createQPayInvoice;
    assert.equal(tooMuch.intent, null);
    assert.deepEqual(
      tooMuch.errors.map((error) => error.code),
      ["AMOUNT_EXCEEDS_BALANCE"],
    );

    const created = (await staff.request(CreateQPayInvoiceDocument, { input: { invoiceId: invoice.id } }))
      .createQPayInvoice;
    assert.deepEqual(created.errors, []);
    const intent = created.intent;
    const clientSecret = created.clientSecret;
    assert.ok(intent && clientSecret);
    assert.equal(intent.status, "PENDING");
    assert.equal(intent.amount, "15000.00");

    // The checkout screen watches with the client secret alone.
    const statuses: PaymentStatusEvent[] = [];
    const pending = waiter(statuses, (event) => event.intent.status === "PENDING");
    const watch = checkout.watchPaymentStatus(
      { intentId: intent.id, clientSecret },
      {
        next: (event) => {
          statuses.push(event);
          pending.poke();
        },
      },
    );
    await within(pending.found, 10_000, "the PENDING snapshot");

    // The patient pays: the simulator records it and calls our callback.
    const paid = await fetch(`${env.simulator}/_sim/pay`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ invoice_id: intent.qpayInvoiceId }),
    });
    assert.equal(paid.status, 200, await paid.clone().text());
    const { payment_id: qpayPaymentId } = (await paid.json()) as { payment_id: string };

    // The watcher sees PAID and the subscription completes by itself.
    const end = await within(watch.done, 20_000, "paymentStatus to complete");
    assert.equal(end.kind, "completed");
    assert.deepEqual(
      statuses.map((event) => event.intent.status),
      ["PENDING", "PAID"],
    );
    const last = end.last;
    assert.ok(last);
    assert.equal(last.settled, true);
    assert.ok(last.version > (statuses[0]?.version ?? Infinity));
    assert.equal(last.intent.paidAmount, "15000.00");
    assert.equal(last.intent.payment?.amount, "15000.00");
    assert.equal(last.intent.payment?.currency, "MNT");
    assert.equal(last.invoice.number, invoice.number);

    // The staff feed saw the payment recorded.
    const recorded = waiter(
      feed,
      (event) => event.kind === "PAYMENT_RECORDED" && event.invoice.id === invoice.id,
    );
    feedPoke = recorded.poke;
    recorded.poke();
    const entry = await within(recorded.found, 10_000, "PAYMENT_RECORDED on the feed");
    assert.equal(entry.payment?.method, "QPAY");
    assert.equal(entry.payment?.amount, "15000.00");
    assert.equal(entry.invoice.paidAmount, "15000.00");
    assert.equal(entry.invoice.status, "PAID");
    assert.equal(entry.actor, null); // the callback, not a person
    stopFeed();
    assert.equal((await stopFeed.done).kind, "unsubscribed");

    // A query of the invoice shows it paid.
    const details = (await staff.request(InvoiceDetailsDocument, { id: invoice.id })).invoice;
    assert.ok(details);
    assert.equal(details.status, "PAID");
    assert.equal(details.paidAmount, "15000.00");
    assert.equal(details.balance, "0.00");
    assert.deepEqual(
      details.payments.map((payment) => [payment.method, payment.amount, payment.qpayPaymentId]),
      [["QPAY", "15000.00", qpayPaymentId]],
    );
    assert.deepEqual(
      details.qpayIntents.map((each) => [each.id, each.status, each.paidAmount]),
      [[intent.id, "PAID", "15000.00"]],
    );
    assert.ok(details.events.some((event) => event.kind === "PAYMENT_RECORDED"));

    // A refused query: a typed error carrying extensions.code.
    await assert.rejects(
      staff.request(InvoiceDetailsDocument, { id: "not-a-uuid" }),
      (error: unknown) => error instanceof GraphQLRequestError && error.hasCode("INVALID_INPUT"),
    );

    await Promise.all([staff.dispose(), checkout.dispose(), anonymous.dispose()]);
  },
);
