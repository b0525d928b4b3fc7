"""The `qpay-graph` command: serve, migrate, token, qpay-sim, reconcile, demo."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

import httpx
import uvicorn

from app import migrate
from app.logging_setup import configure_logging
from app.server import uvicorn_config
from app.settings import ConfigError, Settings, load_settings
from app.staff_tokens import StaffTokens, jwt_secret
from domain.services.reconcile import ReconcileReport
from domain.services.reconcile import reconcile as reconcile_report

if TYPE_CHECKING:
    from app.embedded import EmbeddedPostgres

logger = logging.getLogger("qpay_graph")

DRAIN_TIMEOUT_SECONDS = 20.0


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class DrainingServer(uvicorn.Server):
    """uvicorn, but SIGTERM/Ctrl-C first drains our work (stop claiming, finish
    settlements, close websockets with 1001), then shuts uvicorn down."""

    def __init__(self, config: uvicorn.Config, drain: object) -> None:
        super().__init__(config)
        self._drain = drain
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().handle_exit(sig, frame)
            return
        loop.call_soon_threadsafe(
            lambda: loop.create_task(self._drain_then_exit(sig, frame))
        )

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            drain = self._drain
            if callable(drain):
                await asyncio.wait_for(drain(), DRAIN_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning(
                "drain took over %ss; shutting down anyway", DRAIN_TIMEOUT_SECONDS
            )
        except Exception:
            logger.exception("drain before shutdown failed")
        finally:
            super().handle_exit(sig, frame)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        for line in str(error).splitlines():
            sys.stderr.write(f"configuration error: {line}\n")
        raise SystemExit(2) from None


def serve(host: str, port: int) -> None:
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if "public_base_url" not in settings.model_fields_set:
        # QPay's callbacks and checkout links must reach the port we serve on.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.model_copy(
            update={"public_base_url": f"http://{shown}:{port}"}
        )
    settings, embedded = _with_database(settings)
    try:
        assert settings.database_url is not None  # noqa: S101  # set just above
        migrate.upgrade(settings.database_url)
        from app.main import create_app  # after migrations

        app = create_app(settings)
        for line in serve_banner(settings, f"http://{host}:{port}"):
            say(line)
        config = uvicorn_config(app, settings, host=host, port=port)
        # uvicorn re-raises the signal that stopped it once it has shut down;
        # turn SIGTERM into SystemExit so the `finally` below still stops the
        # embedded PostgreSQL (the default action would kill us on the spot).
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        # Everything built so far (modules, the schema, SQLAlchemy's tables)
        # lives as long as the process: moved out of the collector's reach,
        # a full collection under load walks only what requests made. With
        # 2,000 subscriptions arriving at once, /healthz's slowest answer
        # went from about 780 ms to 440 ms (bench/hostile.py).
        gc.freeze()
        DrainingServer(config, app.state.runtime.drain).run()
    finally:
        if embedded is not None:
            embedded.stop()


def serve_banner(settings: Settings, base: str) -> list[str]:
    """What `serve` prints: the URL, and in development a 12-hour staff token.

    Never a token in production: stdout ends up in the logs (past the
    redaction filter), and a staff token there lets its reader mark invoices
    paid. Operators run `qpay-graph token` when they need one."""
    lines = [
        f"qpay-graph is serving GraphQL at {base}/graphql",
        f"QPay: {settings.resolved_qpay_env}; events: {settings.events_url}",
    ]
    if settings.is_production:
        lines.append(
            "Staff token: none printed in production; get one with "
            "`qpay-graph token` (same AUTH_JWT_SECRET)"
        )
        return lines
    token = StaffTokens(jwt_secret(settings)).issue(ttl_seconds=12 * 3600)
    return [*lines, "Staff token (12 h):", f"Authorization: Bearer {token}"]


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_migrate() -> None:
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.database_url is None:
        sys.stderr.write("configuration error: DATABASE_URL: required for migrate\n")
        raise SystemExit(2)
    migrate.upgrade(settings.database_url)
    say("migrations applied (head)")


# Who a token speaks for: recorded as the actor of every staff write.
MAX_SUBJECT_LENGTH = 64


def token(ttl: int, subject: str = "staff") -> None:
    settings = _settings()
    say(StaffTokens(jwt_secret(settings)).issue(subject=subject, ttl_seconds=ttl))


def valid_subject(subject: str) -> bool:
    """A name staff can be told apart by: 1-64 printable characters, no
    leading or trailing space."""
    return (
        0 < len(subject) <= MAX_SUBJECT_LENGTH
        and subject.isprintable()
        and subject == subject.strip()
    )


def qpay_sim(host: str, port: int) -> None:
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    from qpay.simulator import QPaySimulator

    simulator = QPaySimulator()
    say(f"QPay simulator at http://{host}:{port}/v2 (TEST_MERCHANT / 123456)")
    uvicorn.run(simulator.app, host=host, port=port, log_config=None)


def _with_database(settings: Settings) -> tuple[Settings, EmbeddedPostgres | None]:
    """DATABASE_URL, or the embedded PostgreSQL of DATA_DIR (joined if running)."""
    if settings.database_url is not None:
        return settings, None
    from app.embedded import EmbeddedPostgres  # default run only

    embedded = EmbeddedPostgres(settings.data_dir)
    return settings.model_copy(update={"database_url": embedded.start()}), embedded


def reconcile(since: datetime | None, until: datetime | None) -> int:
    """Check open intents with QPay now, then compare QPay's payment list for
    the period with the payments table; 1 when something needs a person."""
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    end = until or datetime.now(UTC)
    start = since or end - timedelta(days=1)
    if start >= end:
        sys.stderr.write("reconcile: --since must be before --until\n")
        return 2
    settings, embedded = _with_database(settings)
    try:
        report = asyncio.run(_reconcile(settings, start, end))
    finally:
        if embedded is not None:
            embedded.stop()
    _print_intents(report)
    _print_ledger(report, start, end)
    return 1 if report.needs_person else 0


async def _reconcile(
    settings: Settings, start: datetime, end: datetime
) -> ReconcileReport:
    from app.bootstrap import build_container, close_container

    container = build_container(settings, remote_simulator=True)

    def progress(page: int, read: int, total: int) -> None:
        say(f"  QPay payment list, page {page}: {read} of {total} payments read")

    try:
        say(f"Checking open QPay intents ({container.gateway.environment.value})...")
        return await reconcile_report(
            start,
            end,
            uow=container.uow,
            gateway=container.gateway,
            clock=container.clock,
            progress=progress,
        )
    finally:
        await close_container(container)


def _print_intents(report: ReconcileReport) -> None:
    now = datetime.now(UTC)
    say(
        f"{'intent':36}  {'invoice':36}  {'before':12}  {'after':12}  "
        f"{'amount':>14}  {'paid':>14}  age"
    )
    for row in report.intents:
        age = int((now - row.created_at).total_seconds())
        after = row.after.value if row.after else f"ERROR {row.error}"
        say(
            f"{row.intent_id!s:36}  {row.invoice_id!s:36}  {row.before.value:12}  "
            f"{after:12}  {row.amount:>14}  {row.paid_amount:>14}  {age}s"
        )
    review = sum(1 for row in report.intents if row.needs_review)
    say(f"{len(report.intents)} open intents checked; {review} need review")


def _print_ledger(report: ReconcileReport, start: datetime, end: datetime) -> None:
    period = f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC"
    ledger = report.ledger
    if ledger is None:
        say(f"QPay's payment list ({period}) could not be read: {report.ledger_error}")
    else:
        say(
            f"QPay's payment list ({period}): {ledger.listed} payments on "
            f"{ledger.pages} page(s); {len(ledger.recorded)} were missing here "
            "and are now recorded"
        )
        for payment in ledger.recorded:
            say(
                f"  recorded  {payment.qpay_payment_id or '':36}  "
                f"{payment.amount:>14} {payment.currency}  intent {payment.intent_id}"
            )
        for refund in ledger.refunds:
            say(
                f"  refunded  payment {refund.payment_id}  {refund.amount:>14}  "
                f"({refund.channel.value}: found refunded at QPay)"
            )
        for intent_id in ledger.failed:
            say(f"  NOT CHECKED  intent {intent_id}: QPay did not answer")
    for receipt in report.failed_receipts:
        say(
            f"  e-Barimt FAILED  payment {receipt.payment_id}: "
            f"{receipt.last_error or 'no reason recorded'}"
        )
    say(f"{len(report.open_flags)} ledger finding(s) need a person")
    if report.open_flags:
        say(f"{'kind':12}  {'QPay payment':36}  {'amount':>14}  detail")
        for flag in report.open_flags:
            amount = f"{flag.amount} {flag.currency or ''}" if flag.amount else "?"
            say(
                f"{flag.kind.value:12}  {flag.qpay_payment_id:36}  {amount:>14}  "
                f"{flag.detail}"
            )


def _moment(text: str) -> datetime:
    """An ISO-8601 date or time for --since/--until; naive means UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 date or time, e.g. 2026-11-30T08:00"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def demo(total: str) -> int:
    """Create a demo invoice and QPay intent on the running development
    service and print the checkout URL (refused in production)."""
    settings = _settings()
    if settings.is_production:
        sys.stderr.write("demo is refused when ENVIRONMENT=production\n")
        return 2
    token_value = StaffTokens(jwt_secret(settings)).issue(
        subject="demo", ttl_seconds=600
    )
    try:
        url = asyncio.run(_demo(settings.public_base_url, token_value, total))
    except DemoError as error:
        sys.stderr.write(f"demo failed: {error}\n")
        return 1
    say('Open the checkout page and press "Simulate payment":')
    say(url)
    return 0


