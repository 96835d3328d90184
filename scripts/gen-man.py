#!/usr/bin/env python3
"""Generates the manual pages of the C API from include/libpmemstream.h and docs/man/*.md.

The header is the one source of every fact a page states about a function: its prototype
(SYNOPSIS), its comment (DESCRIPTION), the error codes its comment names (ERRORS, with each
code's own comment from the header and its errno from the table in docs/c_api.md). The
Markdown files under docs/man/ add what a header cannot say: the family's introduction, the
return-value summary, an example program and cross references. A page is one family of
functions: the functions of the header sections (`/* ---- name ---- */`) that its Markdown
file lists under `sections:`. Every function of those sections is on the page, and every
name on a page but the first is a one-line `.so` alias, so `man pmemstream_region_free` finds
pmemstream_region_allocate(3). A function added to a listed section appears by itself; the
`_errc` variants go to the page of the function they vary.

usage:
  gen-man.py --header H --src DIR --out DIR [--guide docs/c_api.md] [--version V]
      writes OUT/man3/*.3 and OUT/man7/*.7 (the folder is emptied first)
  gen-man.py --header H --src DIR --check
      fails (exit 1, one line per problem) when a pmemstream_* function of the header has no
      page, has no comment, or is in a header section no page lists; or a page lists a
      section the header does not have
  gen-man.py --header H --src DIR --examples DIR
      writes each page's EXAMPLE program to DIR/<page>.c (for the test to build and run)
  gen-man.py --header H --list
      prints every public function, one a line
"""
import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys

# ---------------------------------------------------------------------------------------------
# The header


class Decl:
    def __init__(self, kind, name, text, comment, section):
        self.kind = kind  # "function", "struct", "macro", "forward"
        self.name = name
        self.text = text  # the declaration as written (whitespace normalised for functions)
        self.comment = comment  # list of lines, comment markers removed; [] when none
        self.section = section


def strip_comment(raw):
    """The lines of a C comment without /*, */ and the leading ' * '."""
    body = raw.strip()
    assert body.startswith("/*") and body.endswith("*/")
    body = body[2:-2]
    lines = body.split("\n")
    out = []
    for line in lines:
        s = line.rstrip()
        m = re.match(r"^\s*\*(?!/)( ?)(.*)$", s)
        if m:
            s = m.group(2)
        else:
            s = s.lstrip() if not out else s.strip()
            if out or s:
                s = s
        out.append(s)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    # A one-line comment continued on the next lines keeps the first line unindented.
    return out


