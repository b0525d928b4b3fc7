"""The gateway's refund and payment status against the simulator (issue 15,
item 2, first step): card money comes back, P2P money is NOT_SUPPORTED, and
a refund whose answer is lost is told apart by asking QPay."""

from __future__ import annotations

import pytest

from domain.errors import GatewayRejected, GatewayUnavailable
from domain.qpay_messages import RefundOutcome
from tests.integration.qpay.conftest import Rig

pytestmark = pytest.mark.anyio


async def test_a_card_payment_is_refunded_and_says_so(rig: Rig) -> None:
    created = await rig.new_invoice("800")
    payment_id = rig.sim.pay(created.qpay_invoice_id, payment_type="CARD")

    outcome = await rig.gateway.refund_payment(payment_id, "patient cancelled")

    assert outcome is RefundOutcome.REFUNDED
    assert await rig.gateway.payment_status(payment_id) == "REFUNDED"


async def test_a_bank_app_payment_cannot_be_refunded_and_stays_paid(
    rig: Rig,
) -> None:
    created = await rig.new_invoice("800")
    payment_id = rig.sim.pay(created.qpay_invoice_id, payment_type="P2P")

    outcome = await rig.gateway.refund_payment(payment_id, "patient cancelled")

    assert outcome is RefundOutcome.NOT_SUPPORTED
    assert await rig.gateway.payment_status(payment_id) == "PAID"


async def test_a_refund_whose_answer_is_lost_is_known_by_asking(rig: Rig) -> None:
    created = await rig.new_invoice("800")
    payment_id = rig.sim.pay(created.qpay_invoice_id, payment_type="CARD")
    rig.sim.fail_next("/payment/refund/*", status=502, after=True)

    with pytest.raises(GatewayUnavailable) as lost:
        await rig.gateway.refund_payment(payment_id, "patient cancelled")

    assert lost.value.may_have_reached
    assert rig.calls("DELETE", f"/v2/payment/refund/{payment_id}") == 1  # no retry
    assert await rig.gateway.payment_status(payment_id) == "REFUNDED"


async def test_an_unknown_payment_is_qpays_refusal(rig: Rig) -> None:
    with pytest.raises(GatewayRejected) as refused:
        await rig.gateway.payment_status("999999999999999")

    assert refused.value.qpay_code.startswith("PAYMENT_NOT")
