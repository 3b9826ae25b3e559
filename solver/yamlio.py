"""Read YAML while remembering where every value came from.

Loaders report errors as ``file:line: field.path``.  PyYAML's composed node
tree knows each node's line; we walk it next to the constructed data and keep a
map from field path (a tuple of keys and list indexes) to 1-based line number.
Duplicate mapping keys, which PyYAML silently overwrites, are reported too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

from solver.errors import InputError, InputIssue

PathKey = tuple  # tuple[str | int, ...]

#: libyaml's C parser when PyYAML was built with it (10x faster), else pure Python.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class SourceMap:
    """Line numbers of a YAML document by field path."""

    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """Line of ``path`` or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def format_path(path: PathKey) -> str:
    """('workloads', 0, 'slo') -> 'workloads[0].slo'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out



def parse_path(text: str) -> PathKey:
    """The inverse of :func:`format_path`: 'workloads[1].demand' -> ('workloads', 1, 'demand');
    an empty index ('workloads[].demand', "any entry") is left out."""
    out: list = []
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d*)\]", text):
        if name:
            out.append(name)
        elif index:
            out.append(int(index))
    return tuple(out)

_MERGE_TAG = "tag:yaml.org,2002:merge"


#: the most values (scalars, lists, maps) a document may hold once its aliases are expanded: the largest
#: shipped or generated input (benchmarks/scale rung XL) holds about 10,500
MAX_YAML_VALUES = 1_000_000


def _expanded_size(node: yaml.Node, memo: dict) -> int:
    """How many values ``node`` holds with every alias expanded; each distinct node counted once in
    time, so that a 254-byte file of nested 9-way aliases (4.8 M values: 16 s in every loader, QA s27)
    is measured in microseconds."""
    got = memo.get(id(node))
    if got is not None:
        return got
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _walk(node: yaml.Node, path: PathKey, smap: SourceMap, issues: list[InputIssue]) -> None:
    smap.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *anchor`: keys written here override the merged ones, by the spec
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(InputIssue(
                    message=f"duplicate key {key!r} (first at line {seen[key]})",
                    file=smap.file, line=line, path=format_path(path + (key,)),
                    hint="remove one of the two entries; YAML would silently keep only the last"))
            seen[key] = line
            smap.lines[path + (key,)] = line
            _walk(value_node, path + (key,), smap, issues)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), smap, issues)


def load_yaml_text(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse YAML text; return (data, source map) or raise :class:`InputError`."""
    smap = SourceMap(file=file)
    issues: list[InputIssue] = []
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, smap
            values = _expanded_size(node, {})
            if values > MAX_YAML_VALUES:
                raise InputError(InputIssue(
                    message=f"the YAML's aliases (*name) expand to {values:,} values, more than the "
                            f"{MAX_YAML_VALUES:,} any fleetopt input needs", file=file,
                    hint="write the repeated parts out, or use fewer nested aliases"))
            # lines and duplicate keys from the tree as written: constructing it flattens merge
            # keys (`<<: *anchor`) into each mapping, which would read as duplicates
            _walk(node, (), smap, issues)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise InputError(_syntax_issue(exc, file)) from None
    except yaml.YAMLError as exc:
        raise InputError(InputIssue(message=f"not valid YAML: {exc}", file=file,
                                    hint="check the file is YAML")) from None
    except RecursionError:
        # an anchor that contains an alias of itself (``&a [*a]``) or absurd nesting
        raise InputError(InputIssue(message="recursive YAML alias or nesting too deep", file=file,
                                    hint="an anchor (&name) must not contain an alias (*name) "
                                         "of itself")) from None
    except (ValueError, TypeError) as exc:
        # e.g. an out-of-range date or a pathological document
        raise InputError(InputIssue(message=f"cannot read YAML: {exc}", file=file,
                                    hint="check the values near the reported place")) from None
    if issues:
        raise InputError(issues)
    return data, smap


