"""Parse rendered template YAML piece by piece, reusing pieces seen before: ``yamlparse.load``'s result, faster.

A sidecar template renders ~250 lines for every pod, and two distinct pods differ in a handful of them (names,
ports, a resource value). Parsing costs per YAML node (libyaml's events become Python objects), so most of the
time went into lines parsed many times before. Here the text is cut along its block structure into nested pieces
(mapping entries, sequence items), and each piece's text maps to its parsed value in a bounded cache: an unchanged
piece costs a dictionary lookup, a changed one is cut further, and only small changed pieces go through
``yamlparse.load``. A piece's value does not depend on where it stands (a scalar resolves from its own text), so
the values assemble into exactly the document's value.

Cutting is conservative: only plain block mappings and sequences are cut, and no line that may belong to a
construct spanning lines (flow collection, quoted scalar, block scalar) is ever a cut; taking too much into one
piece is harmless, cutting inside a node would not be. Anything unusual (anchors, aliases, tags, merge keys,
complex keys, directives, document markers, tabs, line breaks other than ``\\n``, quoted keys, unexpected
indentation) makes that piece or the whole text go to ``yamlparse.load`` as one; so does any error, so a broken
document reports exactly the error it reported before. Cached values are shared: callers must never mutate them
(rendered template output is read-only in the pipeline anyway).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from workers import yamlparse

_SMALL = 3
"""Pieces of at most this many lines are parsed whole."""
_MAX_ENTRIES = 8192
_MAX_LATEST = 16
"""Line counts whose latest document is kept (one per template, in practice)."""
_MAX_TEXT_BYTES = 512 << 10

_UNSUPPORTED_LINE = re.compile(
    r"[\t\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]"  # tabs and line breaks other than \n
    r"|(?:^|[\s\[{,])[&*!]"                        # anchors, aliases, tags
    r"|<<"                                         # merge keys
    r"|^(?:---|\.\.\.|%)|^\s*\?(?:\s|$)")            # document markers, directives, complex keys
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*:(?= |\n|$)")

# Line kinds.
_BLANK, _KEY_LINE, _DASH, _OTHER = range(4)


class _Unsplittable(Exception):
    """The piece's structure is not one this module cuts."""


class _Line:
    """What one line says about structure on its own (memoised by its text, which ends with its ``\\n``)."""

    __slots__ = ("indent", "kind", "content", "opens", "bare_key", "continued", "unsupported", "dash_key", "shape")

    def __init__(self, text: str) -> None:
        text = text[:-1] if text.endswith("\n") else text
        self.unsupported = _UNSUPPORTED_LINE.search(text) is not None
        """A construct whose meaning spans pieces or that cutting does not model: the text is parsed whole."""
        stripped = text.lstrip(" ")
        self.indent = len(text) - len(stripped)
        self.content = self.indent
        """Column where the node after a line's ``- `` indicators starts."""
        self.opens = ""
        """``"|"`` for a block scalar, else the constructs left open at the end of the line (see ``_scan``)."""
        self.bare_key = False
        """``key:`` with nothing after it (the value is on the lines below)."""
        self.continued: dict[str, str] = {}
        """What is still open after this line, when it is read inside the open constructs of the key."""
        self.dash_key = False
        """A ``- key: ...`` line: a sequence item whose mapping's first key is on the dash line."""
        self.shape: tuple[Any, ...] | None = None
        """What the outline reads of a line that opens nothing (None for other lines): two lines of the same shape
        in the same place give the same outline."""
        if not stripped or stripped[0] == "#":
            self.kind = _BLANK
            return
        pos = self.indent
        self.kind = _OTHER
        if stripped[0] == "-" and (len(stripped) == 1 or stripped[1] == " "):
            self.kind = _DASH
            while text.startswith("- ", pos) or text[pos:] == "-":
                pos += 1
                while pos < len(text) and text[pos] == " ":
                    pos += 1
            self.content = pos
        match = _KEY.match(text, pos)
        if match is not None:
            if self.kind == _OTHER:
                self.kind = _KEY_LINE
            self.dash_key = self.kind == _DASH and self.content == self.indent + 2
            pos = match.end()
            while pos < len(text) and text[pos] == " ":
                pos += 1
            self.bare_key = pos == len(text) or text[pos] == "#"
        first = text[pos:pos + 1]
        if first in ("|", ">"):
            self.opens = "|"
        elif first in ('"', "'", "{", "["):
            self.opens = _scan(text, pos, "")
        if not self.opens and not self.unsupported:
            self.shape = (self.indent, self.kind, self.content, self.bare_key, self.dash_key)


