// The interior cuts a command's --split list names (include/edgesplit/analysis.h).
#include <algorithm>

#include "edgesplit/analysis.h"

namespace edgesplit {

Result<std::vector<int>> ResolveInteriorCuts(const Graph& graph, const std::vector<CutPoint>& cuts,
                                             const std::vector<std::string>& specs) {
  std::vector<int> chosen;
  for (const std::string& spec : specs) {
    ES_ASSIGN_OR_RETURN(int index, ResolveCut(graph, cuts, spec));
    if (index == 0 || index + 1 == static_cast<int>(cuts.size()))
      return InvalidArgument("cut '" + spec + "' is the model's " + (index == 0 ? "input" : "output") +
                             "; a split needs cuts strictly inside the model (1.." + std::to_string(static_cast<int>(cuts.size()) - 2) +
                             ")");
    if (std::find(chosen.begin(), chosen.end(), index) != chosen.end())
      return InvalidArgument("cut '" + spec + "' (index " + std::to_string(index) + ") is given twice");
    chosen.push_back(index);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace edgesplit
