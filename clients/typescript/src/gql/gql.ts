/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "subscription CheckoutPaymentStatus($intentId: ID!, $clientSecret: String) {\n  paymentStatus(intentId: $intentId, clientSecret: $clientSecret) {\n    version\n    settled\n    at\n    intent {\n      id\n      status\n      amount\n      paidAmount\n      qrText\n      qrImage\n      shortUrl\n      expiresAt\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n      payment {\n        amount\n        currency\n        ebarimt {\n          status\n          lottery\n          qrData\n        }\n      }\n    }\n    invoice {\n      number\n    }\n  }\n}": typeof types.CheckoutPaymentStatusDocument,
    "mutation CancelQPayInvoice($intentId: ID!) {\n  cancelQPayInvoice(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": typeof types.CancelQPayInvoiceDocument,
    "mutation CheckQPayPayment($intentId: ID!) {\n  checkQPayPayment(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": typeof types.CheckQPayPaymentDocument,
    "mutation CreateInvoice($input: CreateInvoiceInput!) {\n  createInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": typeof types.CreateInvoiceDocument,
    "mutation CreateQPayInvoice($input: CreateQPayInvoiceInput!) {\n  createQPayInvoice(input: $input) {\n    intent {\n      ...IntentSummary\n      qrText\n      qrImage\n      shortUrl\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n    }\n    clientSecret\n    checkoutUrl\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": typeof types.CreateQPayInvoiceDocument,
    "fragment UserErrorFields on UserError {\n  code\n  message\n  field\n}\n\nfragment InvoiceSummary on Invoice {\n  id\n  number\n  description\n  total\n  paidAmount\n  balance\n  status\n  createdAt\n  updatedAt\n}\n\nfragment IntentSummary on QPayIntent {\n  id\n  invoiceId\n  environment\n  status\n  amount\n  paidAmount\n  qpayInvoiceId\n  senderInvoiceNo\n  qpayPaymentId\n  reviewReason\n  lastError\n  expiresAt\n  createdAt\n  updatedAt\n  review {\n    resolution\n    note\n    actor\n    at\n  }\n}\n\nfragment RefundFields on Refund {\n  id\n  paymentId\n  amount\n  status\n  channel\n  reason\n  actor\n  createdAt\n  completedAt\n  lastError\n}\n\nfragment PaymentFields on Payment {\n  id\n  invoiceId\n  method\n  amount\n  currency\n  qpayPaymentId\n  refundableAmount\n  createdAt\n  refunds {\n    ...RefundFields\n  }\n  ebarimt {\n    id\n    status\n    receiverType\n    receiver\n    lottery\n    qrData\n    lastError\n    createdAt\n  }\n}": typeof types.UserErrorFieldsFragmentDoc,
    "query InvoiceDetails($id: ID!) {\n  invoice(id: $id) {\n    ...InvoiceSummary\n    payments {\n      ...PaymentFields\n    }\n    qpayIntents {\n      ...IntentSummary\n    }\n    events {\n      kind\n      at\n      actor\n      intentStatus\n      payment {\n        id\n      }\n      intent {\n        id\n      }\n      refund {\n        id\n        status\n      }\n    }\n  }\n}": typeof types.InvoiceDetailsDocument,
    "query Invoices($first: Int! = 50, $after: String, $filter: InvoiceFilter) {\n  invoices(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...InvoiceSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.InvoicesDocument,
    "subscription PaymentEvents {\n  paymentEvents {\n    kind\n    at\n    actor\n    intentStatus\n    invoice {\n      id\n      number\n      total\n      paidAmount\n      balance\n      status\n    }\n    payment {\n      id\n      amount\n      currency\n      method\n    }\n    intent {\n      id\n      status\n      amount\n      paidAmount\n    }\n    refund {\n      id\n      amount\n      status\n      channel\n    }\n  }\n}": typeof types.PaymentEventsDocument,
    "query PaymentMethods {\n  paymentMethods {\n    method\n    enabled\n    label\n  }\n}": typeof types.PaymentMethodsDocument,
    "query PaymentTotals($firstDay: Date!, $lastDay: Date) {\n  paymentTotals(firstDay: $firstDay, lastDay: $lastDay) {\n    firstDay\n    lastDay\n    timeZone\n    start\n    end\n    methods {\n      method\n      payments\n      paymentCount\n      refunds\n      refundCount\n      net\n    }\n    payments\n    paymentCount\n    refunds\n    refundCount\n    net\n  }\n}": typeof types.PaymentTotalsDocument,
    "query QPayIntents($first: Int! = 50, $after: String, $filter: QPayIntentFilter) {\n  qpayIntents(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...IntentSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.QPayIntentsDocument,
    "mutation RefundPayment($input: RefundPaymentInput!) {\n  refundPayment(input: $input) {\n    refund {\n      ...RefundFields\n    }\n    payment {\n      ...PaymentFields\n    }\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": typeof types.RefundPaymentDocument,
    "mutation ResolveQPayReview($input: ResolveQPayReviewInput!) {\n  resolveQPayReview(input: $input) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": typeof types.ResolveQPayReviewDocument,
    "mutation SettleInvoice($input: SettleInvoiceInput!) {\n  settleInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    payment {\n      ...PaymentFields\n    }\n    alreadySettled\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": typeof types.SettleInvoiceDocument,
};
const documents: Documents = {
    "subscription CheckoutPaymentStatus($intentId: ID!, $clientSecret: String) {\n  paymentStatus(intentId: $intentId, clientSecret: $clientSecret) {\n    version\n    settled\n    at\n    intent {\n      id\n      status\n      amount\n      paidAmount\n      qrText\n      qrImage\n      shortUrl\n      expiresAt\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n      payment {\n        amount\n        currency\n        ebarimt {\n          status\n          lottery\n          qrData\n        }\n      }\n    }\n    invoice {\n      number\n    }\n  }\n}": types.CheckoutPaymentStatusDocument,
    "mutation CancelQPayInvoice($intentId: ID!) {\n  cancelQPayInvoice(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": types.CancelQPayInvoiceDocument,
    "mutation CheckQPayPayment($intentId: ID!) {\n  checkQPayPayment(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": types.CheckQPayPaymentDocument,
    "mutation CreateInvoice($input: CreateInvoiceInput!) {\n  createInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": types.CreateInvoiceDocument,
    "mutation CreateQPayInvoice($input: CreateQPayInvoiceInput!) {\n  createQPayInvoice(input: $input) {\n    intent {\n      ...IntentSummary\n      qrText\n      qrImage\n      shortUrl\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n    }\n    clientSecret\n    checkoutUrl\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": types.CreateQPayInvoiceDocument,
    "fragment UserErrorFields on UserError {\n  code\n  message\n  field\n}\n\nfragment InvoiceSummary on Invoice {\n  id\n  number\n  description\n  total\n  paidAmount\n  balance\n  status\n  createdAt\n  updatedAt\n}\n\nfragment IntentSummary on QPayIntent {\n  id\n  invoiceId\n  environment\n  status\n  amount\n  paidAmount\n  qpayInvoiceId\n  senderInvoiceNo\n  qpayPaymentId\n  reviewReason\n  lastError\n  expiresAt\n  createdAt\n  updatedAt\n  review {\n    resolution\n    note\n    actor\n    at\n  }\n}\n\nfragment RefundFields on Refund {\n  id\n  paymentId\n  amount\n  status\n  channel\n  reason\n  actor\n  createdAt\n  completedAt\n  lastError\n}\n\nfragment PaymentFields on Payment {\n  id\n  invoiceId\n  method\n  amount\n  currency\n  qpayPaymentId\n  refundableAmount\n  createdAt\n  refunds {\n    ...RefundFields\n  }\n  ebarimt {\n    id\n    status\n    receiverType\n    receiver\n    lottery\n    qrData\n    lastError\n    createdAt\n  }\n}": types.UserErrorFieldsFragmentDoc,
    "query InvoiceDetails($id: ID!) {\n  invoice(id: $id) {\n    ...InvoiceSummary\n    payments {\n      ...PaymentFields\n    }\n    qpayIntents {\n      ...IntentSummary\n    }\n    events {\n      kind\n      at\n      actor\n      intentStatus\n      payment {\n        id\n      }\n      intent {\n        id\n      }\n      refund {\n        id\n        status\n      }\n    }\n  }\n}": types.InvoiceDetailsDocument,
    "query Invoices($first: Int! = 50, $after: String, $filter: InvoiceFilter) {\n  invoices(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...InvoiceSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.InvoicesDocument,
    "subscription PaymentEvents {\n  paymentEvents {\n    kind\n    at\n    actor\n    intentStatus\n    invoice {\n      id\n      number\n      total\n      paidAmount\n      balance\n      status\n    }\n    payment {\n      id\n      amount\n      currency\n      method\n    }\n    intent {\n      id\n      status\n      amount\n      paidAmount\n    }\n    refund {\n      id\n      amount\n      status\n      channel\n    }\n  }\n}": types.PaymentEventsDocument,
    "query PaymentMethods {\n  paymentMethods {\n    method\n    enabled\n    label\n  }\n}": types.PaymentMethodsDocument,
    "query PaymentTotals($firstDay: Date!, $lastDay: Date) {\n  paymentTotals(firstDay: $firstDay, lastDay: $lastDay) {\n    firstDay\n    lastDay\n    timeZone\n    start\n    end\n    methods {\n      method\n      payments\n      paymentCount\n      refunds\n      refundCount\n      net\n    }\n    payments\n    paymentCount\n    refunds\n    refundCount\n    net\n  }\n}": types.PaymentTotalsDocument,
    "query QPayIntents($first: Int! = 50, $after: String, $filter: QPayIntentFilter) {\n  qpayIntents(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...IntentSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.QPayIntentsDocument,
    "mutation RefundPayment($input: RefundPaymentInput!) {\n  refundPayment(input: $input) {\n    refund {\n      ...RefundFields\n    }\n    payment {\n      ...PaymentFields\n    }\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": types.RefundPaymentDocument,
    "mutation ResolveQPayReview($input: ResolveQPayReviewInput!) {\n  resolveQPayReview(input: $input) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": types.ResolveQPayReviewDocument,
    "mutation SettleInvoice($input: SettleInvoiceInput!) {\n  settleInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    payment {\n      ...PaymentFields\n    }\n    alreadySettled\n    errors {\n      ...UserErrorFields\n    }\n  }\n}": types.SettleInvoiceDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription CheckoutPaymentStatus($intentId: ID!, $clientSecret: String) {\n  paymentStatus(intentId: $intentId, clientSecret: $clientSecret) {\n    version\n    settled\n    at\n    intent {\n      id\n      status\n      amount\n      paidAmount\n      qrText\n      qrImage\n      shortUrl\n      expiresAt\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n      payment {\n        amount\n        currency\n        ebarimt {\n          status\n          lottery\n          qrData\n        }\n      }\n    }\n    invoice {\n      number\n    }\n  }\n}"): (typeof documents)["subscription CheckoutPaymentStatus($intentId: ID!, $clientSecret: String) {\n  paymentStatus(intentId: $intentId, clientSecret: $clientSecret) {\n    version\n    settled\n    at\n    intent {\n      id\n      status\n      amount\n      paidAmount\n      qrText\n      qrImage\n      shortUrl\n      expiresAt\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n      payment {\n        amount\n        currency\n        ebarimt {\n          status\n          lottery\n          qrData\n        }\n      }\n    }\n    invoice {\n      number\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CancelQPayInvoice($intentId: ID!) {\n  cancelQPayInvoice(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"): (typeof documents)["mutation CancelQPayInvoice($intentId: ID!) {\n  cancelQPayInvoice(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CheckQPayPayment($intentId: ID!) {\n  checkQPayPayment(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"): (typeof documents)["mutation CheckQPayPayment($intentId: ID!) {\n  checkQPayPayment(intentId: $intentId) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateInvoice($input: CreateInvoiceInput!) {\n  createInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"): (typeof documents)["mutation CreateInvoice($input: CreateInvoiceInput!) {\n  createInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateQPayInvoice($input: CreateQPayInvoiceInput!) {\n  createQPayInvoice(input: $input) {\n    intent {\n      ...IntentSummary\n      qrText\n      qrImage\n      shortUrl\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n    }\n    clientSecret\n    checkoutUrl\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"): (typeof documents)["mutation CreateQPayInvoice($input: CreateQPayInvoiceInput!) {\n  createQPayInvoice(input: $input) {\n    intent {\n      ...IntentSummary\n      qrText\n      qrImage\n      shortUrl\n      deeplinks {\n        name\n        description\n        logo\n        link\n      }\n    }\n    clientSecret\n    checkoutUrl\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment UserErrorFields on UserError {\n  code\n  message\n  field\n}\n\nfragment InvoiceSummary on Invoice {\n  id\n  number\n  description\n  total\n  paidAmount\n  balance\n  status\n  createdAt\n  updatedAt\n}\n\nfragment IntentSummary on QPayIntent {\n  id\n  invoiceId\n  environment\n  status\n  amount\n  paidAmount\n  qpayInvoiceId\n  senderInvoiceNo\n  qpayPaymentId\n  reviewReason\n  lastError\n  expiresAt\n  createdAt\n  updatedAt\n  review {\n    resolution\n    note\n    actor\n    at\n  }\n}\n\nfragment RefundFields on Refund {\n  id\n  paymentId\n  amount\n  status\n  channel\n  reason\n  actor\n  createdAt\n  completedAt\n  lastError\n}\n\nfragment PaymentFields on Payment {\n  id\n  invoiceId\n  method\n  amount\n  currency\n  qpayPaymentId\n  refundableAmount\n  createdAt\n  refunds {\n    ...RefundFields\n  }\n  ebarimt {\n    id\n    status\n    receiverType\n    receiver\n    lottery\n    qrData\n    lastError\n    createdAt\n  }\n}"): (typeof documents)["fragment UserErrorFields on UserError {\n  code\n  message\n  field\n}\n\nfragment InvoiceSummary on Invoice {\n  id\n  number\n  description\n  total\n  paidAmount\n  balance\n  status\n  createdAt\n  updatedAt\n}\n\nfragment IntentSummary on QPayIntent {\n  id\n  invoiceId\n  environment\n  status\n  amount\n  paidAmount\n  qpayInvoiceId\n  senderInvoiceNo\n  qpayPaymentId\n  reviewReason\n  lastError\n  expiresAt\n  createdAt\n  updatedAt\n  review {\n    resolution\n    note\n    actor\n    at\n  }\n}\n\nfragment RefundFields on Refund {\n  id\n  paymentId\n  amount\n  status\n  channel\n  reason\n  actor\n  createdAt\n  completedAt\n  lastError\n}\n\nfragment PaymentFields on Payment {\n  id\n  invoiceId\n  method\n  amount\n  currency\n  qpayPaymentId\n  refundableAmount\n  createdAt\n  refunds {\n    ...RefundFields\n  }\n  ebarimt {\n    id\n    status\n    receiverType\n    receiver\n    lottery\n    qrData\n    lastError\n    createdAt\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query InvoiceDetails($id: ID!) {\n  invoice(id: $id) {\n    ...InvoiceSummary\n    payments {\n      ...PaymentFields\n    }\n    qpayIntents {\n      ...IntentSummary\n    }\n    events {\n      kind\n      at\n      actor\n      intentStatus\n      payment {\n        id\n      }\n      intent {\n        id\n      }\n      refund {\n        id\n        status\n      }\n    }\n  }\n}"): (typeof documents)["query InvoiceDetails($id: ID!) {\n  invoice(id: $id) {\n    ...InvoiceSummary\n    payments {\n      ...PaymentFields\n    }\n    qpayIntents {\n      ...IntentSummary\n    }\n    events {\n      kind\n      at\n      actor\n      intentStatus\n      payment {\n        id\n      }\n      intent {\n        id\n      }\n      refund {\n        id\n        status\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Invoices($first: Int! = 50, $after: String, $filter: InvoiceFilter) {\n  invoices(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...InvoiceSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query Invoices($first: Int! = 50, $after: String, $filter: InvoiceFilter) {\n  invoices(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...InvoiceSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription PaymentEvents {\n  paymentEvents {\n    kind\n    at\n    actor\n    intentStatus\n    invoice {\n      id\n      number\n      total\n      paidAmount\n      balance\n      status\n    }\n    payment {\n      id\n      amount\n      currency\n      method\n    }\n    intent {\n      id\n      status\n      amount\n      paidAmount\n    }\n    refund {\n      id\n      amount\n      status\n      channel\n    }\n  }\n}"): (typeof documents)["subscription PaymentEvents {\n  paymentEvents {\n    kind\n    at\n    actor\n    intentStatus\n    invoice {\n      id\n      number\n      total\n      paidAmount\n      balance\n      status\n    }\n    payment {\n      id\n      amount\n      currency\n      method\n    }\n    intent {\n      id\n      status\n      amount\n      paidAmount\n    }\n    refund {\n      id\n      amount\n      status\n      channel\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query PaymentMethods {\n  paymentMethods {\n    method\n    enabled\n    label\n  }\n}"): (typeof documents)["query PaymentMethods {\n  paymentMethods {\n    method\n    enabled\n    label\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query PaymentTotals($firstDay: Date!, $lastDay: Date) {\n  paymentTotals(firstDay: $firstDay, lastDay: $lastDay) {\n    firstDay\n    lastDay\n    timeZone\n    start\n    end\n    methods {\n      method\n      payments\n      paymentCount\n      refunds\n      refundCount\n      net\n    }\n    payments\n    paymentCount\n    refunds\n    refundCount\n    net\n  }\n}"): (typeof documents)["query PaymentTotals($firstDay: Date!, $lastDay: Date) {\n  paymentTotals(firstDay: $firstDay, lastDay: $lastDay) {\n    firstDay\n    lastDay\n    timeZone\n    start\n    end\n    methods {\n      method\n      payments\n      paymentCount\n      refunds\n      refundCount\n      net\n    }\n    payments\n    paymentCount\n    refunds\n    refundCount\n    net\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query QPayIntents($first: Int! = 50, $after: String, $filter: QPayIntentFilter) {\n  qpayIntents(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...IntentSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query QPayIntents($first: Int! = 50, $after: String, $filter: QPayIntentFilter) {\n  qpayIntents(first: $first, after: $after, filter: $filter) {\n    edges {\n      cursor\n      node {\n        ...IntentSummary\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation RefundPayment($input: RefundPaymentInput!) {\n  refundPayment(input: $input) {\n    refund {\n      ...RefundFields\n    }\n    payment {\n      ...PaymentFields\n    }\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"): (typeof documents)["mutation RefundPayment($input: RefundPaymentInput!) {\n  refundPayment(input: $input) {\n    refund {\n      ...RefundFields\n    }\n    payment {\n      ...PaymentFields\n    }\n    invoice {\n      ...InvoiceSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation ResolveQPayReview($input: ResolveQPayReviewInput!) {\n  resolveQPayReview(input: $input) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"): (typeof documents)["mutation ResolveQPayReview($input: ResolveQPayReviewInput!) {\n  resolveQPayReview(input: $input) {\n    intent {\n      ...IntentSummary\n    }\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation SettleInvoice($input: SettleInvoiceInput!) {\n  settleInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    payment {\n      ...PaymentFields\n    }\n    alreadySettled\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"): (typeof documents)["mutation SettleInvoice($input: SettleInvoiceInput!) {\n  settleInvoice(input: $input) {\n    invoice {\n      ...InvoiceSummary\n    }\n    payment {\n      ...PaymentFields\n    }\n    alreadySettled\n    errors {\n      ...UserErrorFields\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;