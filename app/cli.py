"""The `qpay-graph` command: serve, migrate, token, qpay-sim, reconcile, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import httpx
import uvicorn

from app import migrate
from app.logging_setup import configure_logging
from app.server import DrainingServer, uvicorn_config
from app.settings import ConfigError, Settings, load_settings
from app.staff_tokens import StaffTokens, jwt_secret
from app.workers import (
    WorkerSupervisor,
    bind,
    shared_parts_problem,
    worker_environment,
)
from domain.services.reconcile import ReconcileReport
from domain.services.reconcile import reconcile as reconcile_report

if TYPE_CHECKING:
    from app.embedded import EmbeddedPostgres

logger = logging.getLogger("qpay_graph")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        for line in str(error).splitlines():
            sys.stderr.write(f"configuration error: {line}\n")
        raise SystemExit(2) from None


def serve(
    host: str, port: int, *, workers: int = 1, run_migrations: bool = True
) -> None:
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if workers > 1:
        _refuse_workers_without_shared_parts(settings, workers)
    if "public_base_url" not in settings.model_fields_set:
        # QPay's callbacks and checkout links must reach the port we serve on.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.model_copy(
            update={"public_base_url": f"http://{shown}:{port}"}
        )
    # Listen first: a busy port is one line, before any banner or token.
    try:
        sock = bind(host, port)
    except OSError as error:
        _fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
    settings, embedded = _with_database(settings)
    try:
        assert settings.database_url is not None  # noqa: S101  # set just above
        _prepare_database(settings.database_url, run_migrations)
        # uvicorn re-raises the signal that stopped it once it has shut down;
        # a stop by SIGTERM or Ctrl-C is a clean stop: exit 0, no traceback,
        # and the `finally` below still stops the embedded PostgreSQL.
        signal.signal(signal.SIGTERM, _clean_stop)
        signal.signal(signal.SIGINT, _clean_stop)
        signal.signal(signal.SIGHUP, _hang_up)
        if workers > 1:
            _serve_workers(settings, host, port, sock, workers)
        else:
            _serve_here(settings, host, port, sock)
    finally:
        sock.close()
        if embedded is not None:
            embedded.stop()


def _serve_here(settings: Settings, host: str, port: int, sock: socket.socket) -> None:
    from app.main import create_app  # after migrations

    app = create_app(settings)
    for line in serve_banner(settings, f"http://{host}:{port}"):
        say(line)
    config = uvicorn_config(app, settings, host=host, port=port)
    # Everything built so far (modules, the schema, SQLAlchemy's tables)
    # lives as long as the process: moved out of the collector's reach,
    # a full collection under load walks only what requests made. With
    # 2,000 subscriptions arriving at once, /healthz's slowest answer
    # went from about 780 ms to 440 ms (bench/hostile.py).
    gc.freeze()
    DrainingServer(config, app.state.runtime.drain).run(sockets=[sock])


def _serve_workers(
    settings: Settings, host: str, port: int, sock: socket.socket, workers: int
) -> None:
    """app/workers.py: each worker reads its settings from the environment,
    so what this process decided (the database, the public URL) goes there."""
    assert settings.database_url is not None  # noqa: S101  # set by serve
    os.environ.update(
        worker_environment(
            {
                "DATABASE_URL": settings.database_url,
                "PUBLIC_BASE_URL": settings.public_base_url or "",
            },
            settings.qpay_max_checks_per_second,
            workers,
        )
    )
    lines = serve_banner(settings, f"http://{host}:{port}")
    lines[0] += f" ({workers} workers)"
    for line in lines:
        say(line)
    status = WorkerSupervisor(host, port, sock, workers).run()
    if status:
        raise SystemExit(status)


def _refuse_workers_without_shared_parts(settings: Settings, workers: int) -> None:
    """Several workers must share what one process keeps in memory."""
    problem = shared_parts_problem(settings)
    if problem is not None:
        _fail(f"--workers {workers} {problem}", status=2)


def _prepare_database(url: str, run_migrations: bool) -> None:
    """Migrate (or, with --no-migrate, check the schema is at head); one line
    naming DATABASE_URL when the database cannot be reached."""
    with _database_reached(url):
        if run_migrations:
            migrate.upgrade(url)
        elif not migrate.at_head(url):
            _fail(
                "the database is not migrated to this version: run "
                "`qpay-graph migrate` first (or serve without --no-migrate)",
                status=2,
            )


@contextlib.contextmanager
def _database_reached(url: str) -> Iterator[None]:
    """A database out of reach (refused, unknown, timed out) as one line
    naming DATABASE_URL, exit 1; any other failure keeps its traceback."""
    try:
        yield
    except Exception as error:
        problem = migrate.database_problem(error)
        if problem is None:
            raise
        _fail(f"DATABASE_URL ({migrate.shown(url)}): {problem}")


def _fail(message: str, status: int = 1) -> NoReturn:
    sys.stderr.write(f"qpay-graph: {message}\n")
    raise SystemExit(status)


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


def _clean_stop(signum: int, frame: FrameType | None) -> None:
    """uvicorn's re-raised stop signal, once it has shut down: a clean exit."""
    raise SystemExit(0)


