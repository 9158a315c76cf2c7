#!/usr/bin/env python3
"""Differential test: random templates rendered by jinja2 (as render.py sets it up) and by detinfer.

Usage:
  g++ -std=c++20 -O1 -Isrc scripts/template-reference/render_json.cc build/src/libdetinfer_template.a \
      build/src/libdetinfer_core.a -licuuc -o /tmp/render_json
  python3 scripts/template-reference/differential.py SEED COUNT [/tmp/render_json]
  SIMPLE=1 python3 ...   # only simple expressions: exercises the whitespace rules (trim/lstrip/-/+)

Prints the first mismatches and their count. Expected mismatches with the full generator are in
territory no chat template uses: jinja2's select/reject/map/unique/items are lazy generators
(printing one shows "<generator ...>", errors surface only when iterated), Markup reprs, and
constant-folded subscripts. SIMPLE=1 runs should report 0.
"""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render as R  # noqa: E402

rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
DRIVER = sys.argv[3] if len(sys.argv) > 3 else "/tmp/render_json"
STRS = ["''", "'a'", "'Ab c'", "' x '", "'héllo'", "'\\n'", "'a,b'", "'😀'", "'1'", "'2.5'", "'TRUE'", "'<think>x</think>y'"]
NUMS = ["0", "1", "2", "-3", "7", "1.5", "-0.5", "0.1", "10.0", "1e3", "3.0"]
VARS = ["s", "n", "f", "l", "d", "e", "nn", "b", "u", "m"]
CTX = {"s": "Hello World", "n": 5, "f": 2.5, "l": [3, 1, 2], "d": {"b": 1, "a": "x"}, "e": [], "nn": None, "b": True,
       "u": "  ünï cödé  ", "m": {"role": "user", "content": " hi ", "tool_calls": [{"function": {"name": "f", "arguments": {"k": 1}}}]}}
FILTERS = ["trim", "length", "upper", "lower", "capitalize", "title", "list", "first", "last", "string", "int", "float", "abs",
           "round", "unique", "sort", "reverse", "tojson", "tojson(indent=2)", "join(',')", "join", "default('D')", "default('D', true)",
           "items", "count", "wordcount", "indent(2)", "replace('l', 'L')", "select('odd')", "reject('none')", "map('string')",
           "sum", "min", "max", "safe", "e", "dictsort", "center(9)", "round(1)", "int(9)"]
TESTS = ["defined", "undefined", "none", "string", "mapping", "sequence", "iterable", "number", "integer", "float",
         "boolean", "true", "false", "odd", "even", "divisibleby(2)", "lower", "upper", "in(l)", "eq(1)", "sameas(none)"]
METHODS = ["upper()", "lower()", "strip()", "split()", "split(',')", "startswith('H')", "endswith('d')", "replace('o', '0')",
           "find('o')", "count('l')", "title()", "capitalize()", "lstrip()", "rstrip()", "rsplit(' ', 1)", "splitlines()",
           "isdigit()", "items()", "keys()", "values()", "get('a')", "get('z', 0)", "index(1)"]
OPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]

def atom(depth):
    r = rng.random()
    if r < 0.25: return rng.choice(STRS)
    if r < 0.45: return rng.choice(NUMS)
    if r < 0.7: return rng.choice(VARS)
    if r < 0.75: return rng.choice(["none", "true", "false", "None", "True", "missing"])
    if depth > 2: return rng.choice(VARS)
    if r < 0.82: return "[" + ", ".join(expr(depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    if r < 0.86: return "{" + ", ".join(f"{rng.choice(STRS)}: {expr(depth + 1)}" for _ in range(rng.randint(0, 2))) + "}"
    if r < 0.9: return "(" + expr(depth + 1) + ")"
    return "(" + expr(depth + 1) + ", " + expr(depth + 1) + ")"

def postfix(e, depth):
    r = rng.random()
    if r < 0.15: return f"{e}|{rng.choice(FILTERS)}"
    if r < 0.25: return f"{e} is {rng.choice(['', 'not '])}{rng.choice(TESTS)}"
    if r < 0.35: return f"{e}.{rng.choice(METHODS)}"
    if r < 0.42: return e + "[" + rng.choice(['0', '-1', '1:', ':-1', '::-1', '1:3', "'a'", "'role'"]) + "]"
    if r < 0.47: return f"{e}.{rng.choice(['role', 'content', 'tool_calls', 'a', 'b'])}"
    return e

SIMPLE = os.environ.get("SIMPLE") == "1"
def expr(depth=0):
    if SIMPLE: return rng.choice(["s", "n", "'a b'", "l|length", "d.a", "m.content|trim", "none", "loop.index if loop is defined else 0", "x if x is defined else 'u'"])
    e = postfix(atom(depth), depth)
    if depth < 2 and rng.random() < 0.4:
        e = f"{e} {rng.choice(OPS)} {postfix(atom(depth + 1), depth + 1)}"
    if depth < 1 and rng.random() < 0.1:
        e = f"{e} if {expr(depth + 1)} else {expr(depth + 1)}"
    if rng.random() < 0.08: e = "not " + e
    return e

WS = ["", " ", "  ", "\n", " \n", "\n  ", "\t", "\n\n", " x ", "\n y\n  ", "\n\t \n", "  \n\n    ", "\u3000", "\r\n  ", " \u00a0\n"]
def ws(): return rng.choice(WS)
def tag_open(): return "{%" + rng.choice(["", "-", "+"]) + " "
def tag_close(): return " " + rng.choice(["", "-", "+"]) + "%}"
def var(): return "{{" + rng.choice(["", "-"]) + " " + expr() + " " + rng.choice(["", "-"]) + "}}"

def stmt(depth=0):
    r = rng.random()
    if r < 0.35 or depth > 2: return ws() + var() + ws()
    if r < 0.55: return ws() + tag_open() + f"if {expr()}" + tag_close() + body(depth + 1) + tag_open() + "else" + tag_close() + body(depth + 1) + tag_open() + "endif" + tag_close() + ws()
    if r < 0.75: return ws() + tag_open() + f"for x in {rng.choice(['l', 'd', 's', 'e', 'range(3)', 'm.tool_calls', 'd.items()'])}" + tag_close() + body(depth + 1) + "{{ x }}{{ loop.index }}" + tag_open() + "endfor" + tag_close() + ws()
    if r < 0.85: return ws() + tag_open() + f"set v = {expr()}" + tag_close() + ws() + "{{ v }}"
    if r < 0.92: return ws() + "{#" + rng.choice(["", "-"]) + " c " + rng.choice(["", "-"]) + "#}" + ws()
    return ws()

def body(depth):
    return "".join(stmt(depth) for _ in range(rng.randint(0, 2)))

cases = [{"template": body(0) + body(0), "context": CTX} for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3000)]
mine = json.loads(subprocess.run([DRIVER], input=json.dumps(cases), capture_output=True, text=True).stdout)
bad = 0
for c, m in zip(cases, mine):
    ref = R.render(c["template"], json.loads(json.dumps(c["context"])))
    if ("output" in ref) != ("output" in m) or ("output" in ref and ref["output"] != m["output"]):
        bad += 1
        if bad <= 12:
            print("TEMPLATE:", repr(c["template"]))
            print("  jinja2:", repr(ref.get("output", "ERR " + ref.get("error_type", "") + ": " + ref.get("error", "")))[:300])
            print("  ours:  ", repr(m.get("output", m.get("error")))[:300])
print("mismatches", bad, "of", len(cases))
