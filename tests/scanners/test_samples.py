"""Every generated malicious sample is flagged with its expected rule; every benign sample is clean."""

from __future__ import annotations

import pytest

from scanners import ScanStatus, scan_file, worst_status
from tests.scanners import make_benign, make_malicious

MALICIOUS = [spec.name for spec in make_malicious.SPECS]
BENIGN = [name for name, *_ in make_benign._BUILDERS]


def test_the_malicious_set_is_broad() -> None:
    assert len(MALICIOUS) >= 40


@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_sample_is_flagged(name: str, malicious_samples: list[make_malicious.Sample]) -> None:
    sample = next(s for s in malicious_samples if s.name == name)
    reports = scan_file(sample.path, name_hint=sample.name_hint)
    assert worst_status(reports) is ScanStatus.FLAGGED, reports
    primary = reports[0]
    assert primary.scanner == "hubgate"
    assert primary.status is ScanStatus.FLAGGED, primary
    flagged_rules = {f.rule_id for f in primary.findings if f.severity.flags}
    assert flagged_rules & set(sample.expected_rules), (sample.reference, flagged_rules)


@pytest.mark.parametrize("name", BENIGN)
def test_benign_sample_is_clean(name: str, benign_samples: list[make_benign.Sample]) -> None:
    sample = next(s for s in benign_samples if s.name == name)
    reports = scan_file(sample.path, name_hint=sample.name_hint)
    for report in reports:
        assert report.status is ScanStatus.CLEAN, report


def test_benign_samples_are_scanned_by_content_without_a_name(
    benign_samples: list[make_benign.Sample],
) -> None:
    # hubgate stores blobs by digest: formats with magic bytes must not depend on the name.
    for sample in benign_samples:
        if sample.path.suffix in {".py", ".jinja", ".pb"}:
            continue
        reports = scan_file(sample.path, name_hint=None)
        assert reports[0].status is ScanStatus.CLEAN, (sample.name, reports[0])