def parse_header(path):
    """Returns (sections in order, {section: [Decl]}, [Decl] of every function)."""
    text = open(path, encoding="utf-8").read()
    # Tokenise into comments, preprocessor lines and code, keeping order.
    pos = 0
    items = []  # (kind, text, blank_lines_before)
    n = len(text)
    blank_run = 0
    while pos < n:
        if text.startswith("/*", pos):
            end = text.index("*/", pos) + 2
            items.append(("comment", text[pos:end], blank_run))
            blank_run = 0
            pos = end
            continue
        if text[pos] == "\n":
            # Count blank lines between items: a newline right after another newline.
            line_start = text.rfind("\n", 0, pos) + 1
            if text[line_start:pos].strip() == "":
                blank_run += 1
            pos += 1
            continue
        if text[pos] in " \t":
            pos += 1
            continue
        if text[pos] == "#":
            end = text.find("\n", pos)
            end = n if end < 0 else end
            items.append(("pp", text[pos:end], blank_run))
            blank_run = 0
            pos = end
            continue
        # Code up to the ';' that ends it at brace depth 0; `extern "C" {` and its closing
        # brace are lines of their own.
        if text.startswith('extern "C"', pos) or text[pos] == "}":
            end = text.find("\n", pos)
            end = n if end < 0 else end
            items.append(("code", text[pos:end], blank_run))
            blank_run = 0
            pos = end
            continue
        depth = 0
        start = pos
        while pos < n:
            c = text[pos]
            if text.startswith("/*", pos):
                pos = text.index("*/", pos) + 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth < 0:
                    pos += 1
                    break
            elif c == ";" and depth == 0:
                pos += 1
                break
            pos += 1
        items.append(("code", text[start:pos], blank_run))
        blank_run = 0

    sections = []
    decls = {}
    functions = []
    section = None
    pending = None  # comment waiting for the declaration it documents
    skip_depth = 0  # inside #ifdef __cplusplus or #ifdef PMEMSTREAM_SPECIFIC_ERRORS
    intros = {}
    for kind, body, blanks in items:
        if kind == "pp":
            if skip_depth:
                if re.match(r"#\s*if", body):
                    skip_depth += 1
                elif re.match(r"#\s*endif", body):
                    skip_depth -= 1
                continue
            if re.match(r"#\s*ifdef\s+(__cplusplus|PMEMSTREAM_SPECIFIC_ERRORS)\b", body):
                skip_depth = 1
                pending = None
                continue
            m = re.match(r"#\s*define\s+(PMEMSTREAM_\w+)\s+(.*)$", body)
            if m and section is not None:
                cmt = pending if pending is not None and blanks == 0 else []
                d = Decl("macro", m.group(1), body.strip(), cmt, section)
                decls[section].append(d)
            pending = None
            continue
        if kind == "comment":
            m = re.match(r"/\*\s*----\s*(.*?)\s*----\s*\*/$", body.strip())
            if m:
                section = m.group(1)
                sections.append(section)
                decls[section] = []
                pending = None
                continue
            if pending is not None and section is not None and blanks > 0:
                # A comment followed by a blank line and another comment: it introduces the
                # section rather than documenting one declaration.
                intros.setdefault(section, []).append(strip_comment(pending_raw))
            pending = strip_comment(body)
            pending_raw = body
            continue
        # code
        if skip_depth or section is None:
            pending = None
            continue
        code = body.strip()
        cmt = pending if pending is not None and blanks == 0 else []
        if pending is not None and blanks > 0:
            intros.setdefault(section, []).append(strip_comment(pending_raw))
        pending = None
        m = re.match(r"^struct\s+(\w+)\s*;$", code)
        if m:
            decls[section].append(Decl("forward", m.group(1), code, cmt, section))
            continue
        m = re.match(r"^struct\s+(\w+)\s*\{", code)
        if m:
            decls[section].append(Decl("struct", m.group(1), code, cmt, section))
            continue
        m = re.search(r"\b(pmemstream_\w+)\s*\(", code)
        if m:
            proto = " ".join(code.split())
            d = Decl("function", m.group(1), proto, cmt, section)
            decls[section].append(d)
            functions.append(d)
    return sections, decls, functions, intros


# ---------------------------------------------------------------------------------------------
# The Markdown sources


class Page:
    def __init__(self, path):
        self.path = path
        text = open(path, encoding="utf-8").read()
        m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
        if not m:
            raise SystemExit(f"{path}: no front matter (--- ... ---)")
        self.meta = {}
        for line in m.group(1).split("\n"):
            if not line.strip():
                continue
            k, _, v = line.partition(":")
            self.meta[k.strip()] = v.strip()
        self.name = self.meta["name"]
        self.section = self.meta.get("section", "3")
        self.summary = self.meta.get("summary", "")
        self.header_sections = [s.strip() for s in self.meta.get("sections", "").split(",") if s.strip()]
        self.parts = {}  # heading -> markdown text
        self.order = []
        current = None
        for line in m.group(2).split("\n"):
            h = re.match(r"^## (.*)$", line)
            if h:
                current = h.group(1).strip()
                self.parts[current] = []
                self.order.append(current)
                continue
            if current is None:
                if line.strip():
                    raise SystemExit(f"{path}: text before the first '## HEADING'")
                continue
            self.parts[current].append(line)
        for k in self.parts:
            self.parts[k] = "\n".join(self.parts[k]).strip("\n")

    def example(self):
        ex = self.parts.get("EXAMPLE", "")
        m = re.search(r"```c\n(.*?)\n```", ex, re.S)
        return m.group(1) + "\n" if m else None


def load_pages(src):
    pages = []
    for f in sorted(os.listdir(src)):
        if f.endswith(".md") and re.match(r".*\.[37]\.md$", f):
            pages.append(Page(os.path.join(src, f)))
    return pages


# ---------------------------------------------------------------------------------------------
# roff output

