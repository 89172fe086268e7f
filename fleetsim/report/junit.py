"""Thresholds as JUnit XML, the format CI systems (GitLab, Jenkins, GitHub
actions' test reporters) show as test results: one test case per threshold,
a failure carrying the observed value against the limit (and whether it
aborted the run).

Pure: returns the document as text; the CLI writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final
from xml.etree import ElementTree

from fleetsim.report.thresholds import Verdict, format_value

SUITE_CLASSNAME: Final = "fleetsim.thresholds"


def junit_xml(verdicts: Sequence[Verdict], *, suite: str = "fleetsim thresholds",
              properties: Mapping[str, str] | None = None, timestamp: str | None = None) -> str:
    """A ``<testsuites>`` document with one ``<testsuite>`` of the verdicts.
    ``properties`` (run id, CSMS, ...) go into the suite's ``<properties>``;
    ``timestamp`` is the run's start (ISO 8601), when known."""
    failures = sum(not verdict.passed for verdict in verdicts)
    counts = {"tests": str(len(verdicts)), "failures": str(failures), "errors": "0", "skipped": "0", "time": "0"}
    root = ElementTree.Element("testsuites", {"name": "fleetsim", **counts})
    suite_element = ElementTree.SubElement(root, "testsuite", {"name": suite, **counts})
    if timestamp:
        # JUnit's schema wants a timestamp without a zone; the run's is UTC.
        suite_element.set("timestamp", timestamp.split("+")[0].rstrip("Z"))
    if properties:
        listed = ElementTree.SubElement(suite_element, "properties")
        for name, value in properties.items():
            ElementTree.SubElement(listed, "property", {"name": name, "value": value})
    for verdict in verdicts:
        case = ElementTree.SubElement(suite_element, "testcase",
                                      {"classname": SUITE_CLASSNAME, "name": verdict.expression, "time": "0"})
        observed = format_value(verdict.observed, verdict.unit)
        limit = format_value(verdict.limit, verdict.unit)
        if verdict.passed:
            ElementTree.SubElement(case, "system-out").text = verdict.detail
        else:
            aborted = "aborted the run: " if verdict.aborted_run else ""
            failure = ElementTree.SubElement(case, "failure", {
                "message": f"{aborted}observed {observed}, limit {limit}", "type": "ThresholdFailed",
            })
            failure.text = f"{verdict.expression}\nobserved: {observed}\nlimit: {limit}\n{verdict.detail}\n"
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
