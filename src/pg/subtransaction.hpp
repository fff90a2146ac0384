// Internal subtransactions, as PL/pgSQL runs a block with an exception
// handler: an import, and a value checked against a type, run in one so
// that a failure leaves the caller's transaction clean.
#pragma once

#include <optional>
#include <utility>

#include "pg/boundary.hpp"

// The server's memory context and resource owner, seen only by
// subtransaction.cpp.
struct MemoryContextData;
struct ResourceOwnerData;

namespace ptb::pg {

// Where a subtransaction began: the memory context and resource owner the
// caller gets back when it ends.
struct SubtransactionFrame {
  MemoryContextData* context;
  ResourceOwnerData* owner;
};

SubtransactionFrame begin_subtransaction();
// Commits (keeps) or rolls back the subtransaction `frame` began.
void end_subtransaction(const SubtransactionFrame& frame, bool keep);
// A server error caught inside the subtransaction, copied into the
// caller's memory context, which outlives the rollback.
ServerError error_outliving(const ServerError& error, const SubtransactionFrame& frame);

template <typename Body>
auto in_subtransaction(bool keep, Body&& body) -> decltype(body()) {
  const SubtransactionFrame frame = begin_subtransaction();
  std::optional<decltype(body())> result;
  try {
    result.emplace(body());
  } catch (const ServerError& e) {
    ServerError copy = error_outliving(e, frame);
    end_subtransaction(frame, false);
    throw copy;
  } catch (...) {
    end_subtransaction(frame, false);
    throw;
  }
  end_subtransaction(frame, keep);
  return std::move(*result);
}

}  // namespace ptb::pg
