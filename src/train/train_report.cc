#include "train/train_report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "kernels/context.h"

namespace detinfer {

namespace {

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", static_cast<long>(s / 60),
                  static_cast<long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lds", static_cast<long>(s));
  }
  return buf;
}

// -log softmax(row)[target] in double from the f32 logits (an independent evaluation of the
// loss: it does not reuse the training loss kernel).
double TokenLoss(const float* row, int64_t vocab, int32_t target) {
  double m = row[0];
  for (int64_t j = 1; j < vocab; ++j) m = std::max(m, static_cast<double>(row[j]));
  double s = 0;
  for (int64_t j = 0; j < vocab; ++j) s += std::exp(static_cast<double>(row[j]) - m);
  return m + std::log(s) - static_cast<double>(row[target]);
}

}  // namespace

std::string ProgressLine(const TrainStepLog& log, int64_t total_steps, int64_t tokens_so_far) {
  const double rate = log.seconds > 0 ? static_cast<double>(tokens_so_far) / log.seconds : 0;
  const double eta = log.step > 0 ? log.seconds / static_cast<double>(log.step) *
                                        static_cast<double>(total_steps - log.step)
                                  : 0;
  char buf[200];
  std::snprintf(buf, sizeof buf, "step %ld/%ld  loss %.4f  lr %.2e  |g| %.3f  %.0f tok/s  ETA %s",
                static_cast<long>(log.step), static_cast<long>(total_steps), log.loss, log.lr,
                log.grad_norm, rate, Duration(eta).c_str());
  return buf;
}

Status WriteLossCsv(std::span<const TrainStepLog> log, const std::string& path) {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return Status::IoError("cannot create '" + path + "'");
  f << "step,loss,lr,grad_norm,tokens\n";
  char buf[160];
  for (const TrainStepLog& l : log) {
    std::snprintf(buf, sizeof buf, "%ld,%.17g,%.17g,%.17g,%ld\n", static_cast<long>(l.step),
                  l.loss, l.lr, l.grad_norm, static_cast<long>(l.tokens));
    f << buf;
  }
  f.close();
  if (!f) return Status::IoError("error writing '" + path + "'");
  return Status::Ok();
}

bool PlotLossCurve(const std::string& csv_path, const std::string& png_path,
                   const std::string& title) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) return false;
  const std::string script = png_path + ".gp";
  {
    std::ofstream gp(script, std::ios::trunc);
    gp << "set terminal pngcairo size 800,500\n"
       << "set output '" << png_path << "'\n"
       << "set title '" << title << "'\n"
       << "set datafile separator ','\nset key top right\n"
       << "set xlabel 'step'\nset ylabel 'loss (nats / token)'\nset logscale y\n"
       << "plot '" << csv_path << "' using 1:2 every ::1 with lines title 'training loss'\n";
  }
  const bool ok = std::system(("gnuplot '" + script + "' 2>/dev/null").c_str()) == 0;
  std::remove(script.c_str());
  return ok;
}

Result<HeldOutLoss> EvaluateLoss(ThreadPool* pool, Isa isa, const ParamLayout& layout,
                                 const std::vector<float>& params,
                                 std::span<const std::vector<int32_t>> seqs) {
  DETINFER_ASSIGN_OR_RETURN(PackedParams packed, PackParams(layout, params.data()));
  const int64_t n = static_cast<int64_t>(seqs.size());
  std::vector<double> sums(static_cast<size_t>(n), 0.0);
  std::vector<Status> status(static_cast<size_t>(n));
  auto task = [&](int64_t i) {
    KernelContext ctx;
    ctx.isa = isa;
    const std::vector<int32_t>& s = seqs[static_cast<size_t>(i)];
    if (s.size() < 2) return;
    SavedActivations a;
    status[static_cast<size_t>(i)] =
        ForwardSequence(ctx, layout, params.data(), packed,
                        std::span<const int32_t>(s).first(s.size() - 1), &a);
    if (!status[static_cast<size_t>(i)].ok()) return;
    double sum = 0;
    const int64_t vocab = layout.config().vocab_size;
    for (size_t t = 0; t + 1 < s.size(); ++t) {
      sum += TokenLoss(a.logits.data() + static_cast<int64_t>(t) * vocab, vocab, s[t + 1]);
    }
    sums[static_cast<size_t>(i)] = sum;
  };
  if (pool != nullptr) {
    pool->ParallelFor(n, task);
  } else {
    for (int64_t i = 0; i < n; ++i) task(i);
  }
  HeldOutLoss r;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {  // ascending index
    const size_t is = static_cast<size_t>(i);
    if (!status[is].ok()) return status[is];
    total += sums[is];
    if (seqs[is].size() >= 2) r.tokens += static_cast<int64_t>(seqs[is].size()) - 1;
  }
  r.sequences = n;
  r.mean_nats = r.tokens > 0 ? total / static_cast<double>(r.tokens) : 0;
  return r;
}

}  // namespace detinfer
