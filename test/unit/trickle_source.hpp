// A Source for tests that hands out its data a few bytes at a time, as a
// pipe or socket may, so what a reader parses straddles its reads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

#include "core/compression.hpp"

namespace ptb::core::test_support {

class TrickleSource : public Source {
 public:
  TrickleSource(std::string_view data, size_t step) : data_(data), step_(step) {}
  size_t read(char* buf, size_t capacity) override {
    size_t n = std::min({capacity, step_, data_.size()});
    std::copy_n(data_.data(), n, buf);
    data_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view data_;
  size_t step_;
};

}  // namespace ptb::core::test_support
