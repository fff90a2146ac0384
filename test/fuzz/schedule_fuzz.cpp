// libFuzzer target: schedule expressions. Any text parses or raises a
// core::Error; a parsed schedule's next fire times compute in bounded time.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.hpp"
#include "core/schedule.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto schedule = ptb::core::Schedule::parse(text);
    static const auto zone = ptb::core::TimeZone::load("Europe/Berlin");
    auto start = std::chrono::sys_seconds(std::chrono::seconds(1700000000));
    (void)ptb::core::preview(schedule, start, 3, zone);
  } catch (const ptb::core::Error&) {
  }
  return 0;
}
