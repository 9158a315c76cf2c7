#!/usr/bin/env python3
"""Expected chat-template renders from Python's jinja2, rendered exactly as transformers does.

transformers (src/transformers/utils/chat_template_utils.py, _compile_jinja_template) renders a
chat template with

    ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                  extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=indent,
                                   separators=separators, sort_keys=sort_keys)
    globals["raise_exception"] = raise TemplateError(message)
    globals["strftime_now"] = datetime.now().strftime(format)

and calls template.render(messages=..., tools=..., documents=None, add_generation_prompt=...,
**special_tokens, **kwargs). AssistantTracker's {% generation %} block renders its body.

This script reproduces that environment (with strftime_now on a fixed clock, 2026-01-15
10:30:00, which the C++ tests inject too) and writes:

  tests/data/templates/expected_renders.json  - the real templates x a fixed set of conversations
  tests/data/templates/expected_constructs.json - one small template per construct

Usage: python3 scripts/template-reference/render.py   (needs jinja2 3.1.x; no network)
"""
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "templates")
FIXED_NOW = datetime(2026, 1, 15, 10, 30, 0)


class GenerationBlock(Extension):
    """transformers' AssistantTracker without the index tracking: renders the body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationBlock, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


def render(source, context):
    """{"output": text} or {"error": message, "error_type": class name}."""
    try:
        template = ENV.from_string(source)
    except Exception as e:  # noqa: BLE001 - any failure is an expected error
        return {"error": str(e), "error_type": type(e).__name__, "phase": "parse"}
    try:
        return {"output": template.render(**context)}
    except Exception as e:  # noqa: BLE001
        return {"error": str(e), "error_type": type(e).__name__, "phase": "render"}


# ---- real templates x conversations ----

TEMPLATES = {
    # file: (bos_token, eos_token); None = the tokenizer has no such token (not passed)
    "llama3.1.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.2.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5.jinja": (None, "<|im_end|>"),
    "qwen3.jinja": (None, "<|im_end|>"),
    "gemma3.jinja": ("<bos>", "<end_of_turn>"),
    "mistral-nemo.jinja": ("<s>", "</s>"),
    "phi3.5.jinja": ("<s>", "<|endoftext|>"),
    "hermes3-tool-use.jinja": ("<|begin_of_text|>", "<|im_end|>"),
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time <in> a \"zone\" & more.",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": []},
    },
}

COMPLEX_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search with a complex schema.",
        "parameters": {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags to match"},
                "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}, "description": "A matrix"},
                "choice": {"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "Either"},
                "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast", "description": "Mode"},
                "limit": {"type": "integer", "default": 10, "nullable": True, "description": "Max results"},
                "ratio": {"type": "number", "default": 0.5, "description": "A ratio"},
                "union": {"type": ["string", "integer"], "description": "A string or an integer"},
                "meta": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra"},
            },
            "required": ["tags"],
        },
        "return": {"type": "string", "description": "The results"},
    },
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello! How are you?"}
A1 = {"role": "assistant", "content": "I'm fine, thanks. How can I help?"}
U2 = {"role": "user", "content": "What is 2 + 2?"}
UNICODE_USER = {"role": "user", "content": "  Grüße aus Zürich! 你好，世界 🎉\n\tTabs, \"quotes\", 'single' and \\backslashes\\  \n"}
UNICODE_ASSISTANT = {"role": "assistant", "content": "\nÇa va très bien — merci ✓\n\n"}

TOOL_CALL_DICT = {
    "role": "assistant",
    "content": "",
    "tool_calls": [{"id": "call12345", "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}],
}
TOOL_CALL_STR = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call12345", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"}


def twenty_messages():
    msgs = [SYSTEM]
    for k in range(19):
        if k % 2 == 0:
            msgs.append({"role": "user", "content": f"Question number {k // 2 + 1}: tell me about topic {k} in detail, please."})
        else:
            msgs.append({"role": "assistant", "content": f"Answer {k // 2 + 1}: here is a paragraph about topic {k - 1}.\nIt has two lines."})
    return msgs


CASES = [
    # name, messages, add_generation_prompt, tools, extra
    ("system_multi_turn", [SYSTEM, U1, A1, U2], True, None, {}),
    ("system_multi_turn_no_gen", [SYSTEM, U1, A1, U2], False, None, {}),
    ("no_system", [U1, A1, U2], True, None, {}),
    ("single_user", [U1], True, None, {}),
    ("ends_with_assistant", [U1, A1], False, None, {}),
    ("unicode_whitespace", [SYSTEM, UNICODE_USER, UNICODE_ASSISTANT, U2], True, None, {}),
    ("tools_defined", [SYSTEM, {"role": "user", "content": "Weather in Zürich?"}], True, [WEATHER_TOOL, TIME_TOOL], {}),
    ("tools_no_system", [{"role": "user", "content": "Weather in Zürich?"}], True, [WEATHER_TOOL], {}),
    ("tool_call_dict_args", [{"role": "user", "content": "Weather in Zürich?"}, TOOL_CALL_DICT, TOOL_RESULT], True, [WEATHER_TOOL], {}),
    ("tool_call_string_args", [{"role": "user", "content": "Weather in Paris?"}, TOOL_CALL_STR, TOOL_RESULT,
                               {"role": "assistant", "content": "It is 21.5 °C and clear."}], False, [WEATHER_TOOL], {}),
    ("thinking_disabled", [U1], True, None, {"enable_thinking": False}),
    ("thinking_enabled", [U1], True, None, {"enable_thinking": True}),
    ("reasoning_content", [U1, {"role": "assistant", "content": "Fine.", "reasoning_content": "The user greets me.\n"}, U2], True, None, {}),
    ("think_tags_in_content", [U1, {"role": "assistant", "content": "<think>\nLet me think.\n</think>\n\nFine, thanks."}], False, None, {}),
    ("think_tags_last_turn", [U1, {"role": "assistant", "content": "<think>\nhm\n</think>\n\nFine."}, U2,
                              {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"}], False, None, {}),
    ("tools_complex_schema", [SYSTEM, {"role": "user", "content": "Find it."}], True, [COMPLEX_TOOL, WEATHER_TOOL], {}),
    ("builtin_date_kwargs", [U1], True, None, {"date_string": "01 Feb 2026"}),
    ("empty_conversation", [], True, None, {}),
    ("empty_conversation_no_gen", [], False, None, {}),
    ("role_alternation_error", [U1, U2], True, None, {}),
    ("twenty_messages", twenty_messages(), True, None, {}),
]


def chat_context(bos, eos, messages, add_generation_prompt, tools, extra):
    ctx = {"messages": messages, "tools": tools, "documents": None, "add_generation_prompt": add_generation_prompt}
    if bos is not None:
        ctx["bos_token"] = bos
    if eos is not None:
        ctx["eos_token"] = eos
    ctx.update(extra)
    return ctx


def real_template_renders():
    out = []
    for tfile, (bos, eos) in TEMPLATES.items():
        with open(os.path.join(DATA, tfile), encoding="utf-8") as f:
            source = f.read()
        for name, messages, agp, tools, extra in CASES:
            ctx = chat_context(bos, eos, messages, agp, tools, extra)
            entry = {"template": tfile, "case": name,
                     "inputs": {"messages": messages, "add_generation_prompt": agp, "tools": tools, "extra": extra,
                                "bos_token": bos, "eos_token": eos}}
            entry.update(render(source, ctx))
            out.append(entry)
    return out


# ---- one small template per construct ----

CONSTRUCTS = [
    # (name, template, context)
    ("text_only", "Hello, world!\n", {}),
    ("print_var", "{{ x }}", {"x": "hi"}),
    ("print_none_bool", "{{ none }} {{ true }} {{ False }} {{ x }}", {"x": None}),
    ("print_numbers", "{{ 1 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 10 / 4 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 3 * 1.5 }}", {}),
    ("print_float_json", "{{ x }} {{ y }} {{ z }}", {"x": 1.0, "y": 123456789.125, "z": 1e-7}),
    ("print_list_dict_repr", "{{ [1, 'a', \"b'c\", none, true, 1.5] }} {{ {'k': 'v', 'n': [1, (2, 3)]} }} {{ (1,) }} {{ () }}", {}),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\\"f\\x41\\u00e9\\U0001F600' }}|{{ \"\\d\" }}", {}),
    ("string_concat_literals", "{{ 'a' 'b' \"c\" }}", {}),
    ("undefined_prints_empty", "[{{ missing }}][{{ missing ~ 'x' }}][{{ missing | default('d') }}]", {}),
    ("undefined_iterates_empty", "{% for x in missing %}X{% else %}empty{% endfor %}|{{ missing | length }}", {}),
    ("undefined_attr_is_error", "{{ missing.attr }}", {}),
    ("missing_key_undefined", "{{ d.nope }}|{{ d['nope'] is defined }}|{{ d.k }}", {"d": {"k": 1}}),
    ("if_elif_else", "{% for n in [1, 2, 3, 4] %}{% if n == 1 %}one{% elif n == 2 %}two{% elif n is odd %}odd{% else %}other{% endif %},{% endfor %}", {}),
    ("for_loop_vars", "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}:{{ loop.previtem }}>{{ loop.nextitem }};{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}none{% endfor %}", {}),
    ("for_filter_if", "{% for x in range(10) if x is even %}{{ x }}{{ '' if loop.last else ',' }}{{ loop.length }}{% endfor %}", {}),
    ("for_unpack_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d | items %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2, "c": 3}}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}|{{ d.keys() | list }}|{{ d.values() | list }}", {"d": {"x": 1, "y": 2}}),
    ("for_string_chars", "{% for c in 'héllo' %}[{{ c }}]{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + 10 %}{{ x }},{% endfor %}{{ x }}", {}),
    ("set_in_if_leaks", "{% if true %}{% set y = 'set' %}{% endif %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(total=0, names=[]) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}|{{ ns.names }}", {}),
    ("namespace_empty_then_set", "{% set ns = namespace() %}{% set ns.index = 0 %}{% set ns.index = ns.index + 1 %}{{ ns.index }}", {}),
    ("set_tuple_unpack", "{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set c, d = 'xy' %}", {}),
    ("set_block", "{% set block %}Hello {{ name }}!{% endset %}[{{ block }}]{% set up | upper %}shout{% endset %}{{ up }}", {"name": "Bob"}),
    ("macro_basic", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punct='.') }}", {}),
    ("macro_sees_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{{ outer }}{% endmacro %}{{ m() }}", {"outer": "O"}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}", {}),
    ("generation_block", "A{% generation %}gen {{ 1 }}{% endgeneration %}B", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}", {}),
    ("raw_block", "{% raw %}{{ not rendered }}{% endraw %}", {}),
    ("comments", "a{# comment #}b{#- stripped -#}  c", {}),
    ("whitespace_control", "x  {{- ' y ' -}}  z\n  {%- if true -%}\n  w  \n{%- endif %}\nend", {}),
    ("trim_blocks", "{% if true %}\nline1\n{% endif %}\nline2\n{% for i in [1,2] %}\n{{ i }}\n{% endfor %}\n", {}),
    ("lstrip_blocks", "a\n    {% if true %}\n    indented\n    {% endif %}\n  {{ 'var kept' }}\n  {# comment #}\nb", {}),
    ("lstrip_not_after_text", "text {% if true %}x{% endif %} after", {}),
    ("plus_disables_lstrip", "a\n    {%+ if true %}x{% endif +%}\ny", {}),
    ("trailing_newline_dropped", "line\n", {}),
    ("crlf_normalised", "a\r\nb\r{% if true %}\r\nc{% endif %}", {}),
    ("arith_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }} {{ 'a' ~ 1 ~ 2 * 3 }} {{ 7 % 3 * 2 }} {{ -x|abs }}", {"x": 3}),
    ("error_concat_binds_tighter_than_plus", "{{ 'a' ~ 1 + 2 }}", {}),
    ("string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }} {{ 'x' ~ none ~ 1.0 }}", {}),
    ("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}", {}),
    ("in_not_in", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'cat' }} {{ 'x' in missing }}", {}),
    ("and_or_not", "{{ 0 or 'b' }} {{ 'a' and 'b' }} {{ none and 1 }} {{ not 0 }} {{ not 'x' }} {{ [] or {} or 'last' }}", {}),
    ("cond_expr", "{{ 'y' if true else 'n' }} {{ 'y' if false else 'n' }} [{{ 'y' if false }}] {{ 1 if 0 else 2 if 0 else 3 }}", {}),
    ("truthiness", "{% for v in [0, 1, '', 'a', [], [0], {}, none, 0.0] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    ("subscripts_slices", "{{ s[0] }}{{ s[-1] }}{{ s[1:3] }}{{ s[::-1] }}{{ s[::2] }}{{ l[1:] }}{{ l[:-1] }}{{ l[-2:] }}{{ l[::-1] }}{{ l[5] is defined }}{{ s[10:] }}", {"s": "héllo", "l": [1, 2, 3, 4]}),
    ("attr_and_item", "{{ m.role }} {{ m['role'] }} {{ m.tool_calls[0].function.name }} {{ l.0 }}", {"m": {"role": "user", "tool_calls": [{"function": {"name": "f"}}]}, "l": ["zero"]}),
    ("tests_types", "{% for v in [1, 1.5, 'a', [1], {'a': 1}, none, true] %}{{ v is number }}{{ v is integer }}{{ v is float }}{{ v is string }}{{ v is sequence }}{{ v is iterable }}{{ v is mapping }}{{ v is none }}{{ v is boolean }};{% endfor %}", {}),
    ("tests_values", "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ true is true }}{{ 1 is true }}{{ false is false }}{{ x is defined }}{{ y is undefined }}{{ x is not none }}{{ 'a' is eq 'a' }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 3 is gt 2 }}{{ 2 is in [1, 2] }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ none is sameas none }}", {"x": 1}),
    ("filter_trim_case", "[{{ '  a b  ' | trim }}][{{ 'xxaxx' | trim('x') }}]{{ 'hello world' | upper }}{{ 'HeLLo' | lower }}{{ 'hello WORLD' | capitalize }}{{ 'hello-world foo(bar) [x]' | title }}{{ 'éclair' | upper }}", {}),
    ("filter_length", "{{ 'héllo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }}", {}),
    ("filter_tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}|{{ 'é\"<>&\\n' | tojson }}|{{ 1.0 | tojson }}|{{ none | tojson }}|{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|{{ 'é' | tojson(ensure_ascii=true) }}",
     {"d": {"z": [1, 2.5, {"k": None}], "a": "ü", "t": True, "e": {}}}),
    ("filter_join_default", "{{ [1, 'a', none] | join(', ') }}|{{ ['x', 'y'] | join }}|{{ users | join(', ', attribute='name') }}|{{ none | default('n') }}|{{ '' | default('e', true) }}|{{ '' | d('e') }}|{{ 0 | default(5, boolean=true) }}",
     {"users": [{"name": "a"}, {"name": "b"}]}),
    ("filter_select_reject", "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}|{{ msgs | rejectattr('role', 'eq', 'user') | list | length }}|{{ [1, 2, 3, 4] | select('odd') | list }}|{{ [1, 2, 3, 4] | reject('even') | list }}|{{ [0, 1, '', 'a'] | select | list }}|{{ msgs | selectattr('flag') | list | length }}|{{ msgs | selectattr('role', 'in', ['system', 'tool']) | list | length }}",
     {"msgs": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1", "flag": True}, {"role": "user", "content": "u2"}]}),
    ("filter_map", "{{ ['a', 'b'] | map('upper') | join }}|{{ ['ab', 'cb'] | map('replace', 'b', 'x') | list }}|{{ items | map(attribute='n', default='?') | list }}|{{ items | map(attribute='deep.0') | list }}",
     {"items": [{"n": 1, "deep": ["d1"]}, {"deep": ["d2"]}]}),
    ("filter_list_first_last", "{{ 'abc' | list }}{{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}{{ 'xyz' | first }}{{ 'xyz' | last }}{{ [] | first is defined }}", {}),
    ("filter_replace_string", "{{ 'aaa' | replace('a', 'b') }}{{ 'aaa' | replace('a', 'b', 2) }}{{ 'ab' | replace('', '-') }}{{ 42 | string }}{{ [1] | string }}{{ none | string }}", {}),
    ("filter_int_float_abs_round", "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ -3 | abs }} {{ -2.5 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }} {{ 5 | round }} {{ '0x1A' | int(0, 16) }}", {}),
    ("filter_unique_sort_reverse", "{{ [3, 1, 2, 1] | unique | list }}|{{ ['b', 'A', 'a', 'B'] | unique | list }}|{{ [3, 1, 2] | sort }}|{{ ['b', 'A', 'c'] | sort }}|{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}|{{ [3, 1, 2] | sort(reverse=true) }}|{{ users | sort(attribute='age') | map(attribute='n') | list }}|{{ [1, 2, 3] | reverse | list }}|{{ 'abc' | reverse }}|{{ {'b': 1, 'a': 2} | dictsort }}",
     {"users": [{"n": "x", "age": 30}, {"n": "y", "age": 20}, {"n": "z", "age": 30}]}),
    ("filter_indent_wordcount", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}|{{ 'one two, three-four' | wordcount }}", {}),
    ("percent_format", "{{ '%s is %d' % ('x', 3) }}|{{ 'v=%s' % 1.5 }}|{{ '100%%' % () }}|{{ '%r' % 'q' }}", {}),
    ("filter_misc", "{{ [1, 2, 3] | sum }} {{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ '<a href=\"x\">&' | e }} {{ 'x' | safe }} {{ '%s-%d' | format('a', 3) }} {{ 'ab' | center(6) }}|", {}),
    ("string_methods", "{{ s.startswith('He') }}{{ s.endswith(('x', 'd!')) }}[{{ '  p  '.strip() }}][{{ 'xxpxx'.lstrip('x') }}][{{ '  p  '.rstrip() }}]{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(' ', 1) }}{{ 'a b c'.rsplit(' ', 1) }}{{ s.upper() }}{{ s.lower() }}{{ 'hello wORLD'.title() }}{{ 'hELLO'.capitalize() }}{{ s.replace('l', 'L') }}{{ s.find('o') }}{{ s.find('z') }}{{ s.count('l') }}{{ '{} and {name}'.format(1, name='n') }}{{ '-'.join(['a', 'b']) }}",
     {"s": "Hello World!"}),
    ("string_methods_unicode", "{{ s.split('</think>')[-1].lstrip('\\n') }}|{{ s.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|{{ 'ünï'.upper() }}|{{ 'ÀB'.lower() }}|{{ 'héllo'.find('l') }}",
     {"s": "<think>\nreason ü\n</think>\n\nanswer é"}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'def') }} {{ d.items() | list }} {{ d['items'] is defined }}", {"d": {"a": 1, "b": [2]}}),
    ("range_dict_globals", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ dict(a=1, b='x') }} {{ dict(a=1).a }}", {}),
    ("raise_exception", "{% if x > 1 %}{{ raise_exception('x must be at most 1, got ' ~ x) }}{% endif %}ok", {"x": 2}),
    ("strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %j') }}", {}),
    ("namespace_in_macro", "{% macro count(items) %}{% set ns = namespace(n=0) %}{% for i in items %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{% endmacro %}{{ count([1, 2, 3]) }}", {}),
    ("tojson_unicode_and_nesting", "{{ x | tojson }}", {"x": {"emoji": "🎉", "ctrl": "\u0001\u007f", "nested": [[[]], {"a": {"b": None}}], "neg": -0.0, "big": 1234567890123456789, "f": 3.14}}),
    ("message_content_list", "{% for item in m.content %}{% if item.type == 'text' %}{{ item.text | trim }}{% elif item['type'] == 'image' %}<img>{% endif %}{% endfor %}", {"m": {"content": [{"type": "text", "text": " hi "}, {"type": "image"}]}}),
    ("whitespace_edge_cases", "A  {%- if true %}  B{% endif -%}  \n  C\n\t{% if true %}D{% endif %}\n  {%- if true %}E{% endif %}\n  x {% if true %}F{% endif %}\n{# c #}G\n  {#- c -#}  H\n{{- ' I ' }}\n    {{ 'J' }}", {}),
    ("trim_blocks_only_one_newline", "{% if true %}\n\nA{% endif %}\n\nB{# c #}\n\nC{% set x = 1 %}\r\nD", {}),
    ("lstrip_unicode_space", "a\n\u3000 {% if true %}x{% endif %}", {}),
    ("minus_strips_unicode_space", "a\u00a0\n {{- 'b' -}} \u2003c", {}),
    ("floats_repr", "{{ 1/3 }} {{ 2.0 ** 0.5 }} {{ 1e300 * 1e10 }} {{ -1e300 * 1e10 }} {{ 100000000000000000.0 }} {{ 0.0001 }} {{ 0.00001 }} {{ 123456789012345678.0 }} {{ 6 / 3 }} {{ 1e15 }} {{ 12345.678e3 }} {{ 5e-324 }} {{ 2.5e-3 }}", {}),
    ("repr_nested", "{{ [(1, 'a'), {'k': none}] }} {{ {'a': none} | string }} {{ ['é', '\\x00', 'tab\t', \"q'\"] }} {{ [1.0, -0.0] }}", {}),
    ("undefined_comparisons", "{{ missing == none }} {{ missing is none }} {{ missing != 1 }} {{ none | default('x') }} {{ missing | default(none) }}", {}),
    ("default_chains", "{% set x = x | default(5) %}{{ x }} {{ y | default(z) | default('w') }}", {}),
    ("precedence_misc", "{{ not 'a' in 'abc' }} {{ 'a' if true else 'b' | upper }} {{ ('b' if false) ~ 'a' }} {{ 1 + 2 if false else 3 }} {{ [1, 2, 3] | join }} {{ '{' ~ '}' }} {{ 2 * 3 ** 2 }} {{ (-2) ** 2 }}", {}),
    ("loop_in_filter_and_nested_loop_var", "{% for x in [1, 2, 3] if x > 1 %}{{ loop.index }}/{{ loop.length }} {% endfor %}{% for a in [1, 2] %}{% set outer = loop %}{% for b in [3, 4] %}{{ outer.index }}{{ loop.index }} {% endfor %}{% endfor %}", {}),
    ("for_unpack_lists", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}{% for (a, b) in [(5, 6)] %}{{ a * b }}{% endfor %}", {}),
    ("set_before_in_loop", "{% set x = 'outer' %}{% for i in [1, 2] %}[{{ x }}]{% set x = 'inner' ~ i %}[{{ x }}]{% endfor %}[{{ x }}]", {}),
    ("macro_defaults_and_varargs_free", "{% macro m(a, b=a ~ '!', c=none) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m('x') }}|{{ m('x', c=1) }}|{{ m(a='y', b='z') }}", {}),
    ("macro_missing_arg_undefined", "{% macro m(a, b) %}[{{ a }}][{{ b }}][{{ b is defined }}]{% endmacro %}{{ m(1) }}", {}),
    ("string_index_methods", "{{ 'a-b-c'.rsplit('-') }} {{ 'a-b-c'.rsplit('-', 1) }} {{ ' a b '.rsplit(None, 1) }} {{ 'x'.split('x') }} {{ ''.split() }} {{ 'ab\ncd\r\nef'.splitlines() }} {{ 'abc'.index('c') }} {{ 'aXbXc'.replace('X', '') }} {{ 'abc'.startswith('') }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'Ab'.isupper() }}", {}),
    ("title_capitalize_edge", "{{ 'hello   world' | title }} {{ \"they're bill's\" | title }} {{ \"they're bill's\".title() }} {{ 'ǆemal' | capitalize }} {{ 'ß' | upper }} {{ 'İ' | lower | length }}", {}),
    ("tojson_indent_variants", "{{ d | tojson(indent=0) }}|{{ d | tojson(indent='\\t') }}|{{ [[], {}, [1]] | tojson(indent=1) }}|{{ 'x' | tojson(indent=2) }}", {"d": {"a": [1, {"b": 2}]}}),
    ("tojson_keys_types", "{{ {1: 'a', 2.5: 'b', true: 'c', none: 'd'} | tojson }}|{{ {'a': (1, 2)} | tojson }}", {}),
    ("items_sorting_stability", "{{ ms | sort(attribute='k') | map(attribute='v') | join }}|{{ ms | sort(attribute='k', reverse=true) | map(attribute='v') | join }}", {"ms": [{"k": 2, "v": "a"}, {"k": 1, "v": "b"}, {"k": 2, "v": "c"}, {"k": 1, "v": "d"}]}),
    ("length_of_content_types", "{{ m.content | length }} {{ m.tool_calls | length }} {{ m.missing | length }} {{ m | length }}", {"m": {"content": "héllo wörld", "tool_calls": [1, 2]}}),
    ("dict_literal_dupes_and_order", "{{ {'b': 1, 'a': 2, 'b': 3} }} {{ {'b': 1, 'a': 2} | list }}", {}),
    ("attr_fallbacks", "{{ d['get'] is defined }} {{ d.get is defined }} {{ s.upper is defined }} {{ s.nope is defined }} {{ l.count(1) }} {{ l.index(2) }}", {"d": {"x": 1}, "s": "str", "l": [1, 2, 1]}),
    ("int_float_filters_edge", "{{ ' 12 ' | int }} {{ '1_000' | int }} {{ '-3.9' | int }} {{ true | int }} {{ none | int }} {{ '1e3' | float }} {{ 'inf' | float }} {{ '' | float(2.5) }} {{ 7 | float }} {{ 2.5 | int }}", {}),
    ("round_edge", "{{ 0.5 | round }} {{ 1.5 | round }} {{ -0.5 | round }} {{ 1.005 | round(2) }} {{ 1234.5678 | round(-2) }} {{ 3 | round(2) }} {{ 2.5 | round(0, 'floor') }}", {}),
    ("slice_edge", "{{ l[10:] }} {{ l[-10:2] }} {{ l[::-2] }} {{ l[3:0:-1] }} {{ s[-3:] }} {{ s[:-3] }} {{ s[5:1] }} {{ l[:] }}", {"l": [0, 1, 2, 3, 4], "s": "😀héllo"}),
    ("none_printing_in_concat", "{{ none ~ '' }}|{{ 'a' ~ none }}|{{ [none] | join(',') }}|{{ none | string | length }}", {}),
    ("qwen_like_reverse_loop", "{% set ns = namespace(idx=l|length - 1) %}{% for m in l[::-1] %}{% set index = (l|length - 1) - loop.index0 %}{% if ns.idx == l|length - 1 and m == 'u' %}{% set ns.idx = index %}{% endif %}{% endfor %}{{ ns.idx }}", {"l": ["u", "a", "u", "a"]}),
    ("undefined_repr_in_containers", "{{ [d.nope, 1] }} {{ (missing,) }}", {"d": {}}),
    ("tests_on_odd_types", "{{ 2.5 is even }} {{ 3.0 is odd }} {{ 5 is lower }} {{ 'a1' is lower }} {{ '' is upper }}", {}),
    ("if_tuple_condition", "{% if a, b %}T{% endif %}{% if (a if b else 1) %}U{% endif %}", {"a": 0, "b": 0}),
    ("getitem_odd_keys", "[{{ d[[1]] }}][{{ l['x'] }}][{{ s[1.5] }}]", {"d": {}, "l": [1], "s": "ab"}),
    ("error_condexpr_in_if", "{% if 1 if x else 0 %}x{% endif %}", {"x": 1}),
    ("error_chained_tests", "{{ x is odd is even }}", {"x": 1}),
    ("error_unhashable_in_dict", "{{ [1] in {} }}", {}),
    ("error_indent_list", "{{ l | indent }}", {"l": [1]}),
    ("error_slice_none", "{{ x[1:] }}", {"x": None}),
    # errors (expected to fail in jinja2 too)
    ("error_syntax_unclosed", "{% if x %}\nno end", {"x": 1}),
    ("error_syntax_bad_token", "line 1\nline 2 {{ 1 + }}", {}),
    ("error_unknown_filter", "a\nb\n{{ x | frobnicate }}", {"x": 1}),
    ("error_unknown_test", "{{ x is frobnicated }}", {"x": 1}),
    ("error_unknown_tag", "{% frobnicate %}", {}),
    ("error_type_add", "{{ 'a' + 1 }}", {}),
    ("error_undefined_add", "{{ missing + 1 }}", {}),
    ("error_none_in", "{{ 'a' in x }}", {"x": None}),
    ("error_set_attr_non_namespace", "{% set d.x = 1 %}", {"d": {}}),
    ("error_break_outside_loop", "{% break %}", {}),
    ("error_list_append_sandbox", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("error_range_too_big", "{{ range(1000000) | length }}", {}),
]


def construct_renders():
    out = []
    for name, source, ctx in CONSTRUCTS:
        entry = {"name": name, "template": source, "context": ctx}
        entry.update(render(source, ctx))
        out.append(entry)
    return out


def main():
    print(f"jinja2 {jinja2.__version__}", file=sys.stderr)
    renders = real_template_renders()
    with open(os.path.join(DATA, "expected_renders.json"), "w", encoding="utf-8") as f:
        json.dump({"jinja2_version": jinja2.__version__, "fixed_now": FIXED_NOW.isoformat(), "renders": renders},
                  f, ensure_ascii=False, indent=1)
        f.write("\n")
    constructs = construct_renders()
    with open(os.path.join(DATA, "expected_constructs.json"), "w", encoding="utf-8") as f:
        json.dump({"jinja2_version": jinja2.__version__, "fixed_now": FIXED_NOW.isoformat(), "constructs": constructs},
                  f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for r in renders if "error" in r)
    print(f"{len(renders)} template renders ({errors} expected errors), {len(constructs)} constructs", file=sys.stderr)


if __name__ == "__main__":
    main()
