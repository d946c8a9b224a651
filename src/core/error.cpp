// Error messages pg_journey keeps: bounded in size.
#include "core/error.hpp"

namespace pgj::core {

std::string bounded_message(const std::string& message, size_t limit) {
  if (message.size() <= limit) return message;
  const std::string marker =
      " ... (truncated, " + std::to_string(message.size()) + " bytes in all)";
  size_t keep = limit > marker.size() ? limit - marker.size() : 0;
  // Never inside a UTF-8 sequence: back up over continuation bytes.
  while (keep > 0 && (static_cast<unsigned char>(message[keep]) & 0xC0) == 0x80) --keep;
  return message.substr(0, keep) + marker;
}

}  // namespace pgj::core
