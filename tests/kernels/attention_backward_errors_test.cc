// AttentionBackward operand validation: every bad input is an InvalidArgument whose message
// names the operand or sequence at fault, and nothing is written.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kernels/attention_backward.h"
#include "test_util.h"

namespace detinfer {
namespace {

// A valid call (Tq = 6, Tkv = 8, Hq = 4, Hkv = 2, D = 8, two sequences) that each case breaks.
struct Call {
  static constexpr int64_t kTq = 6, kTkv = 8, kHq = 4, kHkv = 2, kD = 8;
  std::vector<float> q = testing::RandomFloats(kTq * kHq * kD, 1);
  std::vector<float> out = q, dout = q, dq = q;
  std::vector<float> lse = std::vector<float>(kTq * kHq, 0.5f);
  std::vector<float> k = testing::RandomFloats(kTkv * kHkv * kD, 2);
  std::vector<float> v = k, dk = k, dv = k;
  std::vector<uint8_t> mask = std::vector<uint8_t>(5, 1);
  std::vector<int32_t> blocks = {0};
  TensorView tq = V3(q, kTq, kHq), tk = V3(k, kTkv, kHkv), tv = V3(v, kTkv, kHkv);
  TensorView tout = V3(out, kTq, kHq), tdout = V3(dout, kTq, kHq), tdq = V3(dq, kTq, kHq);
  TensorView tlse = TensorView::Contiguous(lse.data(), DType::kF32, {kTq, kHq});
  TensorView tdk = V3(dk, kTkv, kHkv), tdv = V3(dv, kTkv, kHkv);
  std::vector<AttentionSeq> seqs = {{0, 3, 0, 3, 0, {}, {}}, {3, 3, 2, 5, 3, {}, mask}};
  AttentionOptions opts;

