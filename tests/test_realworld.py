"""Real n8n exports (``../shared/n8n-realworld/workflows``): each must validate, or fail only for node types
tenantflow does not have (UNKNOWN_NODE_TYPE), as a user migrating from n8n expects.

Not every export does yet (issue 10). ``realworld_expected.txt`` lists those that do; a listed file that
stops validating fails this test, and a file that starts validating is reported so it can be listed.
"""

from __future__ import annotations

from pathlib import Path

from tenantflow.nodes import default_registry
from tenantflow.regressions import realworld_report

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "n8n-realworld" / "workflows"
EXPECTED = ROOT / "tests" / "realworld_expected.txt"


def test_listed_real_exports_still_validate() -> None:
    assert CORPUS.is_dir(), f"the real-export corpus is missing at {CORPUS}"
    report = realworld_report(CORPUS, default_registry(plugins=False))
    refused = report.refusals
    expected = {line.strip() for line in EXPECTED.read_text().splitlines() if line.strip()}
    assert expected <= refused.keys(), f"listed but not found: {sorted(expected - refused.keys())}"
    accepted = report.accepted
    print(
        f"\nn8n real exports: {len(accepted)} of {len(refused)} validate (UNKNOWN_NODE_TYPE aside); "
        f"refusals by code: {dict(report.by_code.most_common())}"
    )
    regressions = [f"{name}: {refused[name]}" for name in sorted(expected - accepted)]
    assert not regressions, "listed exports no longer validate:\n" + "\n".join(regressions)
    unlisted = sorted(accepted - expected)
    assert not unlisted, "these validate now; list them in realworld_expected.txt:\n" + "\n".join(unlisted)