class DemoError(Exception):
    pass


async def _demo(base_url: str, token_value: str, total: str) -> str:
    create_invoice = (
        "mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) "
        "{ invoice { id } errors { code message } } }"
    )
    create_qpay = (
        "mutation($input: CreateQPayInvoiceInput!) { createQPayInvoice(input: $input) "
        "{ checkoutUrl errors { code message } } }"
    )
    headers = {"Authorization": f"Bearer {token_value}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=30
    ) as client:
        try:
            created = await client.post(
                "/graphql",
                json={
                    "query": create_invoice,
                    "variables": {"input": {"total": total, "description": "Demo"}},
                },
            )
        except httpx.HTTPError as error:
            raise DemoError(
                f"no service at {base_url} ({type(error).__name__}); start it with "
                "`make run` first"
            ) from None
        invoice = created.json()["data"]["createInvoice"]
        if invoice["errors"]:
            raise DemoError(str(invoice["errors"]))
        intent = await client.post(
            "/graphql",
            json={
                "query": create_qpay,
                "variables": {"input": {"invoiceId": invoice["invoice"]["id"]}},
            },
        )
        payload = intent.json()["data"]["createQPayInvoice"]
        if payload["errors"]:
            raise DemoError(str(payload["errors"]))
        return str(payload["checkoutUrl"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="qpay-graph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the API")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    commands.add_parser("migrate", help="alembic upgrade head on DATABASE_URL")
    token_cmd = commands.add_parser("token", help="print a staff JWT")
    token_cmd.add_argument("--ttl", type=int, default=8 * 3600, help="seconds")
    token_cmd.add_argument(
        "--subject",
        default="staff",
        help="who the token speaks for (its `sub`, recorded as the actor of "
        "every staff write); default: staff",
    )
    sim_cmd = commands.add_parser("qpay-sim", help="run the QPay simulator alone")
    sim_cmd.add_argument("--host", default="127.0.0.1")
    sim_cmd.add_argument("--port", type=int, default=9000)
    reconcile_cmd = commands.add_parser(
        "reconcile",
        help="check open intents with QPay now and compare QPay's payment list "
        "with ours; exit 1 when something needs a person",
    )
    reconcile_cmd.add_argument(
        "--since",
        type=_moment,
        help="start of the period compared (ISO-8601; default: 24 h before --until)",
    )
    reconcile_cmd.add_argument(
        "--until", type=_moment, help="end of the period (ISO-8601; default: now)"
    )
    demo_cmd = commands.add_parser(
        "demo", help="create a demo invoice on the running dev service; print its URL"
    )
    demo_cmd.add_argument("--total", default="15000.00", help='e.g. "15000.00"')
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port)
    elif args.command == "migrate":
        run_migrate()
    elif args.command == "token":
        if args.ttl <= 0:
            parser.error("--ttl must be positive")
        if not valid_subject(args.subject):
            parser.error(
                f"--subject must be 1 to {MAX_SUBJECT_LENGTH} printable characters"
            )
        token(args.ttl, args.subject)
    elif args.command == "qpay-sim":
        qpay_sim(args.host, args.port)
    elif args.command == "reconcile":
        raise SystemExit(reconcile(args.since, args.until))
    elif args.command == "demo":
        raise SystemExit(demo(args.total))


if __name__ == "__main__":
    main()