def _scan(text: str, pos: int, state: str) -> str:
    """Scan flow or quoted text from ``pos`` with ``state`` open; returns what is still open at the end of the line.

    ``state`` is a stack of open constructs: ``{``/``[`` for flow collections, ``"``/``'`` for quoted scalars.
    """
    stack = list(state)
    end = len(text)
    while pos < end:
        char = text[pos]
        top = stack[-1] if stack else ""
        if top == '"':
            if char == "\\":
                pos += 2
                continue
            if char == '"':
                stack.pop()
        elif top == "'":
            if char == "'":
                if text.startswith("'", pos + 1):
                    pos += 2
                    continue
                stack.pop()
        elif char in "\"'{[":
            stack.append(char)
        elif char in "}]":
            if stack:
                stack.pop()
        elif char == "#" and (pos == 0 or text[pos - 1] == " "):
            break  # a comment: the rest of the line does not count
        if not stack:
            return ""
        pos += 1
    return "".join(stack)


def _after(line: _Line, text: str, state: str) -> str:
    """What is still open after ``line`` (whose text is ``text``), read with ``state`` open (memoised)."""
    after = line.continued.get(state)
    if after is None:
        after = line.continued[state] = _scan(text[:-1] if text.endswith("\n") else text, 0, state)
    return after


class _Outline:
    """The block structure of one text: for each structural line, where its node ends.

    ``end[i]`` is the first line after line ``i``'s node; ``key_end[i]`` the same for the mapping entry that
    starts after the ``- `` of a dash line ``i``. Lines inside a construct opened on an earlier line, blank
    lines and comments are not structural and end nothing.
    """

    __slots__ = ("lines", "described", "structural", "end", "key_end", "inside")

    def __init__(self, lines: list[str], memo: dict[str, _Line]) -> None:
        self.lines = lines
        count = len(lines)
        described: list[_Line] = []
        structural: list[bool] = []
        inside: list[str | int] = []
        """Per line, what it is read inside: the open flow/quoted state (a str), the indent of a block scalar's
        owner (an int), or ``""``."""
        end = [count] * count
        key_end = [count] * count
        pending: list[tuple[int, int, bool, list[int]]] = []  # (indent, line, is key, end array)
        state, block_owner = "", -1
        for i, text in enumerate(lines):
            line = memo.get(text)
            if line is None:
                line = memo[text] = _Line(text)
            described.append(line)
            if line.unsupported:
                raise _Unsplittable
            inside.append(block_owner if block_owner >= 0 else state)
            if block_owner >= 0:
                if line.kind == _BLANK or line.indent > block_owner:
                    structural.append(False)
                    continue
                block_owner = -1
            if state:
                state = _after(line, text, state)
                structural.append(False)
                continue
            if line.kind == _BLANK:
                structural.append(False)
                continue
            structural.append(True)
            indent, dash = line.indent, line.kind == _DASH
            while pending:
                open_indent, j, is_key, ends = pending[-1]
                if open_indent > indent or (open_indent == indent and not (is_key and dash)):
                    ends[j] = i
                    pending.pop()
                else:
                    break
            pending.append((indent, i, line.kind == _KEY_LINE, end))
            if line.dash_key:
                pending.append((line.content, i, True, key_end))
            if line.opens == "|":
                block_owner = indent  # block scalar content is deeper than the line that owns it
            else:
                state = line.opens
        self.described = described
        self.structural = structural
        self.end = end
        self.key_end = key_end
        self.inside = inside

    def changed_lines(self, lines: list[str], memo: dict[str, _Line]) -> list[int] | None:
        """The lines where ``lines`` (as many as this outline's) differs from this outline's text, when each of
        them moves the outline's state machine exactly as the line it replaces did, so that ``lines`` has this
        very outline: a structural line of the same shape, or a line inside the same construct that leaves the
        same construct open. None otherwise. Renders of one template for two pods differ in a few such lines
        (names, images, ports), so this costs a comparison per line instead of a new outline."""
        described, structural, inside = self.described, self.structural, self.inside
        changed = []
        for i, (before, now) in enumerate(zip(self.lines, lines)):
            if before == now:
                continue
            line = memo.get(now)
            if line is None:
                line = memo[now] = _Line(now)
            old = described[i]
            if line.unsupported:
                return None
            if structural[i]:
                if line.shape is None or line.shape != old.shape:
                    return None
            elif type(inside[i]) is int:  # in a block scalar: still inside it
                if line.kind != _BLANK and line.indent <= inside[i]:
                    return None
            elif inside[i]:  # in a flow collection or quoted scalar: the same constructs open afterwards
                if _after(line, now, inside[i]) != _after(old, before, inside[i]):
                    return None
            elif line.kind != _BLANK:
                return None
            changed.append(i)
        return changed

    def following(self, lines: list[str], changed: list[int], memo: dict[str, _Line]) -> _Outline:
        """This outline for ``lines``, in which ``changed_lines`` found ``changed``."""
        outline = _Outline.__new__(_Outline)
        outline.lines = lines
        outline.described = described = list(self.described)
        for i in changed:
            described[i] = memo[lines[i]]
        outline.structural, outline.end, outline.key_end = self.structural, self.end, self.key_end
        outline.inside = self.inside
        return outline

    def first_structural(self, start: int, stop: int) -> int | None:
        structural = self.structural
        return next((i for i in range(start, stop) if structural[i]), None)


