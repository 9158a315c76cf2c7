// What the _detinfer extension's source files share: turning a Status into the Python exception
// a caller expects, vectors into numpy arrays, and each file's part of the module.
#ifndef DETINFER_PYTHON_BINDINGS_H_
#define DETINFER_PYTHON_BINDINGS_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <vector>

#include "core/status.h"

namespace detinfer::python {

namespace py = pybind11;

// ValueError for bad input, FileNotFoundError for a missing file, RuntimeError otherwise.
// Needs the GIL.
[[noreturn]] void Raise(const Status& s);

template <typename T>
py::array_t<T> ToArray(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
  return a;
}

// The GRPO pieces (python/rl_bindings.cc): _VerbTask, _PolicyTrainer and the seed/advantage
// functions that examples/grpo_verbs.py runs the loop with.
void BindRl(py::module_& m);

}  // namespace detinfer::python

#endif  // DETINFER_PYTHON_BINDINGS_H_
