"""Loading of rule files and folders, and of the rule set shipped with the package.

Three file formats are read, chosen by suffix:

- ``.toml``: Elastic detection-rules TOML (:mod:`stream.rules.toml_format`).
- ``.md``: Elastic's documentation page of a rule (:mod:`stream.rules.docpage_format`).
- ``.eql``: the EQL query alone. The rule name is the file stem and the rule id is
  uuid5 of the file name (with suffix) in
  :data:`~stream.rules.fields.DERIVED_RULE_ID_NAMESPACE`. Other fields keep the
  defaults of :class:`~stream.rules.model.Rule`.

The loaders check rule metadata only. They do not parse the EQL text, so query
errors surface when the rules are compiled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from stream.errors import RuleLoadError
from stream.rules import fields
from stream.rules.docpage_format import parse_doc_page
from stream.rules.model import Rule
from stream.rules.toml_format import parse_toml_rule

logger = logging.getLogger(__name__)

_SHIPPED_PACKAGE = "stream.rules"
_SHIPPED_FOLDER = "shipped"


@dataclass(frozen=True, slots=True)
class RuleLoadResult:
    """Rules loaded from a set of paths, and one error per file or path that failed."""

    rules: tuple[Rule, ...]
    errors: tuple[RuleLoadError, ...]


def load_rule_file(path: Path) -> list[Rule]:
    """Load the rules in one file, choosing the format by its suffix.

    Raises RuleLoadError naming ``path`` (and the rule when known) if the file
    cannot be read, has a suffix other than ``.toml``, ``.md`` or ``.eql``, or
    does not describe a valid EQL rule.
    """
    path = Path(path)
    text = _read_file(path)
    return _parse_rule_text(text, suffix=path.suffix, source=str(path), file_name=path.name)


def load_rules(paths: Iterable[Path]) -> RuleLoadResult:
    """Load every rule file in ``paths``, collecting errors instead of raising.

    A path may be a file, loaded whatever its suffix, or a folder, searched
    recursively for ``.toml``, ``.md`` and ``.eql`` files in sorted path order.
    Hidden files and folders (names starting with ``.``) inside a folder are
    skipped, and so are a folder's ``README.md``, ``CHANGELOG.md``,
    ``CONTRIBUTING.md``, ``LICENSE.md`` and ``SECURITY.md`` (any case). A file reached twice (for example named on its own and inside a
    given folder) is loaded once. A path that does not exist, a file that fails
    to load, and a rule whose ``rule_id`` an earlier file already used each add
    one error, and loading goes on with the next file.
    """
    collector = _RuleCollector()
    path_count = 0
    for path in paths:
        path = Path(path)
        path_count += 1
        if path.is_dir():
            for file_path in _rule_files_in(path):
                collector.load_file(file_path)
        elif path.exists():
            collector.load_file(path)
        else:
            collector.add_error(
                RuleLoadError("rule path not found: check the file or folder name", path=str(path))
            )

    result = collector.result()
    logger.info(
        "read %d rules from %d paths, with %d load errors (unreadable, invalid or unsupported files, "
        "repeated rule ids); compiling them comes next",
        len(result.rules),
        path_count,
        len(result.errors),
    )
    return result


def load_shipped_rules() -> list[Rule]:
    """Load the default rule set shipped in the package folder ``stream/rules/shipped``.

    Raises RuleLoadError listing every file that fails to load, because a broken
    shipped rule is a packaging defect rather than user input to skip.
    """
    collector = _RuleCollector()
    folder = resources.files(_SHIPPED_PACKAGE).joinpath(_SHIPPED_FOLDER)
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.is_file() and _is_rule_file_name(entry.name):
            collector.load_resource(entry)

    result = collector.result()
    if result.errors:
        details = "; ".join(str(error) for error in result.errors)
        raise RuleLoadError(
            f"{len(result.errors)} shipped rule files failed to load "
            f"(reinstall the package or fix the files): {details}",
            path=str(folder),
        )
    return list(result.rules)


def rule_from_query(query: str, *, name: str = "command-line query") -> Rule:
    """Build a rule from EQL text given on the command line or in code.

    The rule id is uuid5 of the stripped query text, so the same query always
    gets the same id. Other fields keep the defaults of :class:`Rule`. Raises
    RuleLoadError if the query is empty.
    """
    try:
        text = fields.normalize_query(query)
    except ValueError as exc:
        raise RuleLoadError(str(exc), rule=name) from exc
    return Rule(rule_id=fields.derive_rule_id(text), name=name, query=text)


def _parse_rule_text(text: str, *, suffix: str, source: str, file_name: str) -> list[Rule]:
    kind = suffix.lower()
    if kind == ".toml":
        return [parse_toml_rule(text, source)]
    if kind == ".md":
        return [parse_doc_page(text, source)]
    if kind == ".eql":
        return [_parse_eql_file(text, source, file_name)]
    raise RuleLoadError(
        f"unsupported rule file suffix {suffix!r}: expected one of "
        f"{', '.join(fields.RULE_FILE_SUFFIXES)}",
        path=source,
    )


def _parse_eql_file(text: str, source: str, file_name: str) -> Rule:
    name = Path(file_name).stem
    try:
        query = fields.normalize_query(text)
    except ValueError as exc:
        raise RuleLoadError(str(exc), path=source, rule=name) from exc
    return Rule(
        rule_id=fields.derive_rule_id(file_name), name=name, query=query, source_path=source
    )


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RuleLoadError(
            f"invalid UTF-8 at byte {exc.start}: save the file as UTF-8", path=str(path)
        ) from exc
    except OSError as exc:
        raise RuleLoadError(f"failed to read file: {exc.strerror or exc}", path=str(path)) from exc


# A folder's own Markdown documentation, such as the README of Elastic's detection-rules
# repository, is not a rule documentation page, so a folder search passes over it.
_FOLDER_DOCUMENT_NAMES = frozenset({"readme.md", "changelog.md", "contributing.md", "license.md", "security.md"})


def _is_rule_file_name(name: str) -> bool:
    if name.startswith(".") or name.lower() in _FOLDER_DOCUMENT_NAMES:
        return False
    return Path(name).suffix.lower() in fields.RULE_FILE_SUFFIXES


def _rule_files_in(folder: Path) -> list[Path]:
    found = []
    for candidate in folder.rglob("*"):
        relative_parts = candidate.relative_to(folder).parts
        if any(part.startswith(".") for part in relative_parts):
            continue
        if candidate.is_file() and _is_rule_file_name(candidate.name):
            found.append(candidate)
    return sorted(found)


class _RuleCollector:
    """Accumulates loaded rules and errors, rejecting repeated rule ids."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._errors: list[RuleLoadError] = []
        self._sources_by_id: dict[str, str] = {}
        self._loaded_files: set[Path] = set()

    def load_file(self, path: Path) -> None:
        resolved = path.resolve()
        if resolved in self._loaded_files:
            logger.debug("Skipping %s: this file is already loaded", path)
            return
        self._loaded_files.add(resolved)

        try:
            rules = load_rule_file(path)
        except RuleLoadError as error:
            self.add_error(error)
            return
        self._add_rules(rules)

    def load_resource(self, entry: Traversable) -> None:
        source = str(entry)
        try:
            text = entry.read_text(encoding="utf-8")
            rules = _parse_rule_text(
                text, suffix=Path(entry.name).suffix, source=source, file_name=entry.name
            )
        except (OSError, UnicodeDecodeError) as exc:
            self.add_error(RuleLoadError(f"failed to read packaged file: {exc}", path=source))
            return
        except RuleLoadError as error:
            self.add_error(error)
            return
        self._add_rules(rules)

    def add_error(self, error: RuleLoadError) -> None:
        self._errors.append(error)

    def result(self) -> RuleLoadResult:
        return RuleLoadResult(rules=tuple(self._rules), errors=tuple(self._errors))

    def _add_rules(self, rules: list[Rule]) -> None:
        for rule in rules:
            first_source = self._sources_by_id.get(rule.rule_id)
            if first_source is not None:
                self.add_error(
                    RuleLoadError(
                        f"duplicate rule_id {rule.rule_id!r}: {first_source} already defines it. "
                        "Give each rule its own rule_id",
                        path=rule.source_path,
                        rule=rule.display_name,
                    )
                )
                continue
            self._sources_by_id[rule.rule_id] = rule.source_path or "<unknown file>"
            self._rules.append(rule)