FUNC_RE = re.compile(r"\b(pmemstream_\w+)\(\)")
CODE_RE = re.compile(r"\b(PMEMSTREAM_\w+|-E[A-Z]+|E[A-Z]{3,})\b")


def esc(s):
    """Escapes text for roff (not the start of a line)."""
    return s.replace("\\", "\\e")


def esc_code(s):
    return esc(s).replace("-", "\\-")


def line_safe(s):
    """A line must not start with . or ' (a request) once it is output."""
    if s.startswith(".") or s.startswith("'"):
        return "\\&" + s
    return s


def inline_header(s):
    """Inline markup for header comment text: function names bold, codes bold, `x` italic."""
    out = []
    pos = 0
    pattern = re.compile(r"`([^`]+)`|\b(pmemstream_\w+)\(\)|\b(PMEMSTREAM_\w+)|(-ENOMEM)\b|\b(E[A-Z]{3,})\b")
    for m in pattern.finditer(s):
        out.append(esc(s[pos:m.start()]))
        if m.group(1):
            out.append("\\fI" + esc_code(m.group(1)) + "\\fR")
        elif m.group(2):
            out.append("\\fB" + esc_code(m.group(2)) + "\\fR()")
        elif m.group(3):
            out.append("\\fB" + esc_code(m.group(3)) + "\\fR")
        elif m.group(4):
            out.append("\\fB\\-ENOMEM\\fR")
        else:
            out.append("\\fB" + m.group(5) + "\\fR")
        pos = m.end()
    out.append(esc(s[pos:]))
    return "".join(out)


def inline_md(s):
    """Inline Markdown: `code` bold, **b**, *i*, [text](url) -> text, name(3) bold name."""
    out = []
    pos = 0
    pattern = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\[([^\]]+)\]\([^)]*\)|"
                         r"\b((?:lib)?pmem\w*)\(([1-9])\)")
    for m in pattern.finditer(s):
        out.append(esc(s[pos:m.start()]))
        if m.group(1) is not None:
            out.append("\\fB" + esc_code(m.group(1)) + "\\fR")
        elif m.group(2) is not None:
            out.append("\\fB" + esc(m.group(2)) + "\\fR")
        elif m.group(3) is not None:
            out.append("\\fI" + esc(m.group(3)) + "\\fR")
        elif m.group(4) is not None:
            out.append(inline_md(m.group(4)))
        else:
            out.append("\\fB" + esc_code(m.group(5)) + "\\fR(" + m.group(6) + ")")
        pos = m.end()
    out.append(esc(s[pos:]))
    return "".join(out)


def md_to_roff(md, subst=None):
    """A small Markdown subset: paragraphs, - bullets, ```code```, definition lists
    (a line, then ':   text'), ### subheadings; @NAME@ placeholders replaced from subst."""
    lines = md.split("\n")
    out = []
    i = 0
    para = []

    def flush():
        if para:
            out.append(".PP")
            out.extend(line_safe(inline_md(p)) for p in para)
            para.clear()

    while i < len(lines):
        line = lines[i]
        if subst and line.strip() in subst:
            flush()
            out.extend(subst[line.strip()])
            i += 1
            continue
        if line.startswith("```"):
            flush()
            i += 1
            out.append(".PP")
            out.append(".RS 4")
            out.append(".nf")
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line_safe(esc_code(lines[i].replace("\t", "        "))))
                i += 1
            out.append(".fi")
            out.append(".RE")
            i += 1
            continue
        if line.startswith("### "):
            flush()
            out.append(".SS " + inline_md(line[4:].strip()))
            i += 1
            continue
        if re.match(r"^- ", line):
            flush()
            item = [line[2:].strip()]
            i += 1
            while i < len(lines) and re.match(r"^  \S", lines[i]):
                item.append(lines[i].strip())
                i += 1
            out.append(".IP \\(bu 2")
            out.extend(line_safe(inline_md(p)) for p in item)
            continue
        if i + 1 < len(lines) and lines[i + 1].startswith(":   ") and line.strip():
            flush()
            out.append(".TP")
            out.append(line_safe(inline_md(line.strip())))
            i += 1
            first = True
            while i < len(lines) and (lines[i].startswith(":   ") or lines[i].startswith("    ")):
                if lines[i].startswith(":   ") and not first:
                    out.append(".br")
                out.append(line_safe(inline_md(lines[i][4:].strip())))
                first = False
                i += 1
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        para.append(line.strip())
        i += 1
    flush()
    return out


