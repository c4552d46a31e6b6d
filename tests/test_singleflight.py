"""SingleFlight: one call per key among concurrent callers; failures shared or each caller's own."""

from __future__ import annotations

import asyncio

import pytest

from tenantflow.singleflight import SingleFlight

pytestmark = pytest.mark.anyio


async def test_concurrent_callers_share_one_call_and_later_ones_call_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def call() -> int:
        nonlocal calls
        calls += 1
        number = calls
        await asyncio.sleep(0.01)
        return number

    assert await asyncio.gather(*(flight.run("k", call) for _ in range(5))) == [1] * 5
    assert await flight.run("k", call) == 2  # nothing is cached: a call ends when it returns
    assert sorted(await asyncio.gather(flight.run("a", call), flight.run("b", call))) == [3, 4]


@pytest.mark.parametrize(("share", "expected_calls"), [(True, 1), (False, 3)])
async def test_a_failure_is_shared_or_each_callers_own(share: bool, expected_calls: int) -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def fail() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise LookupError("refused")

    results = await asyncio.gather(
        *(flight.run("k", fail, share_failures=share) for _ in range(3)), return_exceptions=True
    )
    assert calls == expected_calls
    assert all(isinstance(result, LookupError) for result in results)
