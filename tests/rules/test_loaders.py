"""Tests of the rule loaders: TOML, documentation page, plain EQL and the shipped set."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from stream.errors import RuleLoadError
from stream.rules import (
    MitreTechnique,
    MitreThreat,
    Rule,
    load_rule_file,
    load_rules,
    load_shipped_rules,
    rule_from_query,
)
from stream.rules.fields import DERIVED_RULE_ID_NAMESPACE

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SHIPPED_RULE_PAGE = SHARED / "rules" / "windows-system-network-connections-discovery.md"
ELASTIC_RULES = SHARED / "data" / "elastic-rules"
SHIPPED_RULE_ID = "c4e9ed3e-55a2-4309-a012-bc3c78dad10a"

TOML_RULE = """\
[metadata]
creation_date = "2024/01/01"
version = 7

[rule]
rule_id = "0f4a6a8e-1111-4c1e-9d51-2b8f0c8d0a01"
name = "Whoami Run By Office Application"
description = '''
Detects whoami.exe started by an Office application.
'''
type = "eql"
language = "eql"
severity = "high"
risk_score = 73
interval = "10m"
from = "now-15m"
max_signals = 50
index = ["logs-endpoint.events.process-*", "winlogbeat-*"]
author = ["Test Author"]
license = "Apache License 2.0"
references = ["https://example.org/whoami"]
tags = ["OS: Windows", "Tactic: Discovery"]
note = "ignored by the loader"

query = '''
process where process.name : "whoami.exe" and
  process.parent.name : ("winword.exe", "excel.exe")
'''

[[rule.threat]]
framework = "MITRE ATT&CK"

[[rule.threat.technique]]
id = "T1033"
name = "System Owner/User Discovery"
reference = "https://attack.mitre.org/techniques/T1033/"

[rule.threat.tactic]
id = "TA0007"
name = "Discovery"
reference = "https://attack.mitre.org/tactics/TA0007/"

[[rule.threat]]
framework = "MITRE ATT&CK"

[[rule.threat.technique]]
id = "T1059"
name = "Command and Scripting Interpreter"
reference = "https://attack.mitre.org/techniques/T1059/"

[[rule.threat.technique.subtechnique]]
id = "T1059.003"
name = "Windows Command Shell"
reference = "https://attack.mitre.org/techniques/T1059/003/"

[rule.threat.tactic]
id = "TA0002"
name = "Execution"
reference = "https://attack.mitre.org/tactics/TA0002/"
"""

MINIMAL_TOML_RULE = """\
[rule]
rule_id = "minimal-rule"
name = "Minimal"
type = "eql"
language = "eql"
query = "process where true"
"""

DOC_PAGE = """\
---
mapped_pages:
  - https://example.org/whoami-run-by-office-application.html
---

# Whoami Run By Office Application [whoami-run-by-office-application]

Detects whoami.exe started by an Office application.

**Rule type**: eql

**Rule indices**:

* logs-endpoint.events.process-*
* winlogbeat-*

**Severity**: high

**Risk score**: 73

**Runs every**: 10m