def _syntax_issue(exc: yaml.MarkedYAMLError, file: str) -> InputIssue:
    """The parser's complaint at its line; where it names a second place (a flow mapping's start,
    an anchor's first definition), that line too."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem, context, at = exc.problem or str(exc), exc.context, exc.context_mark
    if context and "duplicate anchor" in context:
        first = f" (first at line {at.line + 1})" if at is not None else ""
        return InputIssue(message=f"not valid YAML: an anchor is defined twice{first}", file=file,
                          line=line, hint="give each anchor (&name) its own name")
    if context:
        where = f" that starts at line {at.line + 1}" if at is not None and at.line + 1 != line else ""
        problem = f"{problem} ({context}{where})"
    return InputIssue(message=f"not valid YAML: {problem}", file=file, line=line,
                      hint="check indentation, colons and quotes near this line")


def read_text_file(path: str | os.PathLike, kind: str = "YAML", suffix: str = ".yaml") -> str:
    """The UTF-8 text of an input file, with clear errors for a missing file, a directory, an
    unreadable or over-long name, and binary content (``kind``/``suffix``: what the hints ask for)."""
    p = Path(path)
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except OSError as exc:          # e.g. a name over 255 bytes (QA s18: 'internal error')
        raise InputError(InputIssue(message=f"cannot read: {exc.strerror}", file=str(p)[:200],
                                    hint="check the path")) from None
    if not exists:
        raise InputError(InputIssue(message="file not found", file=str(p),
                                    hint="check the path; it is relative to the current directory"))
    if is_dir:
        raise InputError(InputIssue(message="is a directory, not a file", file=str(p),
                                    hint=f"name a {suffix} file inside it"))
    note_input(p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(InputIssue(message=f"cannot read: {exc.strerror}", file=str(p),
                                    hint="check permissions")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(InputIssue(message=f"not UTF-8 text (byte {exc.start})", file=str(p),
                                    hint=f"save the file as UTF-8 {kind}")) from None
    if "\x00" in text:
        raise InputError(InputIssue(message=f"binary file, not {kind}", file=str(p),
                                    hint=f"name a {kind} text file"))
    return text


class _RefusedConstant(Exception):
    """A NaN/Infinity literal that the caller's ``parse_constant`` refused (its message says why)."""


def load_json_file(path: str | os.PathLike, *, hint: str, invalid: str = "not valid JSON",
                   parse_constant=None) -> Any:
    """The parsed JSON file, read as :func:`read_text_file` reads YAML: a folder, an unreadable
    file, bytes that are not UTF-8 and a missing file are said in words, never as Python's exception
    text (QA s27 saw "[Errno 21] Is a directory" and "'utf-8' codec can't decode" from plan
    loaders); a FIFO or ``<(cat plan.json)`` is read like a file.  A leading byte-order mark (some
    Windows editors write one) is not part of the JSON, as the YAML loader skips it too.  Nesting too
    deep for Python's parser (a RecursionError, exit 1 before) and a whole number of more than 4300
    digits are bad input.  ``hint`` ends syntax errors; ``invalid`` starts their message;
    ``parse_constant`` (raising ValueError) refuses NaN/Infinity with its own words."""
    import json
    p = Path(path)
    text = read_text_file(p, kind="JSON", suffix=".json")
    if text.startswith("\ufeff"):
        text = text[1:]
    kwargs: dict = {}
    if parse_constant is not None:
        def constant(name: str):
            try:
                return parse_constant(name)
            except ValueError as exc:
                raise _RefusedConstant(str(exc)) from None
        kwargs["parse_constant"] = constant
    try:
        return json.loads(text, **kwargs)
    except _RefusedConstant as exc:
        raise InputError(InputIssue(message=f"{invalid}: {exc}", file=str(p), hint=hint)) from None
    except json.JSONDecodeError as exc:
        raise InputError(InputIssue(message=f"{invalid}: {exc.msg}", file=str(p), line=exc.lineno,
                                    hint=hint)) from None
    except RecursionError:
        raise InputError(InputIssue(message="JSON nested too deeply", file=str(p), hint=hint)) from None
    except ValueError:  # Python refuses to read a whole number of more than 4300 digits
        raise InputError(InputIssue(message="holds a whole number of more than 4300 digits", file=str(p),
                                    hint="write numbers of a usable size (a rate, a price, a count)")) from None


def load_yaml_file(path: str | os.PathLike) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file, with clear errors for missing or binary files."""
    return load_yaml_text(read_text_file(path), file=str(Path(path)))


def atomic_write_text(path: str | os.PathLike, text: str, *, protect: tuple = ()) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), protect=protect)


#: files read by the command that is running (None: not recording): outputs never go over them
_INPUTS: Optional[set] = None


@contextlib.contextmanager
def guarding_inputs() -> Iterator[None]:
    """Within the block, every file a reader notes (:func:`note_input`) is protected from every
    :func:`atomic_write_bytes`: a command's outputs never overwrite what it read (its problem, the
    catalog overlays the problem names, a plan, a trace, a calibration file)."""
    global _INPUTS
    before, _INPUTS = _INPUTS, set()
    try:
        yield
    finally:
        _INPUTS = before


def note_input(path: str | os.PathLike) -> None:
    """Record that the running command read ``path`` (see :func:`guarding_inputs`)."""
    if _INPUTS is not None:
        try:
            _INPUTS.add(Path(path).resolve())
        except OSError:
            pass


def standard_stream(path: str | os.PathLike) -> Optional[int]:
    """1 when an output path names standard output: ``-``, or the file standard output already is
    (``/dev/stdout``, ``/dev/fd/1``, through which a shell's ``>> log`` would be replaced by a
    rename); 2 when it names standard error's; else None (also for /dev/null, which both may be)."""
    if str(path) == "-":
        return 1
    try:
        st = os.stat(path)
        if os.path.samestat(st, os.stat(os.devnull)):
            return None
    except OSError:
        return None
    for fd in (1, 2):
        try:
            if os.path.samestat(st, os.fstat(fd)):
                return fd
        except OSError:
            continue
    return None


