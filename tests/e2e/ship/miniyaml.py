"""A small YAML reader for the block-style subset of the files under conf/
(python3 standard library only; the e2e tests must not need PyYAML).

Handled: several documents (`---`), block mappings and sequences (including
`- key: value` items and sequences at their key's indentation), plain, 'single' and
"double" quoted scalars, comments, flow sequences and mappings on one line
(`[a, b]`, `{a: 1}`), block scalars (`|`, `|-`, `|+`, `>`, `>-`). Plain scalars
become int, float, bool or None the way YAML 1.2's core schema reads them.
Not handled (raises YamlError naming the line): anchors and aliases, tags, multi-line
plain or quoted scalars, flow collections over several lines, complex keys, tabs.

    load_all(text) -> [document, ...]      (empty documents are left out)
"""

import re


class YamlError(ValueError):
    pass


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def _plain(s):
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    if s[0] in "&*!%@`":
        raise YamlError("unsupported YAML construct %r" % s)
    return s


def _quoted(s, pos):
    """Reads the quoted scalar starting at s[pos]; returns (string, end index)."""
    q = s[pos]
    i = pos + 1
    out = []
    while i < len(s):
        c = s[i]
        if q == "'" and c == "'":
            if s[i + 1:i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        if q == '"' and c == "\\":
            e = s[i + 1:i + 2]
            table = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "/": "/",
                     "0": "\0", " ": " ", "e": "\x1b"}
            if e in table:
                out.append(table[e])
                i += 2
                continue
            if e in ("x", "u", "U"):
                n = {"x": 2, "u": 4, "U": 8}[e]
                out.append(chr(int(s[i + 2:i + 2 + n], 16)))
                i += 2 + n
                continue
            raise YamlError("bad escape \\%s" % e)
        if q == '"' and c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise YamlError("unterminated quoted scalar (multi-line scalars are not supported)")


def _strip_comment(s):
    """Removes a trailing ' # comment' that is outside quotes."""
    i = 0
    while i < len(s):
        c = s[i]
        if c in "'\"" and (i == 0 or s[i - 1] in " \t[{,:"):
            _, i = _quoted(s, i)
            continue
        if c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
        i += 1
    return s.rstrip()


def _flow(s, pos):
    """Reads a flow node at s[pos]; returns (value, end index)."""
    while pos < len(s) and s[pos] == " ":
        pos += 1
    if pos >= len(s):
        raise YamlError("unexpected end of flow collection")
    c = s[pos]
    if c in "[{":
        close = "]" if c == "[" else "}"
        pos += 1
        out = [] if c == "[" else {}
        while True:
            while pos < len(s) and s[pos] == " ":
                pos += 1
            if pos < len(s) and s[pos] == close:
                return out, pos + 1
            if c == "[":
                v, pos = _flow(s, pos)
                out.append(v)
            else:
                k, pos = _flow(s, pos)
                while pos < len(s) and s[pos] == " ":
                    pos += 1
                if pos >= len(s) or s[pos] != ":":
                    raise YamlError("expected ':' in flow mapping")
                v, pos = _flow(s, pos + 1)
                out[k] = v
            while pos < len(s) and s[pos] == " ":
                pos += 1
            if pos < len(s) and s[pos] == ",":
                pos += 1
                continue
            if pos < len(s) and s[pos] == close:
                return out, pos + 1
            raise YamlError("expected ',' or '%s' in flow collection" % close)
    if c in "'\"":
        return _quoted(s, pos)
    m = re.compile(r"[^,\[\]{}]*").match(s, pos)
    text = m.group(0)
    # In a flow mapping a plain key ends at ': ' (or ':' before the value's quote).
    k = re.search(r":( |$)", text)
    if k:
        text = text[:k.start()]
    return _plain(text.strip()), pos + len(text)


def _split_key(content):
    """'key: rest' -> (key, rest); None when the line is not a mapping entry."""
    if content[0] in "'\"":
        key, end = _quoted(content, 0)
        rest = content[end:]
        if rest.startswith(":") and (len(rest) == 1 or rest[1] in " \t"):
            return key, rest[1:]
        return None
    if content[0] in "[{":
        return None
    m = re.search(r":(\s|$)", content)
    if not m:
        return None
    key = content[:m.start()].rstrip()
    if " #" in key:
        return None
    return key, content[m.end():]


