// Helpers shared by the backward-kernel tests: finite differences in double precision, and the
// "same bits on every ISA path and thread count" check.
#ifndef DETINFER_TESTS_KERNELS_BACKWARD_TEST_UTIL_H_
#define DETINFER_TESTS_KERNELS_BACKWARD_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace detinfer::backward_test {

// Central difference (f(x + h e_i) - f(x - h e_i)) / 2h of a double-precision scalar function.
inline double CentralDifference(const std::function<double(const std::vector<double>&)>& f,
                                std::vector<double> x, size_t i, double h = 1e-5) {
  const double x0 = x[i];
  x[i] = x0 + h;
  const double up = f(x);
  x[i] = x0 - h;
  const double down = f(x);
  return (up - down) / (2 * h);
}

// Every component of `got` (the fp32 analytic gradient) against the finite differences of f at
// `at`: |got - fd| <= tol * max(1, max |fd|).
inline ::testing::AssertionResult MatchesFiniteDifferences(
    const std::function<double(const std::vector<double>&)>& f, const std::vector<double>& at,
    const std::vector<float>& got, double tol, const char* what) {
  std::vector<double> fd(at.size());
  double peak = 1;
  for (size_t i = 0; i < at.size(); ++i) {
    fd[i] = CentralDifference(f, at, i);
    peak = std::fmax(peak, std::fabs(fd[i]));
  }
  for (size_t i = 0; i < at.size(); ++i) {
    if (!(std::fabs(static_cast<double>(got[i]) - fd[i]) <= tol * peak)) {
      return ::testing::AssertionFailure() << what << "[" << i << "] = " << got[i]
                                           << " but the finite difference is " << fd[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// |got - want| <= tol * max(peak |want|, 1e-30) for every element.
inline ::testing::AssertionResult NearOracle(const std::vector<float>& got,
                                             const std::vector<double>& want, double tol,
                                             const char* what) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  const double err = testing::MaxErrorRelativeToPeak(got.data(), want.data(), got.size());
  if (err <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": error relative to peak " << err << " > "
                                       << tol;
}

inline std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// run(ctx) returns the op's outputs concatenated; they must be the same bits for every ISA path
// this CPU has and for 1, 2 and 3 threads (the reference: scalar, 1 thread).
inline ::testing::AssertionResult SameBitsEverywhere(
    const std::function<std::vector<float>(const KernelContext&)>& run) {
  const std::vector<float> ref = run(testing::MakeContext(Isa::kScalar, 1).ctx);
  for (Isa isa : testing::TestableIsas()) {
    for (int threads : {1, 2, 3}) {
      const auto holder = testing::MakeContext(isa, threads);
      auto r = testing::BitsEqual(ref, run(holder.ctx));
      if (!r) return r << " (" << testing::IsaString(isa) << ", " << threads << " threads)";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace detinfer::backward_test

#endif  // DETINFER_TESTS_KERNELS_BACKWARD_TEST_UTIL_H_
