// "Did you mean ...?" for names a user types: commands, options, zoo models,
// cut names, device and link profiles. No allocation beyond the strings; no
// exceptions (portable core).
#pragma once

#include <string>
#include <vector>

namespace edgesplit {

// Edit distance (insertions, deletions, substitutions, adjacent swaps), case-insensitive.
int EditDistance(const std::string& a, const std::string& b);

// The candidates closest to `word` (at most three, nearest first) within an edit
// distance of max(1, word.size() / 3), or that start with `word` when it is at
// least three characters long. Empty when nothing is close.
std::vector<std::string> ClosestNames(const std::string& word, const std::vector<std::string>& candidates);

// " Did you mean 'x'?" / " Did you mean 'x' or 'y'?", or "" when nothing is close.
std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace edgesplit