def _refuse_stream_onto_input(path, fd: int, protect: tuple) -> None:
    """InputError when standard output or error (``fd``), which ``path`` names, is a file the
    command reads."""
    try:
        st = os.fstat(fd)
    except OSError:
        return
    for p in (*protect, *(_INPUTS or ())):
        try:
            same = os.path.samestat(st, os.stat(p))
        except OSError:
            continue
        if same:
            raise InputError(InputIssue(message=f"output {'-' if str(path) == '-' else path} is standard "
                                                f"{'output' if fd == 1 else 'error'}, which is redirected to "
                                                f"an input file ({p})",
                                        file=str(p), hint="redirect to another file"))


def folder_problem(folder: str | os.PathLike) -> Optional[str]:
    """Why files cannot be created in ``folder`` (or in the folders to be made on the way to it);
    None when they can."""
    existing = Path(os.path.realpath(folder))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no permission to write in {existing}"
    return None


def check_output_path(path: str | os.PathLike, *, protect: tuple = ()) -> None:
    """Refuse, before any work, an output path that :func:`atomic_write_bytes` would refuse or fail
    on afterwards: an input of the command, a directory (or a name ending in '/'), a place that
    cannot be written.  Standard output or error (:func:`standard_stream`) is always accepted."""
    stream = standard_stream(path)
    if stream:
        # the stream itself must not be an input (QA s18: `solve pb.yaml --json pb.yaml >> pb.yaml`
        # appended the plan to the problem file)
        _refuse_stream_onto_input(path, stream, protect)
        return
    long = [part for part in Path(path).parts if len(os.fsencode(part)) > 255]
    if long:        # (QA s18: 'internal error: File name too long' on every command)
        raise InputError(InputIssue(message=f"file name too long ({len(os.fsencode(long[0]))} bytes; a name "
                                            "may have at most 255)", file=str(path)[:120] + "...",
                                    hint="choose a shorter output name"))
    target = Path(os.path.realpath(path))
    for p in (*protect, *(_INPUTS or ())):
        try:
            same = Path(p).resolve() == target
        except OSError:
            continue
        if same:
            raise InputError(InputIssue(message="output would overwrite an input file", file=str(path),
                                        hint="choose another output path"))
    if target.is_dir():
        raise InputError(InputIssue(message="output path is a directory", file=str(path),
                                    hint="name a file inside it"))
    if str(path).endswith(("/", os.sep)):
        raise InputError(InputIssue(message="output path ends with '/', so it names a folder, not a file",
                                    file=str(path), hint="name a file inside the folder, e.g. "
                                                         f"{str(path).rstrip('/' + os.sep)}/FILE"))
    if os.path.exists(path) and not os.path.isfile(path):   # a pipe or a device: written into
        problem = None if os.access(path, os.W_OK) else "no permission to write it"
    else:
        problem = folder_problem(target.parent)
    if problem:
        raise InputError(InputIssue(message=f"cannot write here: {problem}", file=str(path),
                                    hint="check the path and permissions, or choose another output path"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, protect: tuple = ()) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + rename).

    A reader never sees a half-written file, and a crash leaves the old file
    intact.  ``protect`` lists input files that must never be overwritten.  A symbolic
    link is written through (its target gets the data; the link stays a link), and a
    path that is not a regular file (``/dev/stdout``, a named pipe) is written directly:
    renaming over it would replace the device or pipe with a file.  Standard output or error
    (:func:`standard_stream`: ``-``, ``/dev/stdout``) is written in place, through ``sys.stdout``
    or ``sys.stderr``.
    """
    target = Path(os.path.realpath(path))
    check_output_path(path, protect=protect)
    fd = standard_stream(path)
    if fd:
        stream = sys.stdout if fd == 1 else sys.stderr
        stream.flush()
        stream.buffer.write(data)
        stream.buffer.flush()
        return
    if os.path.exists(path) and not os.path.isfile(path):
        try:
            with open(path, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise InputError(InputIssue(message=f"cannot write here: {exc.strerror}", file=str(path),
                                        hint="check the path and permissions")) from None
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(InputIssue(message=f"cannot create the output folder {target.parent}: {exc.strerror}",
                                    file=str(target), hint="check the path and permissions")) from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(InputIssue(message=f"cannot write here: {exc.strerror}", file=str(target),
                                    hint="check the path and permissions")) from None
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would (or the old file's).
        try:
            mode = target.stat().st_mode & 0o777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
