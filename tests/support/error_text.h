// The message of the facet::Error a call throws, for tests that check what a user is told.
#pragma once

#include <functional>
#include <string>

#include "util/error.h"

namespace facet::test {

// What `f` throws as facet::Error, or "(no error)" when it returns.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace facet::test