class _Leaf:
    """One piece a document's value was assembled from: lines ``start:stop`` (the first read from column ``head``
    on, as a mapping, when it is a ``- key:`` sequence item's first line) and where its value went: the node at
    ``path`` (``NODE``), the entries ``keys`` of the mapping at ``path`` (``ENTRY``) or ``count`` items from
    ``index`` of the sequence at ``path`` (``ITEMS``)."""

    __slots__ = ("kind", "start", "stop", "head", "path", "keys", "index", "count")
    NODE, ENTRY, ITEMS = range(3)

    def __init__(self, kind: int, start: int, stop: int, head: int, path: tuple[Any, ...]) -> None:
        self.kind, self.start, self.stop, self.head, self.path = kind, start, stop, head, path
        self.keys: tuple[Any, ...] = ()
        self.index = self.count = 0

    def text(self, lines: list[str]) -> str:
        first = lines[self.start] if self.head < 0 else " " * self.head + lines[self.start][self.head:]
        return first + "".join(lines[self.start + 1:self.stop])


class _Assembly:
    """How one document's value was assembled: its leaves, and which leaf each line belongs to (-1: none, e.g. a
    ``key:`` line whose value was cut further)."""

    def __init__(self, count: int) -> None:
        self.leaves: list[_Leaf] = []
        self.leaf_of = [-1] * count
        self.exact = True
        """False when a key repeats in a mapping (the later entry wins): replacing a leaf would not be enough."""

    def add(self, leaf: _Leaf) -> None:
        number = len(self.leaves)
        self.leaves.append(leaf)
        self.leaf_of[leaf.start:leaf.stop] = [number] * (leaf.stop - leaf.start)


class _Latest:
    """The latest document of one line count: its outline, value and assembly."""

    __slots__ = ("outline", "value", "assembly")

    def __init__(self, outline: _Outline, value: Any, assembly: _Assembly) -> None:
        self.outline, self.value, self.assembly = outline, value, assembly