def comment_to_roff(lines):
    """A header comment: prose lines (' * text') become paragraphs; indented lines
    ('  name: text', '  CODE   text', '  - item') become tagged or bulleted items."""
    out = []
    para = []
    items = []  # (tag, [text])

    def flush_para():
        if para:
            out.append(".PP")
            out.extend(line_safe(inline_header(p)) for p in para)
            para.clear()

    def flush_items():
        # Widths are given every time: a .TP without one takes the last indent set.
        for tag, text in items:
            if tag is None and text and text[0].startswith("- "):
                out.append(".IP \\(bu 2")
                text = [text[0][2:]] + text[1:]
            elif tag is None and re.fullmatch(r"(PMEMSTREAM_E_\w+|-E[A-Z]+)(, (PMEMSTREAM_E_\w+|-E[A-Z]+))*",
                                              " ".join(text)):
                # A list of codes with no words of its own: ERRORS says what each means.
                out.append(".TP 8")
                out.append(line_safe(inline_header(" ".join(text))))
                text = ["(see ERRORS)"]
            elif tag is None:
                out.append('.IP "" 8')
            else:
                out.append(".TP 8")
                out.append(line_safe(inline_header(tag)))
            out.extend(line_safe(inline_header(t)) for t in text)
        items.clear()

    item_indent = None
    for raw in lines:
        if not raw.strip():
            flush_para()
            flush_items()
            item_indent = None
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        s = raw.strip()
        if indent >= 1 and item_indent is not None and indent > item_indent and items:
            items[-1][1].append(s)
            continue
        if indent >= 1:
            flush_para()
            item_indent = indent
            m = (re.match(r"^(\S+(?:, \S+)*:?)\s{2,}(.*)$", s) or re.match(r"^(\w+:)\s+(.*)$", s) or
                 re.match(r"^(PMEMSTREAM_E_\w+|-E[A-Z]+)\s+([a-z(].*)$", s))
            if m and not s.startswith("- "):
                items.append((m.group(1), [m.group(2)]))
            else:
                items.append((None, [s]))
            continue
        flush_items()
        item_indent = None
        # What a header comment says in labelled sentences gets a paragraph of its own.
        if re.match(r"^(Durability:|Thread safety:|Returns 0\b|Outputs are)", s):
            flush_para()
        para.append(s)
    flush_para()
    flush_items()
    return out


def wrap_proto(proto, width=78):
    """Breaks a one-line prototype after commas, continuation lines indented."""
    if len(proto) <= width:
        return [proto]
    paren = proto.index("(")
    lines = []
    cur = proto[:paren + 1]
    rest = proto[paren + 1:]
    args = [a.strip() for a in rest.split(",")]
    indent = "        "
    for k, a in enumerate(args):
        piece = a + ("," if k + 1 < len(args) else "")
        sep = "" if cur.endswith("(") else " "
        if len(cur) + len(sep) + len(piece) > width and not cur.endswith("("):
            lines.append(cur)
            cur = indent + piece
        else:
            cur += sep + piece
    lines.append(cur)
    return lines


def th(name, section, date, version, title):
    # No hyphenation: a function name split across lines cannot be searched for or copied.
    return f'.TH {name.upper()} {section} "{date}" "pmemstream {version}" "{title}"\n.nh\n.ad l'


# ---------------------------------------------------------------------------------------------


def errno_table(guide):
    """{code: errno} from the table in docs/c_api.md (| `CODE` | value | `ERRNO` | ...)."""
    table = {}
    if guide and os.path.exists(guide):
        for line in open(guide, encoding="utf-8"):
            m = re.match(r"^\|\s*`(-?[A-Z_]+)`\s*\|\s*-?\d+\s*\|\s*`(E[A-Z]+)`\s*\|", line)
            if m:
                table[m.group(1)] = m.group(2)
    return table


