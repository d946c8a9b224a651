// core::bounded_message: the error messages pg_journey keeps are bounded.
#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace PGJ_UNIT_ID {

using pgj::core::bounded_message;
using pgj::core::kMaxKeptErrorMessage;

TEST(BoundedMessage, ShortMessagesAreKeptWhole) {
  EXPECT_EQ(bounded_message("value \"99999\" is out of range for type smallint"),
            "value \"99999\" is out of range for type smallint");
  std::string exact(kMaxKeptErrorMessage, 'E');
  EXPECT_EQ(bounded_message(exact), exact);
}

TEST(BoundedMessage, LongMessagesAreCutWithAMarker) {
  std::string huge(2000000, 'E');
  std::string kept = bounded_message(huge);
  const std::string marker = " ... (truncated, 2000000 bytes in all)";
  EXPECT_EQ(kept.size(), kMaxKeptErrorMessage);
  EXPECT_EQ(kept.substr(kept.size() - marker.size()), marker);
  EXPECT_EQ(kept.substr(0, kept.size() - marker.size()),
            std::string(kMaxKeptErrorMessage - marker.size(), 'E'));
}

TEST(BoundedMessage, NeverCutsInsideACharacter) {
  // "é" is two bytes; the cut falls inside one at an odd offset.
  std::string text = "x";
  for (int i = 0; i < 100; ++i) text += "\xC3\xA9";
  std::string kept = bounded_message(text, 60);
  const std::string marker = " ... (truncated, 201 bytes in all)";
  ASSERT_EQ(kept.substr(kept.size() - marker.size()), marker);
  std::string head = kept.substr(0, kept.size() - marker.size());
  // 60 - 34 = 26 bytes would end inside a character: 25 are kept ("x" + 12 "é").
  EXPECT_EQ(head.size(), 25u);
  EXPECT_EQ(head.substr(head.size() - 2), "\xC3\xA9");
  EXPECT_LE(kept.size(), 60u);
}

}  // namespace PGJ_UNIT_ID