class _Parser:
    def __init__(self, lines, first_lineno):
        self.lines = lines
        self.base = first_lineno
        self.i = 0

    def err(self, msg):
        raise YamlError("line %d: %s" % (self.base + self.i, msg))

    def peek(self):
        """(indent, content) of the next line that is not blank or a comment."""
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if "\t" in line[:len(line) - len(line.lstrip())]:
                self.err("tab in indentation")
            s = line.strip()
            if s and not s.startswith("#"):
                return len(line) - len(line.lstrip(" ")), line.strip(" ")
            self.i += 1
        return None

    def node(self, indent):
        p = self.peek()
        if p is None:
            return None
        ind, content = p
        if ind < indent:
            return None
        if content == "-" or content.startswith("- "):
            return self.seq(ind)
        if _split_key(content) is not None:
            return self.map(ind)
        self.i += 1
        return self.scalar_or_flow(content, ind)

    def map(self, ind):
        out = {}
        while True:
            p = self.peek()
            if p is None or p[0] < ind:
                return out
            if p[0] > ind:
                self.err("unexpected indentation")
            content = p[1]
            if content == "-" or content.startswith("- "):
                return out
            kv = _split_key(content)
            if kv is None:
                self.err("expected 'key: value', got %r" % content)
            key, rest = kv
            if key in out:
                self.err("duplicate key %r" % key)
            self.i += 1
            out[key] = self.value(rest, ind, in_map=True)

    def seq(self, ind):
        out = []
        while True:
            p = self.peek()
            if p is None or p[0] != ind:
                if p is not None and p[0] > ind:
                    self.err("unexpected indentation")
                return out
            content = p[1]
            if not (content == "-" or content.startswith("- ")):
                return out
            after = content[1:]
            item = after.lstrip(" ")
            if not item or item.startswith("#"):
                self.i += 1
                out.append(self.value("", ind, in_map=False))
                continue
            col = ind + 1 + (len(after) - len(item))
            if item == "-" or item.startswith("- ") or _split_key(item) is not None:
                # "- key: value" / "- - x": the item is a block node at column col.
                self.lines[self.i] = " " * col + item
                out.append(self.node(col))
            else:
                self.i += 1
                out.append(self.value(item, ind, in_map=False))

    def value(self, rest, ind, in_map):
        rest = rest.strip(" ")
        if rest[:1] in ("|", ">"):
            return self.block_scalar(_strip_comment(rest), ind)
        rest = _strip_comment(rest)
        if rest == "":
            p = self.peek()
            if p is None:
                return None
            if p[0] > ind:
                return self.node(p[0])
            if in_map and p[0] == ind and (p[1] == "-" or p[1].startswith("- ")):
                return self.seq(ind)
            return None
        v = self.scalar_or_flow(rest, ind)
        p = self.peek()
        if p is not None and p[0] > ind:
            self.err("unexpected indentation (multi-line scalars are not supported)")
        return v

    def scalar_or_flow(self, s, ind):
        if s[0] in "[{'\"":
            v, end = _flow(s, 0)
            if _strip_comment(s[end:]).strip():
                self.err("trailing text after %r" % s[:end])
            return v
        return _plain(s)

    def block_scalar(self, header, ind):
        m = re.match(r"^([|>])([-+]?)([1-9]?)([-+]?)$", header)
        if not m:
            self.err("bad block scalar header %r" % header)
        style, chomp = m.group(1), m.group(2) or m.group(4)
        explicit = int(m.group(3)) if m.group(3) else 0
        lines = []
        block_ind = ind + explicit if explicit else None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() == "":
                lines.append("")
                self.i += 1
                continue
            cur = len(line) - len(line.lstrip(" "))
            if block_ind is None:
                if cur <= ind:
                    break
                block_ind = cur
            if cur < block_ind:
                break
            lines.append(line[block_ind:])
            self.i += 1
        # Trailing blank lines belong to the chomping, not the content.
        trail = 0
        while lines and lines[-1] == "":
            lines.pop()
            trail += 1
        if style == "|":
            text = "\n".join(lines)
        else:
            text = ""
            for n, l in enumerate(lines):
                if n == 0:
                    text = l
                elif l == "" or l.startswith(" "):
                    text += "\n" + l
                elif lines[n - 1] == "":
                    text += l
                else:
                    text += " " + l
        if not lines:
            return ""
        if chomp == "-":
            return text
        if chomp == "+":
            return text + "\n" * (1 + trail)
        return text + "\n"


def load_all(text):
    """Parses every document of text; returns the non-empty ones."""
    docs = []
    cur = []
    start = 1
    lines = text.split("\n")
    for n, line in enumerate(lines + ["---"], 1):
        if re.match(r"^(---|\.\.\.)(\s.*)?$", line) or n == len(lines) + 1:
            p = _Parser(cur, start)
            v = p.node(0)
            if p.peek() is not None:
                p.err("could not parse %r" % p.peek()[1])
            if v is not None:
                docs.append(v)
            cur = []
            start = n + 1
            continue
        if line.startswith("%"):
            continue
        cur.append(line.rstrip("\r"))
    return docs


def load_file(path):
    with open(path, encoding="utf-8") as f:
        return load_all(f.read())