def assign(pages, sections, decls, functions):
    """Maps each header function to its page. Returns ({name: page}, problems)."""
    problems = []
    by_section = {}
    for p in pages:
        for s in p.header_sections:
            if s not in decls:
                problems.append(f"{os.path.basename(p.path)}: lists header section '{s}', which "
                                f"include/libpmemstream.h does not have")
            elif s in by_section:
                problems.append(f"header section '{s}' is listed by two pages")
            else:
                by_section[s] = p
    where = {}
    names = {f.name for f in functions}
    for f in functions:
        if f.name.endswith("_errc") and f.name[:-5] in names:
            continue
        page = by_section.get(f.section)
        if page is None:
            problems.append(f"{f.name}: no manual page (its header section '{f.section}' is listed "
                            f"by no docs/man/*.md; add it to the 'sections:' of a page, or a new page)")
            continue
        if not f.comment:
            problems.append(f"{f.name}: no comment in include/libpmemstream.h, so its page would "
                            f"have no description")
        where[f.name] = page
    for f in functions:
        if f.name.endswith("_errc") and f.name[:-5] in names:
            base = f.name[:-5]
            if base in where:
                where[f.name] = where[base]
    for f in functions:
        if f.name not in where and not any(f.name in pr for pr in problems):
            problems.append(f"{f.name}: no manual page")
    return where, problems


def errors_of(d, fn_by_name, depth=0):
    """The comment lines of d, and of the function whose errors it says it shares ("fails with
    the errors of pmemstream_x()")."""
    lines = list(d.comment)
    m = re.search(r"errors of (pmemstream_\w+)\(\)", " ".join(d.comment))
    if m and m.group(1) in fn_by_name and depth < 3:
        lines += errors_of(fn_by_name[m.group(1)], fn_by_name, depth + 1)
    return lines


def codes_in(lines):
    text = " ".join(lines)
    found = []
    for m in re.finditer(r"PMEMSTREAM_E_[A-Z_]+|-ENOMEM", text):
        if m.group(0) not in found and m.group(0) != "PMEMSTREAM_E_BASE":
            found.append(m.group(0))
    return found


