// Small request helpers shared by the server tests: POST a JSON body and parse the answer,
// and run `facet run` on the tiny real-vocabulary model for the expected text.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/paths.h"
#include "support/run_command.h"
#include "support/test_server.h"

namespace facet::test {

// POSTs `body` to `path` and returns the parsed answer; a missing answer or another
// status than `expect_status` is a test failure (the body is shown).
inline nlohmann::ordered_json post_json(const TestServer& server, const std::string& path,
                                        const nlohmann::ordered_json& body, int expect_status = 200) {
  auto r = server.client().Post(path, body.dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return nlohmann::ordered_json();
  EXPECT_EQ(r->status, expect_status) << r->body;
  return nlohmann::ordered_json::parse(r->body);
}

// POSTs `body` to `path`; the answer parsed without throwing (discarded when not JSON), and
// another status than `expect_status` is a test failure.
inline nlohmann::json post_expecting(const TestServer& server, const std::string& path, const nlohmann::json& body,
                                     int expect_status) {
  auto r = server.client().Post(path, body.dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return nlohmann::json();
  EXPECT_EQ(r->status, expect_status) << path << ": " << r->body;
  return nlohmann::json::parse(r->body, nullptr, false);
}

// The error message of a 400 answer, in either API's error shape (the raw body otherwise).
inline std::string refusal_message(const TestServer& server, const std::string& path, const nlohmann::json& body) {
  auto r = server.client().Post(path, body.dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return "";
  EXPECT_EQ(r->status, 400) << path << ": " << r->body;
  const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return r->body;
  return j["error"].is_string() ? j["error"].get<std::string>() : j["error"].value("message", r->body);
}

// `facet run MODEL FLAGS` on the tiny real-vocabulary model: its stdout without the final
// newline. A non-zero exit is a test failure, and so is printing nothing at all (not even
// the newline that ends an empty answer) when `expect_output` is set.
inline std::string facet_run_realvocab(const std::string& flags, bool expect_output = false) {
  const CommandResult r = run_command(facet_bin() + " run " + realvocab_model() + " " + flags);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (expect_output) {
    EXPECT_FALSE(r.out.empty());
  }
  return r.out.empty() ? r.out : r.out.substr(0, r.out.size() - 1);
}

}  // namespace facet::test
