// Did-you-mean suggestions (include/edgesplit/suggest.h).
#include "edgesplit/suggest.h"

#include <algorithm>
#include <cctype>

namespace edgesplit {

int EditDistance(const std::string& a, const std::string& b) {
  // Optimal string alignment distance over three rolling rows.
  const size_t n = b.size();
  std::vector<int> prev2(n + 1), prev(n + 1), cur(n + 1);
  for (size_t j = 0; j <= n; ++j) prev[j] = static_cast<int>(j);
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= n; ++j) {
      const int cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1]))
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[n];
}

std::vector<std::string> ClosestNames(const std::string& word, const std::vector<std::string>& candidates) {
  const int limit = std::max<int>(1, static_cast<int>(word.size()) / 3);
  std::vector<std::pair<int, std::string>> scored;
  for (const std::string& c : candidates) {
    if (c == word) continue;
    int d = EditDistance(word, c);
    if (word.size() >= 3 && c.size() > word.size() && EditDistance(word, c.substr(0, word.size())) == 0) d = std::min(d, 1);
    if (d <= limit) scored.emplace_back(d, c);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (const auto& [d, c] : scored) {
    if (out.size() == 3) break;
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::vector<std::string> close = ClosestNames(word, candidates);
  if (close.empty()) return "";
  std::string s = " Did you mean '" + close[0] + "'";
  for (size_t i = 1; i < close.size(); ++i) s += (i + 1 == close.size() ? " or '" : ", '") + close[i] + "'";
  return s + "?";
}

}  // namespace edgesplit
