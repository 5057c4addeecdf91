#!/usr/bin/env python3
"""Renders chat requests with the official Gemma 4 Jinja template, the way Hugging Face's
apply_chat_template does (sandboxed Jinja2, trim_blocks + lstrip_blocks, bos_token <bos>).

Development oracle for src/chat/render.cpp: reads one JSON request per line on stdin
({"messages", "tools", "enable_thinking", "add_generation_prompt"}) and prints one JSON
line per request, {"rendered": ...} or {"error": ...}. Not used by the test suite at run
time; expected strings in tests/chat_render_test.cpp were produced with it.
"""
import json
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/chat/gemma-4-31B-it.chat_template.jinja"


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(open(TEMPLATE).read())
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        kwargs = {"messages": request["messages"], "bos_token": "<bos>",
                  "add_generation_prompt": request.get("add_generation_prompt", True)}
        if request.get("tools"):
            kwargs["tools"] = request["tools"]
        if "enable_thinking" in request:
            kwargs["enable_thinking"] = request["enable_thinking"]
        try:
            print(json.dumps({"rendered": template.render(**kwargs)}))
        except Exception as e:  # the template itself failed
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))


if __name__ == "__main__":
    main()
