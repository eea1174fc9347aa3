"""Derive the necessary substrings of a Lucene syntax tree.

Necessary substrings are literals such that every string the tree matches contains at least one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.eql.lucene_regex.nodes import _CharSet, _Concat, _EmptyLanguage, _Literal, _Node, _Repeat, _Union

# Largest finite language tracked exactly when deriving necessary substrings.
_EXACT_LIMIT = 64


@dataclass(frozen=True)
class _Facts:
    """``exact``: every string the node matches, when few. ``required``: a sound set of needed substrings."""

    exact: frozenset[str] | None
    required: frozenset[str] | None


_UNKNOWN = _Facts(None, None)
_NOTHING = _Facts(frozenset(), frozenset())


def _from_exact(strings: frozenset[str] | None) -> _Facts:
    if strings is None or len(strings) > _EXACT_LIMIT:
        return _UNKNOWN
    # A set containing "" is sound but useless as a filter.
    return _Facts(strings, None if "" in strings else strings)


def _product(left: frozenset[str], right: frozenset[str]) -> frozenset[str] | None:
    if len(left) * len(right) > _EXACT_LIMIT:
        return None
    return frozenset(a + b for a in left for b in right)


def _better(candidate: frozenset[str] | None, best: frozenset[str] | None) -> frozenset[str] | None:
    """Prefer the set whose shortest member is longer, then the smaller set."""
    if candidate is None or "" in candidate:
        return best
    if best is None:
        return candidate

    def score(strings: frozenset[str]) -> tuple[int, int]:
        return min((len(s) for s in strings), default=1 << 30), -len(strings)

    return candidate if score(candidate) > score(best) else best


def _concat_facts(parts: tuple[_Node, ...]) -> _Facts:
    facts = [_facts(part) for part in parts]
    if any(f.exact == frozenset() for f in facts):
        return _NOTHING

    best: frozenset[str] | None = None
    # Every concatenation of the exact parts read since the last inexact part.
    run: frozenset[str] = frozenset({""})
    all_exact = True
    for fact in facts:
        if fact.exact is None:
            best = _better(fact.required, _better(run, best))
            run, all_exact = frozenset({""}), False
            continue

        combined = _product(run, fact.exact)
        if combined is None:
            # Too many combinations: the run so far becomes a candidate and a new run starts.
            best = _better(run, best)
            combined, all_exact = fact.exact, False
        run = combined

    if all_exact:
        return _from_exact(run)
    return _Facts(None, _better(run, best))


def _char_set_facts(node: _CharSet) -> _Facts:
    if node.negated or sum(high - low + 1 for low, high in node.ranges) > _EXACT_LIMIT:
        return _UNKNOWN
    members = set(node.singles)
    for low, high in node.ranges:
        members.update(chr(c) for c in range(low, high + 1))
    return _from_exact(frozenset(members))


def _repeat_facts(node: _Repeat) -> _Facts:
    body = _facts(node.body)
    if node.high == 0 or (body.exact == frozenset() and node.low == 0):
        return _from_exact(frozenset({""}))
    if body.exact == frozenset():
        return _NOTHING

    if body.exact is not None and node.low == node.high and node.low <= _EXACT_LIMIT:
        strings: frozenset[str] | None = frozenset({""})
        for _ in range(node.low):
            strings = _product(strings, body.exact) if strings is not None else None
        if strings is not None:
            return _from_exact(strings)
    return _Facts(None, body.required if node.low >= 1 else None)


def _union_facts(branches: tuple[_Node, ...]) -> _Facts:
    facts = [_facts(branch) for branch in branches]
    if all(f.exact is not None for f in facts):
        exact = frozenset().union(*(f.exact for f in facts if f.exact is not None))
        if len(exact) <= _EXACT_LIMIT:
            return _from_exact(exact)
    if all(f.required is not None for f in facts):
        return _Facts(None, frozenset().union(*(f.required for f in facts if f.required is not None)))
    return _UNKNOWN


def _facts(node: _Node) -> _Facts:
    if isinstance(node, _Literal):
        return _from_exact(frozenset({node.text}))
    if isinstance(node, _CharSet):
        return _char_set_facts(node)
    if isinstance(node, _EmptyLanguage):
        return _NOTHING
    if isinstance(node, _Concat):
        return _concat_facts(node.parts)
    if isinstance(node, _Repeat):
        return _repeat_facts(node)
    if isinstance(node, _Union):
        return _union_facts(node.branches)
    return _UNKNOWN