def generate(args):
    sections, decls, functions, intros = parse_header(args.header)
    pages = load_pages(args.src)
    where, problems = assign(pages, sections, decls, functions)
    if problems:
        for p in problems:
            print("gen-man: " + p, file=sys.stderr)
        return 1
    version = args.version or "unknown"
    # The date of the newest source, so that a rebuild of the same sources gives the same pages
    # (SOURCE_DATE_EPOCH, as reproducible builds set it, wins).
    stamp = os.environ.get("SOURCE_DATE_EPOCH")
    if stamp is None:
        stamp = max(os.path.getmtime(f) for f in [args.header] + [p.path for p in pages])
    date = args.date or datetime.datetime.fromtimestamp(int(float(stamp)), datetime.timezone.utc).date().isoformat()
    errnos = errno_table(args.guide)
    code_comment = {}
    for s in sections:
        for d in decls[s]:
            if d.kind == "macro" and d.name.startswith("PMEMSTREAM_E_") and d.comment:
                code_comment[d.name] = " ".join(d.comment)
    code_comment["-ENOMEM"] = "Out of memory."
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(os.path.join(args.out, "man3"))
    os.makedirs(os.path.join(args.out, "man7"))
    fn_by_name = {f.name: f for f in functions}
    # Every code of the header, with its value, errno and comment: for libpmemstream(7) and
    # the page whose front matter says `codes: all`.
    codes_roff = []
    for sec in sections:
        for d in decls[sec]:
            if d.kind != "macro" or not d.name.startswith("PMEMSTREAM_E_") or d.name == "PMEMSTREAM_E_BASE":
                continue
            value = d.text.split(None, 2)[2] if len(d.text.split(None, 2)) > 2 else ""
            tag = "\\fB" + esc_code(d.name) + "\\fR (" + esc_code(value.strip("()")) + ")"
            if d.name in errnos:
                tag += ", errno \\fB" + errnos[d.name] + "\\fR"
            codes_roff += [".TP", tag] + [line_safe(inline_header(c.strip())) for c in d.comment]
    codes_roff += [".TP", "\\fB\\-ENOMEM\\fR (\\-12), errno \\fBENOMEM\\fR", "Out of memory."]
    page_list = []
    for p in pages:
        if p.section != "3":
            continue
        names = [f.name for f in functions if where.get(f.name) is p and not f.name.endswith("_errc")]
        errc = [f.name for f in functions if where.get(f.name) is p and f.name.endswith("_errc")]
        if p.name not in names:
            names.insert(0, p.name) if p.name in fn_by_name else None
        if names and names[0] != p.name and p.name in names:
            names.remove(p.name)
            names.insert(0, p.name)
        page_list.append((p, names, errc))

    for p, names, errc in page_list:
        out = [".\\\" SPDX-License-Identifier: BSD-3-Clause",
               ".\\\" Generated by scripts/gen-man.py from include/libpmemstream.h and " +
               os.path.relpath(p.path, os.path.dirname(os.path.dirname(os.path.abspath(args.src))))
               + "; edit those, not this file.",
               th(p.name, 3, date, version, "pmemstream Programmer's Manual")]
        out += [".SH NAME", esc_code(", ".join(names + errc)) + " \\- " + esc(p.summary)]
        # SYNOPSIS: everything the page's sections declare, as the header writes it.
        out += [".SH SYNOPSIS", ".nf", "\\fB#include <libpmemstream.h>\\fR", ""]
        for s in p.header_sections:
            for d in decls[s]:
                if d.kind == "function":
                    for ln in wrap_proto(d.text):
                        out.append(line_safe("\\fB" + esc_code(ln) + "\\fR") if ln == wrap_proto(d.text)[0]
                                   else line_safe("\\fB" + esc_code(ln) + "\\fR"))
                elif d.kind in ("struct", "forward", "macro"):
                    for ln in d.text.split("\n"):
                        out.append(line_safe(esc_code(ln.expandtabs(8).rstrip())))
            out.append("")
        if errc:
            out.append("/* the same, returning the specific code on failure (see pmemstream_errormsg(3)) */")
            for n in errc:
                for ln in wrap_proto(fn_by_name[n].text):
                    out.append(line_safe("\\fB" + esc_code(ln) + "\\fR"))
            out.append("")
        out += [".fi", ".PP", "Link with \\fB\\-lpmemstream\\fR "
                "(\\fBpkg\\-config \\-\\-cflags \\-\\-libs libpmemstream\\fR).", ".SH DESCRIPTION"]
        out += md_to_roff(p.parts.get("DESCRIPTION", ""))
        for s in p.header_sections:
            for intro in intros.get(s, []):
                out += comment_to_roff(intro)
            for d in decls[s]:
                if d.kind != "function":
                    continue
                out.append(".PP")
                out.append(".BR " + d.name + " ()")
                body = comment_to_roff(d.comment)
                # The first .PP of the body would separate the name from its text.
                if body and body[0] == ".PP":
                    body = [".RS 4"] + body[1:] + [".RE"]
                else:
                    body = [".RS 4"] + body + [".RE"]
                out += body
            for d in decls[s]:
                if d.kind == "macro" and d.comment and not d.name.startswith("PMEMSTREAM_E_"):
                    out.append(".TP")
                    out.append("\\fB" + esc_code(d.name) + "\\fR")
                    out += [line_safe(inline_header(c.strip())) for c in d.comment]
        if p.meta.get("codes") == "all":
            out += [".SS The codes", "Library codes are \\-(1000 + \\fIn\\fR), so they never collide with a "
                    "negated \\fBerrno\\fR; each sets the \\fBerrno\\fR named beside it."] + codes_roff
        out.append(".SH RETURN VALUE")
        out += md_to_roff(p.parts.get("RETURN VALUE", ""))
        if errc:
            out += [".PP", "The \\fB_errc\\fR variants (" + ", ".join("\\fB" + esc_code(n) + "\\fR()" for n in errc) +
                    ") return 0 on success and the specific code (what \\fBpmemstream_errno\\fR() then "
                    "returns) instead of \\-1 on failure. Defining \\fBPMEMSTREAM_SPECIFIC_ERRORS\\fR "
                    "before including \\fB<libpmemstream.h>\\fR makes the usual names call them."]
        # ERRORS: every code any function of the page names, with the functions that name it.
        out.append(".SH ERRORS")
        codes = {}
        for s in p.header_sections:
            for d in decls[s]:
                if d.kind == "function" and not d.name.endswith("_errc"):
                    for c in codes_in(errors_of(d, fn_by_name)):
                        codes.setdefault(c, []).append(d.name)
        if p.parts.get("ERRORS"):
            out += md_to_roff(p.parts["ERRORS"])
        if p.meta.get("codes") == "all":
            codes = {}
        if codes:
            out += [".PP", "A failing call sets \\fBerrno\\fR and keeps the specific code for "
                    "\\fBpmemstream_errno\\fR(3) and a message for \\fBpmemstream_errormsg\\fR(3). "
                    "The codes the functions of this page name:"]
            for c in sorted(codes, key=lambda c: (c == "-ENOMEM", c)):
                tag = "\\fB" + esc_code(c) + "\\fR"
                if c.lstrip("-") in errnos or c in errnos:
                    tag += " (errno \\fB" + errnos.get(c, errnos.get(c.lstrip("-"), "")) + "\\fR)"
                out += [".TP", tag]
                out.append(line_safe(inline_header(code_comment.get(c, ""))))
                out.append(".br")
                out.append("From: " + ", ".join("\\fB" + esc_code(n) + "\\fR()" for n in codes[c]) + ".")
            out += [".PP", "Any function that returns a status may also fail with \\fB\\-ENOMEM\\fR "
                    "(out of memory) and \\fBPMEMSTREAM_E_INTERNAL\\fR (a bug in the library)."]
        elif not p.parts.get("ERRORS"):
            out += [".PP", "None of these functions fails in a way that is reported through "
                    "\\fBpmemstream_errno\\fR(3); see RETURN VALUE."]
        for part in p.order:
            if part in ("DESCRIPTION", "RETURN VALUE", "ERRORS"):
                continue
            out.append(".SH " + part)
            out += md_to_roff(p.parts[part])
        write(os.path.join(args.out, "man3", p.name + ".3"), out)
        for n in names[1:] + errc:
            if n == p.name:
                continue
            write(os.path.join(args.out, "man3", n + ".3"), [f".so man3/{p.name}.3"])

    # Section 7: Markdown with placeholders the header fills in.
    pages_roff = []
    for p, names, errc in page_list:
        pages_roff += [".TP", "\\fB" + esc_code(p.name) + "\\fR(3)", esc(p.summary) + ": " +
                       ", ".join("\\fB" + esc_code(n) + "\\fR()" for n in names) + "."]
    for p in pages:
        if p.section != "7":
            continue
        out = [".\\\" SPDX-License-Identifier: BSD-3-Clause",
               ".\\\" Generated by scripts/gen-man.py from docs/man/" + os.path.basename(p.path) +
               " and include/libpmemstream.h; edit those, not this file.",
               th(p.name, 7, date, version, "pmemstream Programmer's Manual"),
               ".SH NAME", esc(p.name) + " \\- " + esc(p.summary)]
        subst = {"@ERROR_CODES@": codes_roff, "@PAGES@": pages_roff}
        for part in p.order:
            out.append(".SH " + part)
            out += md_to_roff(p.parts[part], subst)
        write(os.path.join(args.out, "man7", p.name + ".7"), out)
    return 0


def write(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", required=True)
    ap.add_argument("--src")
    ap.add_argument("--out")
    ap.add_argument("--guide")
    ap.add_argument("--version")
    ap.add_argument("--date")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--examples")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    sections, decls, functions, intros = parse_header(args.header)
    if args.list:
        for f in functions:
            print(f.name)
        return 0
    if not args.src:
        ap.error("--src is required")
    pages = load_pages(args.src)
    if args.check:
        _, problems = assign(pages, sections, decls, functions)
        for p in problems:
            print("FAIL: " + p)
        for p in pages:
            if p.section == "3" and not p.example():
                print(f"FAIL: {os.path.basename(p.path)}: no ```c EXAMPLE program")
                problems.append(p)
        if problems:
            return 1
        print(f"man pages cover all {len(functions)} public functions of {args.header}")
        return 0
    if args.examples:
        os.makedirs(args.examples, exist_ok=True)
        for p in pages:
            ex = p.example()
            if ex:
                write(os.path.join(args.examples, p.name + ".c"), [ex.rstrip("\n")])
        return 0
    if not args.out:
        ap.error("--out, --check, --examples or --list is required")
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
