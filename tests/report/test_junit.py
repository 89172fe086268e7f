"""JUnit XML: one test case per threshold, failures carry observed vs limit,
and the counts CI systems read are right."""

from __future__ import annotations

from xml.etree import ElementTree

from fleetsim.report.junit import junit_xml
from fleetsim.report.thresholds import Verdict

VERDICTS = [
    Verdict("BootNotification.p99 < 2s", True, 125.0, 2000.0, "ms", "p99 ...: 125 ms < 2 s"),
    Verdict("errors.rate < 0.1%", False, 0.0015, 0.001, "share", "errors.rate ...: 0.15% not < 0.1%"),
    Verdict("Authorize.p99 < 1s & <friends>", False, None, 1000.0, "ms", "the run never saw Authorize"),
]


def test_one_test_case_per_threshold_with_the_counts() -> None:
    text = junit_xml(VERDICTS, properties={"run_id": "r1"}, timestamp="2025-01-01T12:00:00+00:00")
    root = ElementTree.fromstring(text)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == ("3", "2", "0")
    assert suite.get("timestamp") == "2025-01-01T12:00:00"
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [v.expression for v in VERDICTS]  # escaped and read back
    assert [case.find("failure") is None for case in cases] == [True, False, False]
    assert suite.find("properties/property[@name='run_id']").get("value") == "r1"


def test_a_failure_carries_observed_and_limit() -> None:
    suite = ElementTree.fromstring(junit_xml(VERDICTS)).find("testsuite")
    failure = suite.findall("testcase")[1].find("failure")
    assert failure.get("message") == "observed 0.15%, limit 0.1%"
    assert failure.get("type") == "ThresholdFailed"
    assert "0.15% not < 0.1%" in failure.text
    missing = suite.findall("testcase")[2].find("failure")
    assert missing.get("message") == "observed n/a, limit 1 s"
    assert "never saw Authorize" in missing.text


def test_no_thresholds_is_an_empty_suite() -> None:
    root = ElementTree.fromstring(junit_xml([]))
    assert (root.get("tests"), root.get("failures")) == ("0", "0")
    assert root.find("testsuite").findall("testcase") == []


def test_a_threshold_that_aborted_the_run_says_so() -> None:
    aborted = Verdict("errors.rate < 1% abort after 30s", False, 0.3, 0.01, "share",
                      "aborted the run at 31 s: errors.rate ...: 30% not < 1%", abort=True, aborted_run=True)
    failure = ElementTree.fromstring(junit_xml([aborted])).find("testsuite/testcase/failure")
    assert failure.get("message") == "aborted the run: observed 30%, limit 1%"
    assert "aborted the run at 31 s" in failure.text
