"""The typed TypeScript client, clients/typescript/ (issue 17, item 3): its
generated code matches schema.graphql, it type-checks, and it pays through a
live service, with document text and in trusted-documents mode.

Node and the package's node_modules come from `make install` (npm ci from
package-lock.json); these tests install nothing, and fail (never skip) when
either is missing, so CI cannot pass without running them.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SettingsFactory
from tests.e2e.conftest import Live, live_service

# Only the two live tests are marked e2e, db and anyio (a whole service on a
# real port); the others need only node, and run alone without tripping the
# e2e log-hygiene check (tests/log_hygiene.py), which expects service logs.

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"
GENERATED = PACKAGE / "src" / "gql"
PERSISTED = GENERATED / "persisted-documents.json"
NODE_MODULES = PACKAGE / "node_modules"


def node_tools() -> tuple[str, str]:
    """node and npm, once `make install` has filled node_modules."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for clients/typescript (node 20 or later)")
    if not (NODE_MODULES / ".package-lock.json").is_file():
        pytest.fail("clients/typescript/node_modules is missing: run make install")
    return node, npm


def run(command: list[str], cwd: Path, timeout: float = 120) -> str:
    """Run `command`; its output, or a failure that shows it."""
    try:
        done = subprocess.run(  # noqa: S603  # our own tools
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{' '.join(command)} took over {timeout} s:\n{error.output}")
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {done.returncode}:\n{output}")
    return output


def regenerate(into: Path, schema: Path) -> Path:
    """Run the package's codegen in a copy of it under `into`, with `schema`
    in schema.graphql's place; the generated directory."""
    copy = into / "clients" / "typescript"
    (copy / "src").mkdir(parents=True)
    shutil.copy(PACKAGE / "codegen.ts", copy)
    shutil.copy(PACKAGE / "package.json", copy)
    shutil.copytree(PACKAGE / "src" / "operations", copy / "src" / "operations")
    (copy / "node_modules").symlink_to(NODE_MODULES)
    shutil.copy(schema, into / "schema.graphql")
    run(
        [str(NODE_MODULES / ".bin" / "graphql-codegen"), "--config", "codegen.ts"], copy
    )
    return copy / "src" / "gql"


def differences(committed: Path, generated: Path) -> list[str]:
    """What differs between two generated directories: missing or extra
    files, and the first lines of each diff."""
    names = {p.name for p in committed.iterdir()} | {
        p.name for p in generated.iterdir()
    }
    found: list[str] = []
    for name in sorted(names):
        old, new = committed / name, generated / name
        if not old.exists() or not new.exists():
            found.append(
                f"{name}: only in {'generated' if new.exists() else 'committed'}"
            )
            continue
        diff = list(
            difflib.unified_diff(
                old.read_text().splitlines(),
                new.read_text().splitlines(),
                f"committed/{name}",
                f"generated/{name}",
                lineterm="",
                n=1,
            )
        )
        if diff:
            found.append("\n".join(diff[:40]))
    return found


def test_generated_code_matches_schema_graphql(tmp_path: Path) -> None:
    node_tools()
    generated = regenerate(tmp_path, ROOT / "schema.graphql")

    drift = differences(GENERATED, generated)

    assert drift == [], (
        "clients/typescript/src/gql/ is not what schema.graphql and "
        "src/operations/ generate: run `npm run codegen` in clients/typescript "
        "and commit src/gql/\n" + "\n".join(drift)
    )


def test_drift_check_notices_a_schema_change(tmp_path: Path) -> None:
    """The check above can fail: a new enum value in a copy of the schema
    changes the generated types."""
    node_tools()
    schema = (ROOT / "schema.graphql").read_text()
    changed, count = re.subn(r"(enum InvoiceStatus \{\n)", r"\1  ARCHIVED\n", schema)
    assert count == 1
    (tmp_path / "changed.graphql").write_text(changed)
    generated = regenerate(tmp_path / "copy", tmp_path / "changed.graphql")

    drift = differences(GENERATED, generated)

    assert len(drift) == 1
    assert drift[0].startswith("--- committed/graphql.ts")
    assert '+  | "ARCHIVED"' in drift[0] or "+  | 'ARCHIVED'" in drift[0]


def test_persisted_documents_are_keyed_by_the_sha256_of_their_text() -> None:
    """The allow-list the server loads: every key is the hash of its text,
    and each operation of src/operations/ is in it once."""
    documents: dict[str, str] = json.loads(PERSISTED.read_text())
    operations = re.findall(
        r"^(?:query|mutation|subscription) (\w+)",
        "\n".join(
            path.read_text()
            for path in (PACKAGE / "src" / "operations").rglob("*.graphql")
        ),
        flags=re.MULTILINE,
    )

    assert operations
    for key, text in documents.items():
        assert hashlib.sha256(text.encode()).hexdigest() == key, text[:80]
    named = sorted(
        name
        for text in documents.values()
        for name in re.findall(r"(?:query|mutation|subscription) (\w+)", text)
    )
    assert named == sorted(operations)


def test_typecheck_passes() -> None:
    _, npm = node_tools()
    run([npm, "run", "--silent", "typecheck"], PACKAGE)


@pytest.fixture(scope="module")
def built() -> str:
    """The client and its tests compiled to build/ (node 20 runs no
    TypeScript); the path of node."""
    node, npm = node_tools()
    run([npm, "run", "--silent", "build"], PACKAGE)
    return node


def test_client_unit_tests_pass(built: str) -> None:
    output = run([built, "--test", "build/test/client.test.js"], PACKAGE)

    assert "# fail 0" in output
    assert "# skipped 0" in output


async def run_node(
    node: str, live: Live, *arguments: str, trusted: bool = False
) -> str:
    """node `arguments` in the package, told where `live` is; its output
    (the test fails when node exits non-zero)."""
    environment = {
        **os.environ,
        "QPG_URL": live.url,
        "QPG_TOKEN": live.token,
        "QPG_SIMULATOR_URL": live.simulator_url,
        "QPG_TRUSTED": "1" if trusted else "0",
    }
    # The service runs in this event loop: wait for node without blocking it.
    process = await asyncio.create_subprocess_exec(
        node,
        *arguments,
        cwd=PACKAGE,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(120):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"node {' '.join(arguments)} took over 120 s:\n{output.decode()}")
    text = output.decode()
    assert process.returncode == 0, text
    return text


async def run_pay_test(node: str, live: Live, *, trusted: bool) -> str:
    """test/pay.test.ts against `live`; its output."""
    text = await run_node(
        node, live, "--test", "build/test/pay.test.js", trusted=trusted
    )
    # It ran (a missing variable would skip it) and passed.
    assert "# pass 1" in text, text
    assert "# skipped 0" in text, text
    return text


@pytest.mark.e2e
@pytest.mark.db
@pytest.mark.anyio
async def test_node_test_pays_through_a_live_service(
    built: str, clean_db: str, make_settings: SettingsFactory
) -> None:
    async with live_service(make_settings, clean_db) as live:
        output = await run_pay_test(built, live, trusted=False)

    assert "(document text)" in output


@pytest.mark.e2e
@pytest.mark.db
@pytest.mark.anyio
async def test_node_test_pays_in_trusted_documents_mode(
    built: str, clean_db: str, make_settings: SettingsFactory
) -> None:
    """The server runs only the documents of persisted-documents.json, and
    the client sends their hashes alone."""
    async with live_service(
        make_settings, clean_db, graphql_trusted_documents=str(PERSISTED)
    ) as live:
        output = await run_pay_test(built, live, trusted=True)

    assert "(trusted documents)" in output


@pytest.mark.e2e
@pytest.mark.db
@pytest.mark.anyio
async def test_graphql_over_http_audit_suite_passes(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    """graphql-http's serverAudits (graphql-over-http.org's own suite) against
    the live service: no error, no warning, and only the optional GET
    notices (operations are POST only: docs/architecture.md). In development:
    two of the audits send their variables to `__type`, and production
    refuses introspection on purpose."""
    node, _ = node_tools()
    async with live_service(make_settings, clean_db) as live:
        output = await run_node(node, live, "scripts/audit-http.mjs")

    lines = output.strip().splitlines()
    assert lines[-1] == "all audits passed", output
    verdicts = [line.split()[0] for line in lines[:-1] if line[:1].isalpha()]
    assert verdicts.count("ok") >= 55, output
    notices = [line.split()[1] for line in lines if line.startswith("notice")]
    assert sorted(notices) == ["5A70", "6A70", "D6D5"], output
