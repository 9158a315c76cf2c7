// The current time as an ISO-8601 UTC timestamp ("2026-12-06T04:52:11Z"), for the artefacts
// people compare across runs (verify manifests, slot dumps, benchmark summaries).
#ifndef DETINFER_CORE_UTC_TIME_H_
#define DETINFER_CORE_UTC_TIME_H_

#include <string>

namespace detinfer {

std::string UtcNow();

}  // namespace detinfer

#endif  // DETINFER_CORE_UTC_TIME_H_