  static TensorView V3(std::vector<float>& x, int64_t t, int64_t h) {
    return TensorView::Contiguous(x.data(), DType::kF32, {t, h, kD});
  }
  Status Run() {
    KernelContext ctx;
    return AttentionBackward(ctx, tq, tk, tv, seqs, opts, tout, tdout, tlse, tdq, tdk, tdv);
  }
};

struct BackwardErrorCase {
  const char* what;
  std::function<void(Call&)> breaks;
  const char* message_has;  // substring the error must contain
};

TEST(AttentionBackwardErrorsTest, BadInputsNameTheOperand) {
  {
    Call ok;
    const Status s = ok.Run();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  const BackwardErrorCase cases[] = {
      {"q rank", [](Call& c) { c.tq.rank = 2; }, "attention_backward: q must have rank 3"},
      {"k dtype", [](Call& c) { c.tk.dtype = DType::kBF16; }, "attention_backward: k must be f32"},
      {"v shape", [](Call& c) { c.tv.shape[0] = 7; }, "v is [7, 2, 8] f32 but must be [8, 2, 8]"},
      {"dv shape", [](Call& c) { c.tdv.shape[1] = 1; }, "dv is [8, 1, 8]"},
      {"out shape", [](Call& c) { c.tout.shape[0] = 5; }, "out is [5, 4, 8]"},
      {"dout shape", [](Call& c) { c.tdout.shape[1] = 2; }, "dout is [6, 2, 8]"},
      {"dq shape", [](Call& c) { c.tdq.shape[2] = 4; }, "dq is [6, 4, 4]"},
      {"lse shape", [](Call& c) { c.tlse.shape[1] = 3; }, "lse is [6, 3] f32 but must be [6, 4]"},
      {"lse null", [](Call& c) { c.tlse.data = nullptr; }, "attention_backward: lse is null"},
      {"k head dim", [](Call& c) { c.tk.shape[2] = 16; c.tk.stride[1] = 16; c.tk.stride[0] = 32; },
       "k is [8, 2, 16]"},
      {"D not multiple of 8",
       [](Call& c) { c.tq.shape[2] = 4; }, "head dim D=4 must be a multiple of 8"},
      {"GQA ratio", [](Call& c) { c.tq.shape[1] = 3; }, "Hq=3 heads and k has Hkv=2"},
      {"scale", [](Call& c) { c.opts.scale = NAN; }, "scale must be finite"},
      {"softcap negative", [](Call& c) { c.opts.softcap = -1.0f; },
       "attention_backward: softcap must be finite and >= 0"},
      {"softcap NaN", [](Call& c) { c.opts.softcap = NAN; }, "attention_backward: softcap must be finite"},
      {"softcap Inf", [](Call& c) { c.opts.softcap = INFINITY; },
       "attention_backward: softcap must be finite"},
      {"window", [](Call& c) { c.opts.window = -3; }, "attention_backward: window must be >= 0"},
      {"dq aliases q", [](Call& c) { c.tdq.data = c.q.data(); }, "dq [6, 4, 8] f32 overlaps q"},
      {"dk aliases dv", [](Call& c) { c.tdk.data = c.dv.data(); }, "dk [8, 2, 8] f32 overlaps dv"},
      // lse moved inside dv's buffer: dv pointed at lse instead would also run over whatever
      // the heap put after lse (on aarch64 once, dk), and another overlap would be named first.
      {"dv aliases lse", [](Call& c) { c.tlse.data = c.dv.data(); }, "dv [8, 2, 8] f32 overlaps"},
      {"q rows", [](Call& c) { c.seqs[1].q_len = 4; }, "seqs[1]: query rows [q_begin=3, +q_len=4)"},
      {"q_begin", [](Call& c) { c.seqs[0].q_begin = -1; }, "seqs[0]: query rows"},
      {"q_pos", [](Call& c) { c.seqs[0].q_pos = -2; }, "seqs[0]: q_pos=-2"},
      {"q_pos overflow", [](Call& c) { c.seqs[0].q_pos = INT64_MAX - 1; }, "seqs[0]: q_pos="},
      {"kv rows", [](Call& c) { c.seqs[1].kv_len = 6; }, "seqs[1]: K/V rows [kv_begin=3, +kv_len=6)"},
      {"kv_begin", [](Call& c) { c.seqs[0].kv_begin = 9; }, "outside k's Tkv=8"},
      {"mask size", [](Call& c) { c.seqs[1].kv_len = 4; }, "seqs[1]: key_mask has 5 entries"},
      {"paged", [](Call& c) { c.seqs[0].blocks = c.blocks; }, "seqs[0]: has 1 paged blocks"},
      {"shared q rows", [](Call& c) { c.seqs[1].q_begin = 2; },
       "seqs[1] and seqs[0] both use query row 2"},
      {"shared kv rows", [](Call& c) { c.seqs[1].kv_begin = 2; c.seqs[1].kv_len = 5; },
       "seqs[1] and seqs[0] both use K/V row 2"},
  };
  for (const BackwardErrorCase& tc : cases) {
    SCOPED_TRACE(tc.what);
    Call c;
    const std::vector<float> dq_before = c.dq, dk_before = c.dk;
    tc.breaks(c);
    const Status s = c.Run();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(tc.message_has), std::string::npos) << s.message();
    EXPECT_TRUE(testing::BitsEqual(c.dq, dq_before));  // nothing written
    EXPECT_TRUE(testing::BitsEqual(c.dk, dk_before));
  }
}

// No sequences: a valid call that writes +0 everywhere (every row is unused).
TEST(AttentionBackwardErrorsTest, NoSequencesZeroesOutputs) {
  Call c;
  c.seqs.clear();
  ASSERT_TRUE(c.Run().ok());
  for (const auto* t : {&c.dq, &c.dk, &c.dv}) {
    for (float x : *t) ASSERT_EQ(testing::Bits(x), 0u);
  }
}

}  // namespace
}  // namespace detinfer