**Searches indices from**: now-15m ({{ref}}/common-options.html#date-math[Date Math format])

**Maximum alerts per execution**: 50

**References**:

* [https://example.org/whoami](https://example.org/whoami)

**Tags**:

* OS: Windows
* Tactic: Discovery
* Rule Type: BBR

**Version**: 7

**Rule authors**:

* Test Author

**Rule license**: Apache License 2.0

## Investigation guide [_investigation_guide_1]

**Triage and analysis**

* Free text that the loader ignores: **Severity**: critical

## Rule query [_rule_query_1]

```js
process where process.name : "whoami.exe" and
  process.parent.name : ("winword.exe", "excel.exe")
```

**Framework**: MITRE ATT&CKTM

* Tactic:

    * Name: Discovery
    * ID: TA0007
    * Reference URL: [https://attack.mitre.org/tactics/TA0007/](https://attack.mitre.org/tactics/TA0007/)

* Technique:

    * Name: System Owner/User Discovery
    * ID: T1033
    * Reference URL: [https://attack.mitre.org/techniques/T1033/](https://attack.mitre.org/techniques/T1033/)

* Tactic:

    * Name: Execution
    * ID: TA0002
    * Reference URL: [https://attack.mitre.org/tactics/TA0002/](https://attack.mitre.org/tactics/TA0002/)

* Technique:

    * Name: Command and Scripting Interpreter
    * ID: T1059
    * Reference URL: [https://attack.mitre.org/techniques/T1059/](https://attack.mitre.org/techniques/T1059/)

* Sub-technique:

    * Name: Windows Command Shell
    * ID: T1059.003
    * Reference URL: [https://attack.mitre.org/techniques/T1059/003/](https://attack.mitre.org/techniques/T1059/003/)
"""

EXPECTED_QUERY = (
    'process where process.name : "whoami.exe" and\n'
    '  process.parent.name : ("winword.exe", "excel.exe")'
)

EXPECTED_THREAT = (
    MitreThreat(
        framework="MITRE ATT&CK",
        tactic_id="TA0007",
        tactic_name="Discovery",
        tactic_reference="https://attack.mitre.org/tactics/TA0007/",
        techniques=(
            MitreTechnique(
                id="T1033",
                name="System Owner/User Discovery",
                reference="https://attack.mitre.org/techniques/T1033/",
            ),
        ),
    ),
    MitreThreat(
        framework="MITRE ATT&CK",
        tactic_id="TA0002",
        tactic_name="Execution",
        tactic_reference="https://attack.mitre.org/tactics/TA0002/",
        techniques=(
            MitreTechnique(
                id="T1059",
                name="Command and Scripting Interpreter",
                reference="https://attack.mitre.org/techniques/T1059/",
                subtechniques=(
                    MitreTechnique(
                        id="T1059.003",
                        name="Windows Command Shell",
                        reference="https://attack.mitre.org/techniques/T1059/003/",
                    ),
                ),
            ),
        ),
    ),
)

# Fields that the TOML file and the documentation page above state alike.
COMMON_EXPECTED_FIELDS = {
    "name": "Whoami Run By Office Application",
    "query": EXPECTED_QUERY,
    "description": "Detects whoami.exe started by an Office application.",
    "version": 7,
    "severity": "high",
    "risk_score": 73,
    "type": "eql",
    "language": "eql",
    "tags": ("OS: Windows", "Tactic: Discovery"),
    "threat": EXPECTED_THREAT,
    "max_signals": 50,
    "interval": "10m",
    "from_": "now-15m",
    "index": ("logs-endpoint.events.process-*", "winlogbeat-*"),
    "author": ("Test Author",),
    "license": "Apache License 2.0",
    "references": ("https://example.org/whoami",),
}

TOML_EXPECTED = {
    **COMMON_EXPECTED_FIELDS,
    "rule_id": "0f4a6a8e-1111-4c1e-9d51-2b8f0c8d0a01",
    "building_block_type": None,
}

DOC_PAGE_EXPECTED = {
    **COMMON_EXPECTED_FIELDS,
    "rule_id": str(uuid.uuid5(DERIVED_RULE_ID_NAMESPACE, "Whoami Run By Office Application")),
    "tags": ("OS: Windows", "Tactic: Discovery", "Rule Type: BBR"),
    "building_block_type": "default",
}

MINIMAL_TOML_EXPECTED = {
    "rule_id": "minimal-rule",
    "name": "Minimal",
    "query": "process where true",
    "description": "",
    "version": 1,
    "severity": "low",
    "risk_score": 21,
    "building_block_type": None,
    "tags": (),
    "threat": (),
    "max_signals": 100,
    "interval": "5m",
    "from_": "now-6m",
    "index": (),
    "author": (),
    "license": "",
    "references": (),
}

EQL_FILE_EXPECTED = {
    "rule_id": str(uuid.uuid5(DERIVED_RULE_ID_NAMESPACE, "net_use.eql")),
    "name": "net_use",
    "query": 'process where process.name == "net.exe"',
    "version": 1,
    "severity": "low",
    "risk_score": 21,
    "max_signals": 100,
    "interval": "5m",
    "from_": "now-6m",
    "threat": (),
}


def write_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def toml_rule(rule_id: str, name: str) -> str:
    return MINIMAL_TOML_RULE.replace("minimal-rule", rule_id).replace("Minimal", name)


@pytest.mark.parametrize(
    ("file_name", "text", "expected"),
    [
        pytest.param("whoami.toml", TOML_RULE, TOML_EXPECTED, id="toml-all-fields"),
        pytest.param("minimal.toml", MINIMAL_TOML_RULE, MINIMAL_TOML_EXPECTED, id="toml-defaults"),
        pytest.param("whoami.md", DOC_PAGE, DOC_PAGE_EXPECTED, id="doc-page"),
        pytest.param(
            "net_use.eql", '\n  process where process.name == "net.exe"\n\n', EQL_FILE_EXPECTED,
            id="plain-eql",
        ),
    ],
)
def test_load_rule_file_reads_fields(
    tmp_path: Path, file_name: str, text: str, expected: dict[str, object]
) -> None:
    path = write_file(tmp_path, file_name, text)

    [rule] = load_rule_file(path)

    for field_name, value in expected.items():
        assert getattr(rule, field_name) == value, field_name
    assert rule.source_path == str(path)


def test_toml_version_in_rule_table_wins(tmp_path: Path) -> None:
    text = TOML_RULE.replace('name = "Whoami', 'version = 9\nname = "Whoami')
    path = write_file(tmp_path, "rule.toml", text)

    [rule] = load_rule_file(path)

    assert rule.version == 9


def test_doc_page_states_rule_id(tmp_path: Path) -> None:
    text = DOC_PAGE.replace("**Version**: 7", "**Version**: 7\n\n**Rule ID**: my-own-id")
    path = write_file(tmp_path, "page.md", text)

    [rule] = load_rule_file(path)

    assert rule.rule_id == "my-own-id"


def test_doc_page_rule_id_is_stable(tmp_path: Path) -> None:
    first = write_file(tmp_path / "a", "page.md", DOC_PAGE)
    second = write_file(tmp_path / "b", "other-name.md", DOC_PAGE)

    assert load_rule_file(first)[0].rule_id == load_rule_file(second)[0].rule_id


def test_rule_from_query_defaults() -> None:
    rule = rule_from_query("  process where true \n")

    assert rule.query == "process where true"
    assert rule.name == "command-line query"
    assert rule.rule_id == str(uuid.uuid5(DERIVED_RULE_ID_NAMESPACE, "process where true"))
    assert rule.source_path is None
    assert rule == Rule(rule_id=rule.rule_id, name="command-line query", query="process where true")


def test_rule_from_query_named() -> None:
    rule = rule_from_query("process where true", name="ad hoc")

    assert rule.name == "ad hoc"


def test_rule_from_query_empty_raises() -> None:
    with pytest.raises(RuleLoadError, match="empty query"):
        rule_from_query("  \n ")


TOML_QUERY_LINES = """\
query = '''
process where process.name : "whoami.exe" and
  process.parent.name : ("winword.exe", "excel.exe")
'''
"""


def replace_case(case_id: str, old: str, new: str, fragment: str) -> object:
    """Return a case that replaces ``old`` by ``new`` and expects ``fragment`` in the error."""
    return pytest.param(old, new, fragment, id=case_id)


BAD_TOML_CASES = [
    replace_case("missing-query", TOML_QUERY_LINES, "", "missing required key [rule] query"),
    replace_case("syntax", 'severity = "high"', 'severity = "high', "invalid TOML"),
    replace_case("type-query", 'type = "eql"', 'type = "query"', "not an EQL rule"),
    replace_case("language-kuery", 'language = "eql"', 'language = "kuery"', "not an EQL rule"),
    replace_case(
        "missing-rule-id",
        'rule_id = "0f4a6a8e-1111-4c1e-9d51-2b8f0c8d0a01"\n',
        "",
        "missing required key [rule] rule_id",
    ),
    replace_case(
        "blank-rule-id",
        'rule_id = "0f4a6a8e-1111-4c1e-9d51-2b8f0c8d0a01"',
        'rule_id = "  "',
        "empty [rule] rule_id",
    ),
    replace_case(
        "missing-name",
        'name = "Whoami Run By Office Application"\n',
        "",
        "missing required key [rule] name",
    ),
    replace_case("risk-score-text", "risk_score = 73", 'risk_score = "73"', "an integer"),
    replace_case("risk-score-range", "risk_score = 73", "risk_score = 130", "risk_score 130"),
    replace_case("max-signals-bool", "max_signals = 50", "max_signals = true", "an integer"),
    replace_case("max-signals-zero", "max_signals = 50", "max_signals = 0", "max_signals 0"),
    replace_case(
        "severity", 'severity = "high"', 'severity = "extreme"', "invalid severity 'extreme'"
    ),
    replace_case("interval", 'interval = "10m"', 'interval = "10 minutes"', "invalid interval"),
    replace_case("from", 'from = "now-15m"', 'from = "15m"', "invalid from '15m'"),
    replace_case(
        "building-block-type",
        'type = "eql"',
        'type = "eql"\nbuilding_block_type = "other"',
        "invalid building_block_type 'other'",
    ),
    replace_case(
        "tags-string",
        'tags = ["OS: Windows", "Tactic: Discovery"]',
        'tags = "OS: Windows"',
        "expected an array of strings",
    ),
    replace_case("version-zero", "version = 7", "version = 0", "invalid version 0"),
    replace_case(
        "threat-without-tactic",
        '[rule.threat.tactic]\nid = "TA0002"',
        '[rule.threat.tactic_]\nid = "TA0002"',
        "missing required table [[rule.threat]] number 2 tactic",
    ),
    replace_case(
        "subtechnique-without-id",
        'id = "T1059.003"\n',
        "",
        "[[rule.threat]] number 2 technique number 1 subtechnique number 1 id",
    ),
]


@pytest.mark.parametrize(("old", "new", "fragment"), BAD_TOML_CASES)
def test_bad_toml_raises(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    assert old in TOML_RULE, "the case must change the example rule"
    path = write_file(tmp_path, "bad.toml", TOML_RULE.replace(old, new, 1))

    with pytest.raises(RuleLoadError) as caught:
        load_rule_file(path)

    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_invalid_toml_names_line(tmp_path: Path) -> None:
    path = write_file(tmp_path, "bad.toml", '[rule]\nname = "x"\nrisk_score = = 3\n')

    with pytest.raises(RuleLoadError, match=r"invalid TOML: .*line 3"):
        load_rule_file(path)


def test_bad_toml_names_rule(tmp_path: Path) -> None:
    path = write_file(tmp_path, "bad.toml", TOML_RULE.replace('type = "eql"', 'type = "esql"'))

    with pytest.raises(RuleLoadError) as caught:
        load_rule_file(path)

    assert caught.value.rule == "Whoami Run By Office Application"


TAGS_FIELD = "**Tags**:\n\n* OS: Windows\n* Tactic: Discovery\n* Rule Type: BBR"
DISCOVERY_TACTIC = """\
* Tactic:

    * Name: Discovery
    * ID: TA0007
    * Reference URL: [https://attack.mitre.org/tactics/TA0007/](https://attack.mitre.org/tactics/TA0007/)
"""

BAD_DOC_PAGE_CASES = [
    replace_case(
        "no-query-section",
        "## Rule query [_rule_query_1]",
        "## Query [_q]",
        "missing '## Rule query' section",
    ),
    replace_case("no-code-block", "```js\nprocess", "process", "missing ``` code block"),
    replace_case("unclosed-code-block", '"excel.exe")\n```', '"excel.exe")\n', "never closed"),
    replace_case("empty-query", "```js\nprocess", "```js\n\n```\nprocess", "empty query"),
    replace_case(
        "tag-dash-bullet",
        "* OS: Windows",
        "- OS: Windows",
        "line 33: malformed line '- OS: Windows'",
    ),
    replace_case(
        "field-without-bold",
        "**Severity**: high",
        "Severity: high",
        "malformed line 'Severity: high'",
    ),
    replace_case("no-severity", "**Severity**: high", "", "missing required field '**Severity**:'"),
    replace_case("no-version", "**Version**: 7", "", "missing required field '**Version**:'"),
    replace_case(
        "severity", "**Severity**: high", "**Severity**: extreme", "invalid severity 'extreme'"
    ),
    replace_case(
        "risk-score-text",
        "**Risk score**: 73",
        "**Risk score**: high",
        "invalid '**Risk score**' value 'high'",
    ),
    replace_case(
        "interval", "**Runs every**: 10m", "**Runs every**: often", "invalid interval 'often'"
    ),
    replace_case(
        "from",
        "**Searches indices from**: now-15m",
        "**Searches indices from**: 15m",
        "invalid from '15m'",
    ),
    replace_case("rule-type-query", "**Rule type**: eql", "**Rule type**: query", "not an EQL"),
    replace_case(
        "repeated-field",
        "**Severity**: high",
        "**Severity**: high\n\n**Severity**: low",
        "field '**Severity**' repeats",
    ),
    replace_case(
        "tags-value-and-bullets",
        "**Tags**:\n",
        "**Tags**: some\n",
        "line 33: bullet '* OS: Windows' follows field",
    ),
    replace_case(
        "tags-value", TAGS_FIELD, "**Tags**: some", "field '**Tags**' expects '* item' bullets"
    ),
    replace_case("tags-no-bullets", TAGS_FIELD, "**Tags**:", "field '**Tags**' has no bullets"),
    replace_case(
        "license-empty",
        "**Rule license**: Apache License 2.0",
        "**Rule license**:",
        "field '**Rule license**' has no value",
    ),
    replace_case(
        "no-title",
        "# Whoami Run By Office Application [whoami-run-by-office-application]",
        "Whoami Run By Office Application",
        "missing title",
    ),
    replace_case(
        "no-description",
        "Detects whoami.exe started by an Office application.\n",
        "",
        "missing description",
    ),
    replace_case(
        "technique-without-id",
        "    * ID: T1033\n",
        "",
        "Technique entry is missing its '* ID:' bullet",
    ),
    replace_case(
        "technique-before-tactic",
        DISCOVERY_TACTIC,
        "",
        "Technique entry before any Tactic entry",
    ),
    replace_case(
        "no-framework",
        "**Framework**: MITRE ATT&CKTM\n",
        "",
        "Tactic entry before any '**Framework**:' line",
    ),
    replace_case(
        "subtechnique-of-other-technique",
        "    * ID: T1059.003",
        "    * ID: T1078.004",
        "does not belong to the Technique",
    ),
    replace_case(
        "technique-repeated-key",
        "    * ID: T1033\n",
        "    * ID: T1033\n    * ID: T1034\n",
        "'* ID:' repeats in the Technique entry",
    ),
    replace_case(
        "unknown-threat-entry",
        "* Sub-technique:",
        "* Subtechnique:",
        "malformed line '* Subtechnique:'",
    ),
    replace_case("front-matter-unclosed", "---\n\n#", "#", "front matter"),
]


@pytest.mark.parametrize(("old", "new", "fragment"), BAD_DOC_PAGE_CASES)
def test_bad_doc_page_raises(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    assert old in DOC_PAGE, "the case must change the example page"
    path = write_file(tmp_path, "bad.md", DOC_PAGE.replace(old, new, 1))

    with pytest.raises(RuleLoadError) as caught:
        load_rule_file(path)

    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("file_name", "text", "fragment"),
    [
        pytest.param("rule.yaml", "query: x", "unsupported rule file suffix '.yaml'", id="yaml"),
        pytest.param("rule", "process where true", "unsupported rule file suffix ''", id="none"),
        pytest.param("empty.eql", " \n\n", "empty query", id="eql-empty"),
        pytest.param("a.toml", "[metadata]\nx = 1\n", "missing [rule] table", id="toml-no-rule"),
        pytest.param("a.toml", "rule = [1, 2]\n", "missing [rule] table", id="toml-rule-array"),
        pytest.param("a.toml", "metadata = 3\n[rule]\n", "invalid [metadata]", id="toml-metadata"),
    ],
)
def test_bad_rule_file_raises(tmp_path: Path, file_name: str, text: str, fragment: str) -> None:
    path = write_file(tmp_path, file_name, text)

    with pytest.raises(RuleLoadError) as caught:
        load_rule_file(path)

    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_load_rule_file_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.eql"
    path.write_bytes(b'process where process.name == "caf\xe9.exe"')

    # Byte 34 (0-based) is the Latin-1 "é".
    with pytest.raises(RuleLoadError, match="invalid UTF-8 at byte 34"):
        load_rule_file(path)


def test_load_rule_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(RuleLoadError, match="failed to read file"):
        load_rule_file(path)


def test_load_rules_walks_folder_sorted(tmp_path: Path) -> None:
    write_file(tmp_path, "b/second.toml", toml_rule("id-2", "Second"))
    write_file(tmp_path, "a/first.eql", "process where true")
    write_file(tmp_path, "c/third.md", DOC_PAGE)
    write_file(tmp_path, "notes.txt", "not a rule")
    write_file(tmp_path, ".hidden/skipped.toml", "not even TOML")
    write_file(tmp_path, ".skipped.toml", "not even TOML")
    write_file(tmp_path, "README.md", "# Rules\n\nThese are our rules.\n")
    write_file(tmp_path, "c/Changelog.md", "- added third\n")

    result = load_rules([tmp_path])

    assert result.errors == ()
    assert [rule.name for rule in result.rules] == [
        "first",
        "Second",
        "Whoami Run By Office Application",
    ]


def test_load_rules_reads_readme_named_directly(tmp_path: Path) -> None:
    readme = write_file(tmp_path, "README.md", "# Rules\n")

    result = load_rules([readme])

    assert result.rules == ()
    assert len(result.errors) == 1


def test_load_rules_collects_errors(tmp_path: Path) -> None:
    good = write_file(tmp_path, "rules/good.toml", toml_rule("id-1", "Good"))
    bad = write_file(tmp_path, "rules/bad.toml", "[rule\n")
    missing = tmp_path / "missing"

    result = load_rules([missing, tmp_path / "rules"])

    assert [rule.source_path for rule in result.rules] == [str(good)]
    assert [error.path for error in result.errors] == [str(missing), str(bad)]
    assert "rule path not found" in str(result.errors[0])
    assert "invalid TOML" in str(result.errors[1])


def test_load_rules_duplicate_rule_id(tmp_path: Path) -> None:
    first = write_file(tmp_path, "a.toml", toml_rule("same-id", "First"))
    second = write_file(tmp_path, "b.toml", toml_rule("same-id", "Second"))

    result = load_rules([tmp_path])

    assert [rule.name for rule in result.rules] == ["First"]
    [error] = result.errors
    assert error.path == str(second)
    assert error.rule == "Second"
    assert "duplicate rule_id 'same-id'" in str(error)
    assert str(first) in str(error)


def test_load_rules_same_file_once(tmp_path: Path) -> None:
    path = write_file(tmp_path, "rule.toml", MINIMAL_TOML_RULE)

    result = load_rules([path, tmp_path])

    assert len(result.rules) == 1
    assert result.errors == ()


def test_load_rules_explicit_file_any_suffix(tmp_path: Path) -> None:
    path = write_file(tmp_path, "rule.txt", "process where true")

    result = load_rules([path])

    assert result.rules == ()
    assert "unsupported rule file suffix '.txt'" in str(result.errors[0])


def test_load_shipped_rules_contents() -> None:
    rules = load_shipped_rules()

    assert [rule.rule_id for rule in rules] == [SHIPPED_RULE_ID]
    assert rules[0].source_path is not None
    assert rules[0].source_path.endswith("windows_system_network_connections_discovery.toml")


SHIPPED_FIELDS = [
    "name",
    "query",
    "description",
    "version",
    "severity",
    "risk_score",
    "type",
    "language",
    "building_block_type",
    "tags",
    "threat",
    "max_signals",
    "interval",
    "from_",
    "index",
    "author",
    "license",
    "references",
]


@pytest.fixture(scope="module")
def shipped_rule_page() -> Rule:
    if not SHIPPED_RULE_PAGE.is_file():
        pytest.skip(f"documentation page of the shipped rule not found at {SHIPPED_RULE_PAGE}")
    [rule] = load_rule_file(SHIPPED_RULE_PAGE)
    return rule


@pytest.mark.parametrize("field_name", SHIPPED_FIELDS)
def test_shipped_rule_matches_doc_page(shipped_rule_page: Rule, field_name: str) -> None:
    [shipped] = load_shipped_rules()

    assert getattr(shipped, field_name) == getattr(shipped_rule_page, field_name)


def test_shipped_rule_threat_ids(shipped_rule_page: Rule) -> None:
    [shipped] = load_shipped_rules()

    for rule in (shipped, shipped_rule_page):
        assert [threat.tactic_id for threat in rule.threat] == ["TA0007"]
        assert [technique.id for technique in rule.threat[0].techniques] == ["T1049", "T1082"]


def test_shipped_rule_query_matches_elastic_toml() -> None:
    elastic_file = ELASTIC_RULES / "rules_building_block" / "discovery_win_network_connections.toml"
    if not elastic_file.is_file():
        pytest.skip(f"Elastic detection-rules corpus not found at {ELASTIC_RULES}")
    [shipped] = load_shipped_rules()

    [elastic] = load_rule_file(elastic_file)

    assert elastic.rule_id == shipped.rule_id
    assert elastic.query == shipped.query


def test_elastic_corpus_all_load() -> None:
    if not ELASTIC_RULES.is_dir():
        pytest.skip(f"Elastic detection-rules corpus not found at {ELASTIC_RULES}")
    toml_files = sorted(ELASTIC_RULES.rglob("*.toml"))

    result = load_rules(toml_files)

    failures = "\n".join(str(error) for error in result.errors)
    assert toml_files, "the corpus folder has no TOML files"
    assert len(result.rules) == len(toml_files), (
        f"{len(result.rules)} of {len(toml_files)} files loaded, "
        f"{len(result.errors)} failed:\n{failures}"
    )
    assert all(rule.type == "eql" and rule.query for rule in result.rules)
