#!/usr/bin/env python3
"""Writes tests/data/chat_reference_cases.jsonl: conversations that exercise each rule of the
Gemma 4 chat template (and its quirks), with `rendered` produced by the official template
through render_reference.py (Jinja2), never by facet's renderer."""
import json
import os
import subprocess
import sys

W = {"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}}}
T = {"type":"function","function":{"name":"get_time","description":"Current time"}}
u = lambda t: {"role":"user","content":t}
a = lambda t: {"role":"assistant","content":t}
call = lambda name, args, id=None: ({"id":id} if id else {}) | {"type":"function","function":{"name":name,"arguments":args}}
cases = {
 "mid_system": {"messages":[u("hi"),{"role":"system","content":" be brief "},u("ok")]},
 "mid_developer": {"messages":[{"role":"system","content":"S"},u("hi"),{"role":"developer","content":"D"},u("ok")]},
 "reasoning_kept": {"messages":[u("q"),{"role":"assistant","content":"","reasoning_content":"let me think","tool_calls":[call("get_weather",{"city":"Oslo"},"c1")]},{"role":"tool","tool_call_id":"c1","content":"cold"}],"tools":[W],"enable_thinking":True},
 "reasoning_dropped_before_user": {"messages":[u("q"),{"role":"assistant","content":"","reasoning":"old thought","tool_calls":[call("get_weather",{"city":"Oslo"},"c1")]},{"role":"tool","tool_call_id":"c1","content":"cold"},a("It is cold."),u("thanks")],"tools":[W],"enable_thinking":True},
 "reasoning_without_calls": {"messages":[u("q"),{"role":"assistant","content":"A","reasoning_content":"t"}],"add_generation_prompt":False},
 "two_calls_two_results": {"messages":[u("q"),{"role":"assistant","content":None,"tool_calls":[call("get_weather",{"city":"Oslo"},"a"),call("get_time",{},"b")]},{"role":"tool","tool_call_id":"b","content":"12:00"},{"role":"tool","tool_call_id":"a","content":"cold"}],"tools":[W,T]},
 "results_then_answer": {"messages":[u("q"),{"role":"assistant","content":"","tool_calls":[call("get_weather",{"city":"Oslo"},"a")]},{"role":"tool","tool_call_id":"a","content":"cold"},a("It is cold in Oslo."),u("and now?")],"tools":[W]},
 "results_then_answer_end": {"messages":[u("q"),{"role":"assistant","content":"","tool_calls":[call("get_weather",{"city":"Oslo"},"a")]},{"role":"tool","tool_call_id":"a","content":"cold"},a("It is cold in Oslo.")],"tools":[W]},
 "call_without_result": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("get_weather",{"city":"Oslo"},"a")]}],"tools":[W]},
 "call_with_content_and_result": {"messages":[u("q"),{"role":"assistant","content":"Let me check.","tool_calls":[call("get_weather",{"city":"Oslo"},"a")]},{"role":"tool","tool_call_id":"a","content":"cold"}],"tools":[W]},
 "structured_results": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("g",{},"b"),call("h",{},"c"),call("k",{},"d")]},{"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"part1 "},{"type":"image"},{"type":"text","text":" part2"}]},{"role":"tool","tool_call_id":"c","content":42},{"role":"tool","tool_call_id":"d","content":None},{"role":"tool","tool_call_id":"d","content":True},{"role":"tool","tool_call_id":"d","content":2.50}]},
 "mapping_results_legacy": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f",{})],"tool_responses":[{"name":"f","response":{"temp":21.5,"Sky":"clear","ok":True,"list":[1,None,"x"],"nested":{"b":1,"A":2}}}]}]},
 "nested_args": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f",{"b":[1,2.5,-3,1e20,0.1,1e-7,100.0,True,None,"s"],"a":{"y":{"z":"deep"},"X":"q\"uote"},"B":"upper","c":"multi\nline {braces}"},"a")]},{"role":"tool","tool_call_id":"a","content":"ok"}]},
 "string_args": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f","city: Paris","a")]},{"role":"tool","tool_call_id":"a","content":"ok"}]},
 "null_args": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f",None,"a")]},{"role":"tool","tool_call_id":"a","content":"ok"}]},
 "multimodal": {"messages":[{"role":"user","content":[{"type":"image"},{"type":"text","text":" What is this? "},{"type":"audio"},{"type":"video"},{"type":"file"}]}]},
 "multimodal_assistant_call": {"messages":[u("q"),{"role":"assistant","content":[{"type":"image"}],"tool_calls":[call("f",{},"a")]}]},
 "unicode_trim": {"messages":[u("\u00a0\u3000 hello \u2003\n")]},
 "model_strip": {"messages":[u("q"),a("  <|channel>thought\nA<channel|>B <|channel>unclosed"),u("r"),{"role":"assistant","content":[{"type":"text","text":"<|channel>x<channel|> one "},{"type":"text","text":" two"}]}],"add_generation_prompt":False},
 "legacy_tool_responses": {"messages":[u("q"),{"role":"assistant","content":"","tool_calls":[call("f",{"x":1})],"tool_responses":[{"name":"f","response":{"r":"v"}},{"response":"plain"}]}]},
 "consecutive_assistant": {"messages":[u("q"),a("one"),a("two")]},
 "tool_name_no_id": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f",{},"a")]},{"role":"tool","name":"named","content":"r"}]},
 "no_ids": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f",{}),call("g",{})]},{"role":"tool","content":"r1"},{"role":"tool","content":"r2"}]},
 "empty_user": {"messages":[u("")]},
 "empty_params_tool": {"messages":[u("q")],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{}}}]},
 "schema_quirks": {"messages":[u("q")],"tools":[{"type":"function","function":{"name":"q","description":"quirks","parameters":{"type":"object","properties":{"type":{"type":"string"},"kind":{"type":["string","null"],"description":"k"},"level":{"type":"integer","enum":[1,2]},"opts":{"type":"object","description":"no props","additionalProperties":False},"rows":{"type":"array","items":{"type":"object","properties":{"b":{"type":"number"},"a":{"type":"string","enum":["x"]}},"required":["a"],"description":"row","nullable":None}},"tags":{"type":"array","items":{"type":["string","integer"],"minItems":1}},"Zed":{"type":"boolean","nullable":True,"description":""}}},"response":{"description":"result","type":"object"}}},{"type":"function","function":{"name":"untyped","parameters":{"properties":{"x":{"type":"string"}},"required":["x"]},"response":{"type":"string"}}}],"enable_thinking":True},
 "thinking_tools_no_system": {"messages":[u("q")],"tools":[T],"enable_thinking":True,"add_generation_prompt":False},
 "result_then_user": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f",{},"a")]},{"role":"tool","tool_call_id":"a","content":"r"},u("next")]},
 "assistant_first": {"messages":[a("hello"),u("hi")]},
 "system_only": {"messages":[{"role":"system","content":"S"}]},
 "whitespace_content_after_results": {"messages":[u("q"),{"role":"assistant","content":"  ","tool_calls":[call("f",{},"a")]},{"role":"tool","tool_call_id":"a","content":"r"}]},
 "float_formats": {"messages":[u("q"),{"role":"assistant","tool_calls":[call("f",{"a":1e16,"b":1e15,"c":0.0001,"d":0.00001,"e":-0.0,"f":123456789.125,"g":5e-324,"h":1.7976931348623157e308,"i":-12,"j":18446744073709551615},"a")]}]},
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    template = os.path.join(here, "../../../shared/data/chat/gemma-4-31B-it.chat_template.jinja")
    requests = [json.dumps({"case": name} | c) for name, c in cases.items()]
    rendered = subprocess.run([sys.executable, os.path.join(here, "render_reference.py"), template],
                              input="\n".join(requests), capture_output=True, text=True, check=True).stdout.splitlines()
    with open(os.path.join(here, "../data/chat_reference_cases.jsonl"), "w") as out:
        for request, result in zip(requests, rendered):
            result = json.loads(result)
            if "error" in result:
                print("skipped (the template fails):", json.loads(request)["case"], result["error"], file=sys.stderr)
                continue
            out.write(json.dumps(json.loads(request) | {"rendered": result["rendered"]}) + "\n")


if __name__ == "__main__":
    main()
