// Deprecated name of include/edgesplit/flat_segment.h (flat segment files):
// "segment" meant five things. Include <edgesplit/flat_segment.h>; this header
// stays so existing code keeps building.
#pragma once

#include "edgesplit/flat_segment.h"
