"""The structure ``junit-10.xsd`` allows — the JUnit dialect Jenkins' xUnit plugin validates against and pytest's
``junitxml`` writes — as data, and a check of an XML document against it.

Not a general XSD validator: it encodes that one schema's elements, their attributes (required and optional),
which children each may hold, where text may stand, and the pattern of a suite's ``time``. What the schema
refuses, a CI system that validates drops: ``<properties>`` inside a ``<testcase>``, a ``skipped`` count on
``<testsuites>``.

    assert junit10_problems(xml_text) == []
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    required: frozenset[str] = frozenset()  # attributes
    optional: frozenset[str] = frozenset()
    children: frozenset[str] = frozenset()  # elements it may hold, in any order and number
    text: bool = False  # may hold text (simple or mixed content)


def _rule(required: str = "", optional: str = "", children: str = "", text: bool = False) -> Rule:
    return Rule(frozenset(required.split()), frozenset(optional.split()), frozenset(children.split()), text)


_RESULT = _rule(optional="type message", text=True)
_RERUN = _rule(required="type", optional="message", children="stackTrace system-out system-err", text=True)
RULES = {
    "testsuites": _rule(optional="name time tests failures errors", children="testsuite"),
    "testsuite": _rule(required="name tests failures errors",
                       optional="group time skipped timestamp hostname id package file log url",
                       children="testsuite properties testcase system-out system-err"),
    "testcase": _rule(required="name", optional="time classname group",
                      children="skipped error failure rerunFailure rerunError flakyFailure flakyError "
                               "system-out system-err"),
    "properties": _rule(children="property"),
    "property": _rule(required="name value"),
    "failure": _RESULT,
    "error": _RESULT,
    "skipped": _RESULT,
    "system-out": _rule(text=True),
    "system-err": _rule(text=True),
    "stackTrace": _rule(text=True),
    "rerunFailure": _RERUN,
    "rerunError": _RERUN,
    "flakyFailure": _RERUN,
    "flakyError": _RERUN,
}
ROOTS = ("testsuites", "testsuite")
# SUREFIRE_TIME, the type of ``time`` on a suite and on ``<testsuites>``: digits (with thousands commas), a fraction.
_SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")
_TIMED = ("testsuites", "testsuite")


def junit10_problems(document: str) -> list[str]:
    """Everything in ``document`` that ``junit-10.xsd`` refuses, one line each; empty when it conforms."""
    root = ET.fromstring(document.encode("utf-8") if document.startswith("<?xml") else document)
    problems = [] if root.tag in ROOTS else [f"the root is <{root.tag}>, not one of {', '.join(ROOTS)}"]
    _check(root, f"/{root.tag}", problems)
    return problems


def _check(element: ET.Element, path: str, problems: list[str]) -> None:
    rule = RULES.get(element.tag)
    if rule is None:
        problems.append(f"{path}: <{element.tag}> is not an element of the schema")
        return
    attributes = set(element.attrib)
    problems += [f"{path}: lacks the required attribute {name!r}" for name in sorted(rule.required - attributes)]
    unknown = attributes - rule.required - rule.optional
    problems += [f"{path}: attribute {name!r} is not allowed" for name in sorted(unknown)]
    if element.tag in _TIMED and "time" in element.attrib and not _SUREFIRE_TIME.fullmatch(element.attrib["time"]):
        problems.append(f"{path}: time {element.attrib['time']!r} is not a SUREFIRE_TIME")
    texts = [element.text or "", *((child.tail or "") for child in element)]
    if not rule.text and any(text.strip() for text in texts):
        problems.append(f"{path}: text is not allowed in <{element.tag}>")
    for index, child in enumerate(element):
        where = f"{path}/{child.tag}[{index}]"
        if child.tag not in rule.children:
            problems.append(f"{where}: <{child.tag}> is not allowed inside <{element.tag}>")
        else:
            _check(child, where, problems)