def _hang_up(signum: int, frame: FrameType | None) -> None:
    """A closed terminal (SIGHUP) stops serve as SIGTERM does: drained, and
    the embedded PostgreSQL stopped, not left running (uvicorn and the
    worker supervisor handle SIGTERM; SIGHUP would end the process as is)."""
    os.kill(os.getpid(), signal.SIGTERM)


def run_migrate() -> None:
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.database_url is None:
        sys.stderr.write("configuration error: DATABASE_URL: required for migrate\n")
        raise SystemExit(2)
    with _database_reached(settings.database_url):
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
        assert settings.database_url is not None  # noqa: S101  # set just above
        with _database_reached(settings.database_url):
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


SETTINGS_HELP = """
Settings come from the environment (or a .env file in the working directory);
.env.example lists them all. The ones most runs need: DATABASE_URL (default:
an embedded PostgreSQL in DATA_DIR), ENVIRONMENT (development or production),
AUTH_JWT_SECRET, QPAY_ENV with QPAY_CLIENT_ID, QPAY_CLIENT_SECRET and
QPAY_INVOICE_CODE (default: the built-in QPay simulator), PUBLIC_BASE_URL,
EVENTS_URL, FORWARDED_ALLOW_IPS, LOG_LEVEL and LOG_FORMAT.
"""


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=SETTINGS_HELP,
        formatter_class=HelpFormatter,
    )


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default shown after its help."""


def _workers(text: str) -> int:
    count = int(text)
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError("must be 1 to 64")
    return count


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="qpay-graph",
        description=__doc__,
        epilog=SETTINGS_HELP,
        formatter_class=HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = _command(
        commands,
        "serve",
        "run the API",
        "Serve GraphQL (/graphql, HTTP and websocket), the QPay callback, the "
        "checkout page and /metrics; run the poller, the ledger sweep and the "
        "e-Barimt worker. Migrates the database first unless --no-migrate. "
        "Without DATABASE_URL an embedded PostgreSQL is started in DATA_DIR "
        "(and stopped on exit); without QPay credentials the built-in QPay "
        "simulator answers (development only).",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve_cmd.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve_cmd.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="worker processes sharing the port (each drains on SIGTERM); more "
        "than 1 needs a real QPay (not the built-in simulator) and EVENTS_URL "
        "postgres or redis://; QPAY_MAX_CHECKS_PER_SECOND is split among them",
    )
    serve_cmd.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not run migrations (deployments that run `qpay-graph migrate` as "
        "a step of their own); refuses to start on a database not at head",
    )
    _command(
        commands,
        "migrate",
        "apply the database migrations (alembic upgrade head)",
        "Bring DATABASE_URL's schema to this version (DATABASE_URL is required "
        "here: no embedded PostgreSQL). Safe to run from several hosts at once: "
        "they queue on a PostgreSQL advisory lock.",
    )
    token_cmd = _command(
        commands,
        "token",
        "print a staff JWT",
        "Print a staff token signed with AUTH_JWT_SECRET (or the development "
        "secret in DATA_DIR), for the Authorization header or connection_init.",
    )
    token_cmd.add_argument(
        "--ttl", type=int, default=8 * 3600, help="lifetime in seconds"
    )
    token_cmd.add_argument(
        "--subject",
        default="staff",
        help="who the token speaks for (its `sub`, recorded as the actor of "
        "every staff write)",
    )
    sim_cmd = _command(
        commands,
        "qpay-sim",
        "run the QPay simulator alone",
        "Serve the QPay simulator (QPay's v2 API, TEST_MERCHANT / 123456, "
        "invoice code TEST_INVOICE) for services started with QPAY_ENV=sandbox "
        "and QPAY_BASE_URL=http://HOST:PORT/v2; its control API is under /_sim.",
    )
    sim_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim_cmd.add_argument("--port", type=int, default=9000, help="port to listen on")
    reconcile_cmd = _command(
        commands,
        "reconcile",
        "check open intents with QPay now and compare QPay's payment list with "
        "ours; exit 1 when something needs a person",
        "Ask QPay about every PENDING intent, read QPay's payment list for the "
        "period, record what is missing (payments, refunds made in QPay's "
        "portal) and print what needs a person. Exit 1 when that is not empty "
        "or QPay could not be asked, 0 otherwise.",
    )
    reconcile_cmd.add_argument(
        "--since",
        type=_moment,
        help="start of the period compared (ISO-8601; default: 24 h before --until)",
    )
    reconcile_cmd.add_argument(
        "--until", type=_moment, help="end of the period (ISO-8601; default: now)"
    )
    demo_cmd = _command(
        commands,
        "demo",
        "create a demo invoice on the running dev service; print its URL",
        "Create an invoice and its QPay QR on the service at PUBLIC_BASE_URL "
        "(default http://127.0.0.1:8000) and print the checkout link.",
    )
    demo_cmd.add_argument("--total", default="15000.00", help='e.g. "15000.00"')
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(
            args.host,
            args.port,
            workers=args.workers,
            run_migrations=not args.no_migrate,
        )
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
