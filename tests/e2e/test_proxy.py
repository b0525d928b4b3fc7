"""Behind a proxy: Debian's nginx, configured by deploy/nginx/qpay-graph.conf
itself (ports and paths swapped), in front of two `qpay-graph serve`
processes on one database. Each process has its own front (the shipped site
rendered twice): A takes the staff's HTTPS calls and QPay's callback, B the
patient's subscription over wss, so the push crosses processes. The QPay
simulator calls back over HTTPS through the proxy, trusting a certificate
made for this test.

Skipped where /usr/sbin/nginx is missing (.ci/run installs Debian's nginx).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import ipaddress
import os
import pwd
import signal
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.typing import Origin

from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests.conftest import TEST_JWT_SECRET
from tests.e2e.servers import (
    ServiceProcess,
    first_mark_done,
    free_port,
    serve_in_process,
)
from tests.e2e.ws import PROTOCOL, GraphQLSocket
from tests.gql import CREATE_INVOICE, CREATE_QPAY, data_of, gql

NGINX = Path("/usr/sbin/nginx")
SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "qpay-graph.conf"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.db,
    pytest.mark.anyio,
    pytest.mark.skipif(
        not NGINX.exists(),
        reason="no /usr/sbin/nginx: install Debian's nginx package "
        "(.ci/run does) to run the proxy test",
    ),
]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass(frozen=True)
class Front:
    """One rendering of the shipped site: its three listening ports."""

    name: str
    https: int
    http: int
    internal: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.https}/graphql"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal}"


def render_site(
    front: Front, upstream_port: int, tls: tuple[Path, Path], prefix: Path
) -> str:
    """deploy/nginx/qpay-graph.conf with test ports, paths and names.

    Only what an operator also changes is swapped (addresses, certificate
    and log paths), plus the site's own names, so that two renderings fit in
    one nginx; every location, header and timeout is the shipped one. Logs
    go under `prefix` (the nginx prefix)."""
    swaps = {
        # First: the paths put in below must not be renamed.
        "qpay_graph": f"qpay_graph_{front.name}",
        "listen 443 ssl;": f"listen 127.0.0.1:{front.https} ssl;",
        "listen [::]:443 ssl;": "",
        "listen 80;": f"listen 127.0.0.1:{front.http};",
        "listen [::]:80;": "",
        "listen 127.0.0.1:9180;": f"listen 127.0.0.1:{front.internal};",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "/etc/letsencrypt/live/pay.example.mn/fullchain.pem": str(tls[0]),
        "/etc/letsencrypt/live/pay.example.mn/privkey.pem": str(tls[1]),
        "/var/log/nginx/qpay-graph.": f"{prefix}/logs/{front.name}.",
        "/var/www/html": f"{prefix}/acme",
    }
    text = SITE.read_text(encoding="utf-8")
    for old, new in swaps.items():
        assert old in text, f"{SITE} no longer holds {old!r}: update this test"
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx in the foreground under a prefix of its own, as the current
    user, logging there; serves the given sites."""

    def __init__(self, prefix: Path, sites: dict[str, str]) -> None:
        self.prefix = prefix
        self.error_log = prefix / "logs" / "error.log"
        self.conf = prefix / "nginx.conf"
        self.process: subprocess.Popen[bytes] | None = None
        for directory in ("logs", "temp", "acme"):
            (prefix / directory).mkdir(parents=True, exist_ok=True)
        includes = []
        for name, text in sites.items():
            (prefix / f"site-{name}.conf").write_text(text, encoding="utf-8")
            includes.append(f"    include {prefix}/site-{name}.conf;")
        temp = "\n".join(
            f"    {kind}_temp_path {prefix}/temp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx would hand its workers to `nobody`: keep ours.
        user = (
            f"user {pwd.getpwuid(os.geteuid()).pw_name} "
            f"{grp.getgrgid(os.getegid()).gr_name};\n"
            if os.geteuid() == 0
            else ""
        )
        self.conf.write_text(
            f"{user}worker_processes 1;\n"
            f"pid {prefix}/nginx.pid;\n"
            f"error_log {self.error_log} warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"{temp}\n"
            f"    access_log {prefix}/logs/access.log;\n"
            + "\n".join(includes)
            + "\n}\n",
            encoding="utf-8",
        )

    def command(self, *extra: str) -> list[str]:
        # -e: the error log before the configuration is read (not /var/log).
        return [
            str(NGINX),
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.conf),
            "-e",
            str(self.error_log),
            *extra,
        ]

    async def start(self, ports: list[int]) -> None:
        checked = await asyncio.to_thread(
            subprocess.run,
            self.command("-t", "-q"),
            capture_output=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr.decode()
        self.process = subprocess.Popen(  # noqa: S603  # a fixed command
            self.command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with asyncio.timeout(20):
            for port in ports:
                while not await self._accepts(port):
                    if self.process.poll() is not None:
                        raise RuntimeError(f"nginx exited: {self.errors()}")
                    await asyncio.sleep(0.05)

    @staticmethod
    async def _accepts(port: int) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    def errors(self) -> str:
        if not self.error_log.exists():
            return ""
        return self.error_log.read_text(encoding="utf-8", errors="replace")[-3000:]

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
        try:
            await asyncio.wait_for(asyncio.to_thread(self.process.wait), 15)
        except TimeoutError:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


class BehindProxy(ServiceProcess):
    """`qpay-graph serve` whose PUBLIC_BASE_URL is its front's https URL.

    ServiceProcess exports `url` as PUBLIC_BASE_URL and polls `url`/readyz:
    here `url` is the public one, and readiness is asked directly."""

    def __init__(
        self, env: dict[str, str], port: int, log: Path, public_url: str
    ) -> None:
        super().__init__(env, port, log)
        self.direct_url = self.url
        self.url = public_url

    async def wait_ready(self, within: float = 60.0) -> None:
        public, self.url = self.url, self.direct_url
        try:
            await super().wait_ready(within)
        finally:
            self.url = public


@dataclass
class Deployment:
    a: BehindProxy
    b: BehindProxy
    front_a: Front
    front_b: Front
    tls: ssl.SSLContext
    simulator: QPaySimulator
    nginx: Nginx


@contextlib.asynccontextmanager
async def behind_nginx(database_url: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    """Two serve processes (events over PostgreSQL), each behind its
    rendering of the shipped site, and a QPay simulator that calls back over
    HTTPS trusting the test certificate."""
    certificate = self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(cafile=str(certificate[0]))
    async with httpx.AsyncClient(verify=tls, timeout=10) as qpay_http:
        simulator = QPaySimulator(callback_http=qpay_http)
        async with serve_in_process(simulator.app) as simulator_url:
            fronts = [
                Front(name, free_port(), free_port(), free_port()) for name in "ab"
            ]
            env = {
                "DATABASE_URL": database_url,
                "EVENTS_URL": "postgres",
                "QPAY_ENV": "sandbox",
                "QPAY_BASE_URL": f"{simulator_url}/v2",
                "QPAY_CLIENT_ID": "TEST_MERCHANT",
                "QPAY_CLIENT_SECRET": "123456",
                "QPAY_INVOICE_CODE": "TEST_INVOICE",
                "AUTH_JWT_SECRET": TEST_JWT_SECRET,
                "DATA_DIR": str(tmp_path / "data"),
                "LOG_LEVEL": "WARNING",
                # Pushes only: no safety-net re-read within the test.
                "WATCH_REFRESH_SECONDS": "600",
                # nginx connects from here: its X-Forwarded-* are believed.
                "FORWARDED_ALLOW_IPS": "127.0.0.1",
                # Not "*": the checkout page's socket must pass as same-origin.
                "ALLOWED_ORIGINS": "https://staff.example.mn",
            }
            a, b = (
                BehindProxy(env, free_port(), tmp_path / f"{f.name}.log", f.url)
                for f in fronts
            )
            prefix = tmp_path / "nginx"
            nginx = Nginx(
                prefix,
                {
                    front.name: render_site(front, process.port, certificate, prefix)
                    for front, process in zip(fronts, (a, b), strict=True)
                },
            )
            try:
                await nginx.start(
                    [port for f in fronts for port in (f.https, f.http, f.internal)]
                )
                await asyncio.gather(a.start(), b.start())
                yield Deployment(a, b, fronts[0], fronts[1], tls, simulator, nginx)
            except BaseException:
                errors = nginx.errors()
                if errors:
                    print(f"nginx error log:\n{errors}")  # noqa: T201  # shown on failure
                raise
            finally:
                await asyncio.gather(a.stop(), b.stop())
                await nginx.stop()
        await simulator.aclose()


@pytest.fixture
async def deployment(clean_db: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    async with behind_nginx(clean_db, tmp_path) as running:
        yield running


def accepted_callbacks(metrics: str) -> float:
    """qpay_callbacks_total{outcome="accepted"} of one process."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "qpay_callbacks_total"
        and sample.labels.get("outcome") == "accepted"
    )


async def test_a_payment_through_nginx_reaches_the_wss_subscriber_on_the_other_process(
    deployment: Deployment,
) -> None:
    d = deployment
    token = StaffTokens(TEST_JWT_SECRET).issue(subject="proxy-e2e")
    async with httpx.AsyncClient(verify=d.tls, timeout=30) as staff:
        graphql = f"{d.front_a.url}/graphql"
        invoice = data_of(
            await gql(
                staff,
                CREATE_INVOICE,
                {"input": {"total": "15000.00"}},
                token=token,
                url=graphql,
            )
        )["createInvoice"]["invoice"]
        created = data_of(
            await gql(
                staff,
                CREATE_QPAY,
                {"input": {"invoiceId": invoice["id"]}},
                token=token,
                url=graphql,
            )
        )["createQPayInvoice"]
        intent = created["intent"]
        page = await staff.get(created["checkoutUrl"])

        # As the checkout page's browser would: Origin is the page's own.
        async with connect(
            d.front_b.ws_url,
            ssl=d.tls,
            origin=Origin(d.front_b.url),
            subprotocols=[PROTOCOL],
            compression=None,
            open_timeout=10,
        ) as connection:
            patient = GraphQLSocket(connection)
            await patient.init()
            try:
                sub = await patient.payment_status(
                    intent["id"], created["clientSecret"]
                )
                await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")
                await first_mark_done(d.a.env["DATABASE_URL"], intent["id"])
                d.simulator.pay(intent["qpayInvoiceId"])
                await sub.wait_for(lambda e: e["intent"]["status"] == "PAID", within=40)
            finally:
                await patient.close()
        await d.simulator.wait_callbacks()
        metrics_a = (await staff.get(f"{d.a.direct_url}/metrics")).text
        metrics_b = (await staff.get(f"{d.b.direct_url}/metrics")).text

    # The checkout link is the public https one, and it opens through nginx.
    assert created["checkoutUrl"].startswith(f"{d.front_a.url}/checkout/{intent['id']}")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    # QPay called the URL process A made, over HTTPS through A's front...
    assert d.simulator.callbacks_sent
    for sent in d.simulator.callbacks_sent:
        assert sent["url"].startswith(
            f"{d.front_a.url}/qpay/callback/{intent['id']}?"
        ), sent
        assert sent["status"] == 200, sent
    assert accepted_callbacks(metrics_a) >= 1
    assert accepted_callbacks(metrics_b) == 0
    # ...and the patient on process B, over wss, heard the payment.
    assert sub.statuses() == ["PENDING", "PAID"]
    assert sub.events[-1]["settled"] is True


async def test_only_public_routes_answer_through_nginx_and_the_app_sees_https(
    deployment: Deployment,
) -> None:
    d = deployment
    public, internal, direct = d.front_a.url, d.front_a.internal_url, d.a.direct_url
    async with httpx.AsyncClient(verify=d.tls, timeout=10) as client:
        answers = {
            path: (
                (await client.get(f"{public}{path}")).status_code,
                (await client.get(f"{internal}{path}")).status_code,
                (await client.get(f"{direct}{path}")).status_code,
            )
            for path in ("/metrics", "/readyz", "/healthz", "/qpay-sim/v2/auth/token")
        }
        # Starlette answers a trailing slash with a redirect built from the
        # request's scheme: https only if the app believed X-Forwarded-Proto.
        through_proxy = await client.get(f"{public}/checkout/some-intent/")
        straight = await client.get(f"{direct}/checkout/some-intent/")
        plain = await client.get(f"http://127.0.0.1:{d.front_a.http}/graphql")

    # (public, internal listener, the app's own port)
    assert answers == {
        "/metrics": (404, 200, 200),
        "/readyz": (404, 200, 200),
        "/healthz": (200, 404, 200),
        "/qpay-sim/v2/auth/token": (404, 404, 404),
    }
    assert through_proxy.status_code == 307
    assert through_proxy.headers["location"] == f"{public}/checkout/some-intent"
    assert straight.headers["location"] == f"{direct}/checkout/some-intent"
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/graphql"
