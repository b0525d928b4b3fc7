"""The one way tests speak GraphQL over HTTP, and the documents they send.

Every harness (in process, on a real port, behind a browser) posts through
`gql`; the documents below select every field the tests read, so a test
never keeps its own copy of a mutation.
"""

from __future__ import annotations

from typing import Any

import httpx

ERRORS = "errors { code message field }"
INTENT_FIELDS = """
  id invoiceId environment amount paidAmount status qpayInvoiceId senderInvoiceNo
  qrText qrImage shortUrl deeplinks { name description logo link } qpayPaymentId
  payment { id amount method qpayPaymentId }
  expiresAt createdAt updatedAt
"""
INVOICE_FIELDS = (
    "id number description total paidAmount balance status createdAt updatedAt"
)
CREATE_INVOICE = f"""
mutation CreateInvoice($input: CreateInvoiceInput!) {{
  createInvoice(input: $input) {{ invoice {{ {INVOICE_FIELDS} }} {ERRORS} }}
}}
"""
CREATE_QPAY = f"""
mutation CreateQPayInvoice($input: CreateQPayInvoiceInput!) {{
  createQPayInvoice(input: $input) {{
    intent {{ {INTENT_FIELDS} }} clientSecret checkoutUrl {ERRORS}
  }}
}}
"""
CHECK = f"""
mutation CheckQPayPayment($id: ID!) {{
  checkQPayPayment(intentId: $id) {{ intent {{ {INTENT_FIELDS} }} {ERRORS} }}
}}
"""
CANCEL = f"""
mutation CancelQPayInvoice($id: ID!) {{
  cancelQPayInvoice(intentId: $id) {{ intent {{ {INTENT_FIELDS} }} {ERRORS} }}
}}
"""
SETTLE = f"""
mutation SettleInvoice($input: SettleInvoiceInput!) {{
  settleInvoice(input: $input) {{
    invoice {{
      id total paidAmount balance status payments {{ id amount method qpayPaymentId }}
    }}
    payment {{
      id amount method qpayPaymentId ebarimt {{ status receiverType lottery }}
    }}
    alreadySettled
    {ERRORS}
  }}
}}
"""
INVOICE = f"""
query Invoice($id: ID!) {{
  invoice(id: $id) {{
    {INVOICE_FIELDS}
    payments {{ id amount method qpayPaymentId }}
    qpayIntents {{ id status amount paidAmount }}
  }}
}}
"""

PAYMENT_STATUS = """
subscription PaymentStatus($id: ID!, $secret: String) {
  paymentStatus(intentId: $id, clientSecret: $secret) {
    version settled at
    intent { id status amount paidAmount qpayPaymentId payment { id amount } }
    invoice { id status paidAmount balance }
  }
}
"""


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    url: str = "/graphql",
    status: int | None = 200,
) -> dict[str, Any]:
    """POST a GraphQL document and return the JSON body.

    `token` adds a staff bearer token (the client's own headers apply too);
    the answer must have HTTP `status` unless it is None (tests that watch
    an outage read whatever comes back).
    """
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = await client.post(
        url, json={"query": query, "variables": variables or {}}, headers=headers
    )
    if status is not None:
        assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """The `data` of an answer that must have no errors."""
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data
