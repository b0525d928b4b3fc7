"""bench/profile.py: a py-spy raw profile becomes own CPU by library."""

from __future__ import annotations

from pathlib import Path

from bench.common import ROOT
from bench.profile import REST, breakdown, library_of, our_functions

SITE = "/venv/lib/python3.11/site-packages"


def test_our_packages_are_told_from_the_libraries_by_path() -> None:
    assert library_of(f"handle ({ROOT}/app/callback.py:250)") == "our code: app/"
    assert library_of(f"x ({ROOT}/graph/context.py:1)") == "our code: graph/"
    assert library_of(f"execute ({SITE}/graphql/execution/execute.py:1)") == (
        "Strawberry + graphql-core"
    )
    assert library_of(f"get ({SITE}/sqlalchemy/util/_collections.py:502)") == (
        "SQLAlchemy (Core, its asyncpg dialect, greenlet)"
    )
    assert library_of("match (/usr/lib/python3.11/re/__init__.py:166)") == REST


def test_own_samples_are_shared_out_and_priced_per_payment(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        f"main;handle ({ROOT}/app/callback.py:1) 30\n"
        f"main;handle ({ROOT}/app/callback.py:1);execute ({SITE}/asyncpg/c.py:2) 60\n"
        "main;run (/usr/lib/python3.11/asyncio/runners.py:118) 10\n"
        "a line py-spy never writes\n"
    )

    profile = breakdown(raw, cpu_ms_per_payment=5.0)

    assert profile["samples"] == 100
    assert profile["by_library"] == [
        ("asyncpg", 60.0, 3.0),
        ("our code: app/", 30.0, 1.5),
        ("asyncio / the event loop (native work)", 10.0, 0.5),
    ]
    assert profile["top_frames"][0] == (f"execute ({SITE}/asyncpg/c.py:2)", 60.0)


def test_our_functions_are_counted_once_per_sample_that_holds_them(
    tmp_path: Path,
) -> None:
    cli = f"serve ({ROOT}/app/cli.py:9)"
    check = f"_check_one ({ROOT}/domain/services/poll_due_intents.py:5)"
    release = f"release ({ROOT}/persistence/schedule.py:7)"
    raw = tmp_path / "raw.txt"
    raw.write_text(
        f"{cli};{check};send ({SITE}/httpx/_client.py:1) 60\n"
        # A recursive frame counts once for its sample.
        f"{cli};{check};{check};{release};execute ({SITE}/asyncpg/c.py:2) 30\n"
        "main;run (/usr/lib/python3.11/asyncio/runners.py:118) 10\n"
    )

    assert our_functions(raw) == [("_check_one", 90.0), ("release", 30.0)]