class ChunkedYaml:
    """A parse cache; ``load(text)`` returns what ``yamlparse.load(text)`` returns, for every text.

    Besides the pieces, the latest document of each line count is kept with how it was assembled. The next render
    of the same template usually has the same outline and differs in a few lines inside a few pieces: then only
    those pieces are parsed (or found) again and put in place in a copy of the latest value (only the containers
    on their paths are copied; the rest is shared), which costs a comparison per line instead of a walk.
    """

    def __init__(self, max_entries: int = _MAX_ENTRIES, max_text_bytes: int = _MAX_TEXT_BYTES) -> None:
        self._values: OrderedDict[str, Any] = OrderedDict()
        self._lines: dict[str, _Line] = {}
        self._latest: dict[int, _Latest] = {}
        self._size = 0
        self.max_entries = max_entries
        self.max_text_bytes = max_text_bytes

    def load(self, text: str) -> Any:
        found = self._values.get(text, _MISSING)
        if found is not _MISSING:
            self._values.move_to_end(text)
            return found
        if len(self._lines) > self.max_entries:
            self._lines.clear()
            self._latest.clear()
        try:
            lines = text.splitlines(keepends=True)  # keeps odd line breaks: unsupported
            latest = self._latest.get(len(lines))
            changed = None if latest is None else latest.outline.changed_lines(lines, self._lines)
            if changed is not None:
                outline = latest.outline.following(lines, changed, self._lines)
                value = self._reassembled(latest, lines, changed)
                if value is not _MISSING:
                    self._latest[len(lines)] = _Latest(outline, value, latest.assembly)
                    self._remember(text, value)
                    return value
            else:
                outline = _Outline(lines, self._lines)
            assembly = _Assembly(len(lines))
            first = outline.first_structural(0, len(outline.lines))
            value = (yamlparse.load(text) if first is None
                     else self._node(outline, 0, len(outline.lines), first, None, (), assembly))
        except Exception:  # noqa: BLE001 - a broken or unusual document: libyaml says what it says
            return yamlparse.load(text)
        self._latest[len(lines)] = _Latest(outline, value, assembly)
        if len(self._latest) > _MAX_LATEST:
            del self._latest[next(iter(self._latest))]
        self._remember(text, value)
        return value

    def _reassembled(self, latest: _Latest, lines: list[str], changed: list[int]) -> Any:
        """The value of ``lines`` (the latest outline, ``changed`` lines differ) from the latest value with the
        leaves holding changed lines parsed again; ``_MISSING`` when a changed line is in no leaf or a leaf's
        value no longer fits where it went (other keys, another item count): the whole walk decides then."""
        assembly = latest.assembly
        if not assembly.exact:
            return _MISSING
        touched = sorted({assembly.leaf_of[i] for i in changed})
        if touched and touched[0] < 0:
            return _MISSING
        copies: dict[tuple[Any, ...], Any] = {}
        root = latest.value
        for number in touched:
            leaf = assembly.leaves[number]
            value = self._piece(leaf.text(lines))
            if leaf.kind == _Leaf.NODE:
                _copied(root, copies, leaf.path[:-1])[leaf.path[-1]] = value
            elif leaf.kind == _Leaf.ENTRY:
                if type(value) is not dict or tuple(value) != leaf.keys:
                    return _MISSING
                _copied(root, copies, leaf.path).update(value)
            else:
                if type(value) is not list or len(value) != leaf.count:
                    return _MISSING
                _copied(root, copies, leaf.path)[leaf.index:leaf.index + leaf.count] = value
        return copies.get((), root)

    def _piece(self, text: str) -> Any:
        found = self._values.get(text, _MISSING)
        if found is not _MISSING:
            self._values.move_to_end(text)
            return found
        value = yamlparse.load(text)
        self._remember(text, value)
        return value

    def _node(self, outline: _Outline, start: int, stop: int, first: int, head: str | None,
              path: tuple[Any, ...], assembly: _Assembly) -> Any:
        """The block node of lines[start:stop] (``head`` replaces line ``start``), first structural line ``first``,
        which goes at ``path`` in the document.

        Cut into entries or items when large; small pieces are parsed (or found) whole. Only whole documents and
        those small pieces are cached: the pieces in between are mostly one-off (they contain a changed line).
        """
        lines = outline.lines
        line = outline.described[first]
        if stop - start <= _SMALL:
            value = self._piece((head or lines[start]) + "".join(lines[start + 1:stop]))
            if path:
                assembly.add(_Leaf(_Leaf.NODE, start, stop, -1 if head is None else line.content, path))
        elif head is not None:
            value = self._mapping(outline, start, stop, first, head, path, assembly)
        elif line.kind == _DASH:
            value = self._sequence(outline, start, stop, first, line.indent, path, assembly)
        elif line.kind == _KEY_LINE:
            value = self._mapping(outline, start, stop, first, None, path, assembly)
        else:
            value = self._piece("".join(lines[start:stop]))
            if path:
                assembly.add(_Leaf(_Leaf.NODE, start, stop, -1, path))
        return value

    def _mapping(self, outline: _Outline, start: int, stop: int, first: int, head: str | None,
                 path: tuple[Any, ...], assembly: _Assembly) -> dict:
        """Entries of a block mapping; with ``head`` the mapping is a sequence item's, its first key after the dash."""
        described, lines = outline.described, outline.lines
        result: dict[Any, Any] = {}
        if head is not None:
            indent, cut, entry_stop = described[first].content, first, outline.key_end[first]
        else:
            indent, cut, entry_stop = described[first].indent, first, outline.end[first]
        while True:
            entry_stop = min(entry_stop, stop)
            line = described[cut]
            headed = head is not None and cut == first
            first_line = head if headed else lines[cut]
            if line.bare_key and entry_stop - cut > _SMALL:
                key = self._piece(first_line)
                inner = outline.first_structural(cut + 1, entry_stop)
                if type(key) is not dict or len(key) != 1 or inner is None:
                    raise _Unsplittable
                name = next(iter(key))
                entry = {name: self._node(outline, cut + 1, entry_stop, inner, None, (*path, name), assembly)}
            else:
                entry = self._piece(first_line + "".join(lines[cut + 1:entry_stop]))
                if type(entry) is dict:
                    leaf = _Leaf(_Leaf.ENTRY, cut, entry_stop, line.content if headed else -1, path)
                    leaf.keys = tuple(entry)
                    assembly.add(leaf)
            if type(entry) is not dict:
                raise _Unsplittable
            for key, value in entry.items():
                if key in result:
                    assembly.exact = False
                result[key] = value
            if entry_stop >= stop:
                return result
            cut = entry_stop
            line = described[cut]
            if line.indent != indent or line.kind != _KEY_LINE:
                raise _Unsplittable
            entry_stop = outline.end[cut]

    def _sequence(self, outline: _Outline, start: int, stop: int, first: int, indent: int,
                  path: tuple[Any, ...], assembly: _Assembly) -> list:
        described, lines = outline.described, outline.lines
        result: list[Any] = []
        cut = first
        while True:
            item_stop = min(outline.end[cut], stop)
            line = described[cut]
            if line.indent != indent or line.kind != _DASH:
                raise _Unsplittable
            if item_stop - cut > _SMALL and line.dash_key:
                head = " " * line.content + lines[cut][line.content:]  # "- key: x" is the mapping "  key: x"
                result.append(self._node(outline, cut, item_stop, cut, head, (*path, len(result)), assembly))
            else:
                item = self._piece("".join(lines[cut:item_stop]))
                if type(item) is not list:
                    raise _Unsplittable
                leaf = _Leaf(_Leaf.ITEMS, cut, item_stop, -1, path)
                leaf.index, leaf.count = len(result), len(item)
                assembly.add(leaf)
                result.extend(item)
            if item_stop >= stop:
                return result
            cut = item_stop

    def _remember(self, text: str, value: Any) -> None:
        self._values[text] = value
        self._size += len(text)
        while len(self._values) > self.max_entries or self._size > self.max_text_bytes:
            old, _ = self._values.popitem(last=False)
            self._size -= len(old)


def _copied(root: Any, copies: dict[tuple[Any, ...], Any], path: tuple[Any, ...]) -> Any:
    """The container at ``path`` in a copy of ``root`` in which it and every container above it are fresh copies
    (made once per path, recorded in ``copies``); everything else is shared with ``root``."""
    found = copies.get(path)
    if found is None:
        if path:
            parent = _copied(root, copies, path[:-1])
            found = parent[path[-1]] = parent[path[-1]].copy()
        else:
            found = root.copy()
        copies[path] = found
    return found


_MISSING = object()
