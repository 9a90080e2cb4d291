// Tensor operations: each binding converts its arguments, makes one libtorch call and wraps the result.
// Autograd is libtorch's own: every at:: op below records its backward when an input requires grad.
#include "common.h"

namespace clan {

static Opt<at::Tensor> OO(const Napi::Value& v) {
  at::Tensor t = OptT(v);
  if (!t.defined()) return CLAN_NULLOPT;
  return t;
}
static Opt<at::Scalar> OS(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return CLAN_NULLOPT;
  return Scal(v);
}
static int64_t I(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }
static double D(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
static bool B(const Napi::Value& v) { return v.ToBoolean(); }
static at::TensorOptions Options(const Napi::Value& dt, const Napi::Value& dev) {
  return at::TensorOptions().dtype(DT(dt)).device(Dev(dev));
}

#define UNARY(name, call) CLAN_FN(name, 1) const at::Tensor& a = T(info[0]); return Wrap(env, call); CLAN_END
// Second operand may be a JS number (scalar overload) or a tensor (broadcasting overload).
#define BINARY(name, fn) CLAN_FN(name, 2) const at::Tensor& a = T(info[0]); \
    return Wrap(env, info[1].IsNumber() || info[1].IsBoolean() ? fn(a, Scal(info[1])) : fn(a, T(info[1], "other"))); CLAN_END
#define INPLACE_BINARY(name, method) CLAN_FN(name, 2) at::Tensor a = T(info[0]); \
    if (info[1].IsNumber()) a.method(Scal(info[1])); else a.method(T(info[1], "other")); return env.Undefined(); CLAN_END

void RegisterOps(Napi::Env env, Napi::Object exports) {
  // --- creation
  CLAN_FN(empty, 3) return Wrap(env, at::empty(IntList(info[0], "shape"), Options(info[1], info[2]))); CLAN_END;
  CLAN_FN(zeros, 3) return Wrap(env, at::zeros(IntList(info[0], "shape"), Options(info[1], info[2]))); CLAN_END;
  CLAN_FN(ones, 3) return Wrap(env, at::ones(IntList(info[0], "shape"), Options(info[1], info[2]))); CLAN_END;
  CLAN_FN(full, 4) return Wrap(env, at::full(IntList(info[0], "shape"), Scal(info[1]), Options(info[2], info[3]))); CLAN_END;
  CLAN_FN(arange, 5) return Wrap(env, at::arange(Scal(info[0]), Scal(info[1]), Scal(info[2]), Options(info[3], info[4]))); CLAN_END;
  CLAN_FN(rand, 3) return Wrap(env, at::rand(IntList(info[0], "shape"), Options(info[1], info[2]))); CLAN_END;
  CLAN_FN(randn, 3) return Wrap(env, at::randn(IntList(info[0], "shape"), Options(info[1], info[2]))); CLAN_END;
  CLAN_FN(randint, 5) return Wrap(env, at::randint(I(info[0]), I(info[1]), IntList(info[2], "shape"), Options(info[3], info[4]))); CLAN_END;
  CLAN_FN(randperm, 3) return Wrap(env, at::randperm(I(info[0]), Options(info[1], info[2]))); CLAN_END;

  // --- conversion and copies
  UNARY(detach, a.detach());
  UNARY(clone, a.clone());
  UNARY(contiguous, a.contiguous());
  CLAN_FN(toDtype, 2) return Wrap(env, T(info[0]).to(DT(info[1]))); CLAN_END;
  CLAN_FN(toDevice, 2) return Wrap(env, T(info[0]).to(Dev(info[1]))); CLAN_END;

  // --- elementwise arithmetic (broadcasting)
  CLAN_FN(add, 3) const at::Tensor& a = T(info[0]); at::Scalar alpha = info[2].IsUndefined() ? at::Scalar(1) : Scal(info[2]);
    return Wrap(env, info[1].IsNumber() ? at::add(a, Scal(info[1]), alpha) : at::add(a, T(info[1], "other"), alpha)); CLAN_END;
  CLAN_FN(sub, 3) const at::Tensor& a = T(info[0]); at::Scalar alpha = info[2].IsUndefined() ? at::Scalar(1) : Scal(info[2]);
    return Wrap(env, info[1].IsNumber() ? at::sub(a, Scal(info[1]), alpha) : at::sub(a, T(info[1], "other"), alpha)); CLAN_END;
  CLAN_FN(rsub, 2) return Wrap(env, at::rsub(T(info[0]), Scal(info[1]))); CLAN_END;  // scalar - tensor
  BINARY(mul, at::mul);
  BINARY(div, at::div);
  BINARY(pow, at::pow);
  BINARY(eq, at::eq);
  BINARY(ne, at::ne);
  BINARY(lt, at::lt);
  BINARY(le, at::le);
  BINARY(gt, at::gt);
  BINARY(ge, at::ge);
  CLAN_FN(maximum, 2) return Wrap(env, at::maximum(T(info[0]), T(info[1], "other"))); CLAN_END;
  CLAN_FN(minimum, 2) return Wrap(env, at::minimum(T(info[0]), T(info[1], "other"))); CLAN_END;
  CLAN_FN(logicalAnd, 2) return Wrap(env, at::logical_and(T(info[0]), T(info[1], "other"))); CLAN_END;
  CLAN_FN(logicalOr, 2) return Wrap(env, at::logical_or(T(info[0]), T(info[1], "other"))); CLAN_END;
  UNARY(logicalNot, at::logical_not(a));
  UNARY(neg, at::neg(a));
  UNARY(abs, at::abs(a));
  UNARY(exp, at::exp(a));
  UNARY(log, at::log(a));
  UNARY(sqrt, at::sqrt(a));
  UNARY(rsqrt, at::rsqrt(a));
  UNARY(sigmoid, at::sigmoid(a));
  UNARY(tanh, at::tanh(a));
  UNARY(sign, at::sign(a));
  UNARY(floor, at::floor(a));
  UNARY(relu, at::relu(a));
  UNARY(isfinite, at::isfinite(a));
  UNARY(isnan, at::isnan(a));
  CLAN_FN(leakyRelu, 2) return Wrap(env, at::leaky_relu(T(info[0]), Scal(info[1]))); CLAN_END;
  CLAN_FN(clamp, 3) return Wrap(env, at::clamp(T(info[0]), OS(info[1]), OS(info[2]))); CLAN_END;
  CLAN_FN(where, 3) return Wrap(env, at::where(T(info[0], "condition"), T(info[1], "input"), T(info[2], "other"))); CLAN_END;
  CLAN_FN(maskedFill, 3) return Wrap(env, at::masked_fill(T(info[0]), T(info[1], "mask"), Scal(info[2]))); CLAN_END;
  CLAN_FN(maskedSelect, 2) return Wrap(env, at::masked_select(T(info[0]), T(info[1], "mask"))); CLAN_END;
  CLAN_FN(dot, 2) return Wrap(env, at::dot(T(info[0]), T(info[1], "other"))); CLAN_END;
  // p-norm over dims (undefined → all elements), PyTorch's own kernel (its summation order, for parity)
  CLAN_FN(norm, 4) const at::Tensor& a = T(info[0]);
    return Wrap(env, info[2].IsUndefined() ? at::norm(a, Scal(info[1])) : at::norm(a, OS(info[1]), IntList(info[2], "dims"), B(info[3]))); CLAN_END;
  CLAN_FN(matmul, 2) return Wrap(env, at::matmul(T(info[0]), T(info[1], "other"))); CLAN_END;
  CLAN_FN(equal, 2) return Napi::Boolean::New(env, at::equal(T(info[0]), T(info[1], "other"))); CLAN_END;

  // --- reductions. dims === undefined reduces everything.
  CLAN_FN(sum, 3) const at::Tensor& a = T(info[0]);
    return Wrap(env, info[1].IsUndefined() ? at::sum(a) : at::sum(a, IntList(info[1], "dims"), B(info[2]))); CLAN_END;
  CLAN_FN(mean, 3) const at::Tensor& a = T(info[0]);
    return Wrap(env, info[1].IsUndefined() ? at::mean(a) : at::mean(a, IntList(info[1], "dims"), B(info[2]))); CLAN_END;
  CLAN_FN(maxAll, 1) return Wrap(env, at::max(T(info[0]))); CLAN_END;
  CLAN_FN(minAll, 1) return Wrap(env, at::min(T(info[0]))); CLAN_END;
  CLAN_FN(maxDim, 3) auto r = at::max(T(info[0]), I(info[1]), B(info[2])); return WrapMany(env, {std::get<0>(r), std::get<1>(r)}); CLAN_END;
  CLAN_FN(minDim, 3) auto r = at::min(T(info[0]), I(info[1]), B(info[2])); return WrapMany(env, {std::get<0>(r), std::get<1>(r)}); CLAN_END;
  CLAN_FN(argmax, 3) return Wrap(env, at::argmax(T(info[0]), I(info[1]), B(info[2]))); CLAN_END;
  UNARY(all, at::all(a));
  UNARY(any, at::any(a));
  CLAN_FN(bincount, 3) return Wrap(env, at::bincount(T(info[0]), OO(info[1]), I(info[2]))); CLAN_END;

  // --- shape and indexing
  CLAN_FN(cat, 2) return Wrap(env, at::cat(TList(info[0]), I(info[1]))); CLAN_END;
  CLAN_FN(stack, 2) return Wrap(env, at::stack(TList(info[0]), I(info[1]))); CLAN_END;
  CLAN_FN(view, 2) return Wrap(env, T(info[0]).view(IntList(info[1], "shape"))); CLAN_END;
  CLAN_FN(reshape, 2) return Wrap(env, T(info[0]).reshape(IntList(info[1], "shape"))); CLAN_END;
  CLAN_FN(permute, 2) return Wrap(env, T(info[0]).permute(IntList(info[1], "dims"))); CLAN_END;
  CLAN_FN(transpose, 3) return Wrap(env, T(info[0]).transpose(I(info[1]), I(info[2]))); CLAN_END;
  CLAN_FN(flatten, 3) return Wrap(env, T(info[0]).flatten(I(info[1]), I(info[2]))); CLAN_END;
  CLAN_FN(squeeze, 2) return Wrap(env, T(info[0]).squeeze(I(info[1]))); CLAN_END;
  CLAN_FN(unsqueeze, 2) return Wrap(env, T(info[0]).unsqueeze(I(info[1]))); CLAN_END;
  CLAN_FN(expand, 2) return Wrap(env, T(info[0]).expand(IntList(info[1], "shape"))); CLAN_END;
  CLAN_FN(slice, 5) return Wrap(env, T(info[0]).slice(I(info[1]), I(info[2]), I(info[3]), I(info[4]))); CLAN_END;
  CLAN_FN(flip, 2) return Wrap(env, at::flip(T(info[0]), IntList(info[1], "dims"))); CLAN_END;
  CLAN_FN(indexSelect, 3) return Wrap(env, at::index_select(T(info[0]), I(info[1]), T(info[2], "index"))); CLAN_END;
  CLAN_FN(gather, 3) return Wrap(env, at::gather(T(info[0]), I(info[1]), T(info[2], "index"))); CLAN_END;
  CLAN_FN(oneHot, 2) return Wrap(env, at::one_hot(T(info[0]), I(info[1]))); CLAN_END;

  // --- neural-network functions
  CLAN_FN(conv2d, 7)  // input [N,C,H,W], weight [O,C/groups,kh,kw]; stride/padding/dilation are [h, w]
    return Wrap(env, at::conv2d(T(info[0], "input"), T(info[1], "weight"), OO(info[2]), IntList(info[3], "stride"),
                                IntList(info[4], "padding"), IntList(info[5], "dilation"), I(info[6]))); CLAN_END;
  CLAN_FN(batchNorm, 8)  // (input, weight?, bias?, runningMean?, runningVar?, training, momentum, eps)
    return Wrap(env, at::batch_norm(T(info[0], "input"), OO(info[1]), OO(info[2]), OO(info[3]), OO(info[4]), B(info[5]),
                                    D(info[6]), D(info[7]), true)); CLAN_END;
  CLAN_FN(maxPool2d, 6)  // (input, kernel, stride, padding, dilation, ceilMode)
    return Wrap(env, at::max_pool2d(T(info[0]), IntList(info[1], "kernel"), IntList(info[2], "stride"), IntList(info[3], "padding"),
                                    IntList(info[4], "dilation"), B(info[5]))); CLAN_END;
  CLAN_FN(avgPool2d, 5)
    return Wrap(env, at::avg_pool2d(T(info[0]), IntList(info[1], "kernel"), IntList(info[2], "stride"), IntList(info[3], "padding"),
                                    B(info[4]), true)); CLAN_END;
  CLAN_FN(adaptiveAvgPool2d, 2)  // (input, [outH, outW])
    return Wrap(env, at::adaptive_avg_pool2d(T(info[0]), IntList(info[1], "size"))); CLAN_END;
  CLAN_FN(upsampleBilinear2d, 3)  // (input, [outH, outW], alignCorners) — F.interpolate(size=…) semantics
    return Wrap(env, at::upsample_bilinear2d(T(info[0]), IntList(info[1], "size"), B(info[2]), CLAN_NULLOPT, CLAN_NULLOPT)); CLAN_END;
  CLAN_FN(upsampleNearest2d, 2)
    return Wrap(env, at::upsample_nearest2d(T(info[0]), IntList(info[1], "size"), CLAN_NULLOPT, CLAN_NULLOPT)); CLAN_END;
  // transformer layers (Mix Transformer, SegFormer/DAFormer heads): y = x·Wᵀ + b over the last dim; layer norm over the
  // trailing `normalizedShape` dims; GELU in its erf form (PyTorch's default, approximate="none"); dropout zeroes
  // elements, feature dropout whole channels (nn.Dropout2d), both with libtorch's generator and the 1/(1 − p) scale
  CLAN_FN(linear, 3) return Wrap(env, at::linear(T(info[0], "input"), T(info[1], "weight"), OO(info[2]))); CLAN_END;
  CLAN_FN(layerNorm, 5)  // (input, normalizedShape, weight?, bias?, eps)
    return Wrap(env, at::layer_norm(T(info[0], "input"), IntList(info[1], "normalizedShape"), OO(info[2]), OO(info[3]), D(info[4]), true)); CLAN_END;
  UNARY(gelu, at::gelu(a));
  CLAN_FN(dropout, 3) return Wrap(env, at::dropout(T(info[0]), D(info[1]), B(info[2]))); CLAN_END;  // (input, p, train)
  CLAN_FN(featureDropout, 3) return Wrap(env, at::feature_dropout(T(info[0]), D(info[1]), B(info[2]))); CLAN_END;
  CLAN_FN(softmax, 2) return Wrap(env, at::softmax(T(info[0]), I(info[1]))); CLAN_END;
  CLAN_FN(logSoftmax, 2) return Wrap(env, at::log_softmax(T(info[0]), I(info[1]))); CLAN_END;
  // reduction: 0 none, 1 mean, 2 sum (at::Reduction)
  CLAN_FN(crossEntropy, 5)  // (logits [N,C,...], target [N,...] int64, weight?, reduction, ignoreIndex)
    return Wrap(env, at::cross_entropy_loss(T(info[0], "input"), T(info[1], "target"), OO(info[2]), I(info[3]), I(info[4]), 0.0)); CLAN_END;
  CLAN_FN(nllLoss, 5)
    return Wrap(env, at::nll_loss_nd(T(info[0], "input"), T(info[1], "target"), OO(info[2]), I(info[3]), I(info[4]))); CLAN_END;
  CLAN_FN(bceWithLogits, 5)  // (logits, target, weight?, posWeight?, reduction)
    return Wrap(env, at::binary_cross_entropy_with_logits(T(info[0], "input"), T(info[1], "target"), OO(info[2]), OO(info[3]), I(info[4]))); CLAN_END;
  CLAN_FN(mseLoss, 3) return Wrap(env, at::mse_loss(T(info[0], "input"), T(info[1], "target"), I(info[2]))); CLAN_END;
  CLAN_FN(cosineSimilarity, 4) return Wrap(env, at::cosine_similarity(T(info[0]), T(info[1], "other"), I(info[2]), D(info[3]))); CLAN_END;

  // --- in-place updates (optimizers, initialisation; relu_ and add_ in the ResNet blocks); on a leaf that
  // requires grad only under no_grad, on other tensors autograd records them and checks their versions
  INPLACE_BINARY(add_, add_);
  INPLACE_BINARY(mul_, mul_);
  INPLACE_BINARY(div_, div_);
  CLAN_FN(addScaled_, 3) T(info[0]).add_(T(info[1], "other"), Scal(info[2])); return env.Undefined(); CLAN_END;  // a += alpha*b
  CLAN_FN(addcmul_, 4) T(info[0]).addcmul_(T(info[1], "tensor1"), T(info[2], "tensor2"), Scal(info[3])); return env.Undefined(); CLAN_END;
  CLAN_FN(addcdiv_, 4) T(info[0]).addcdiv_(T(info[1], "tensor1"), T(info[2], "tensor2"), Scal(info[3])); return env.Undefined(); CLAN_END;
  CLAN_FN(copy_, 2) T(info[0]).copy_(T(info[1], "source")); return env.Undefined(); CLAN_END;
  CLAN_FN(zero_, 1) T(info[0]).zero_(); return env.Undefined(); CLAN_END;
  CLAN_FN(fill_, 2) T(info[0]).fill_(Scal(info[1])); return env.Undefined(); CLAN_END;
  CLAN_FN(sqrt_, 1) T(info[0]).sqrt_(); return env.Undefined(); CLAN_END;
  CLAN_FN(relu_, 1) T(info[0]).relu_(); return env.Undefined(); CLAN_END;  // ResNet blocks, as nn.ReLU(inplace=True)
  CLAN_FN(normal_, 3) T(info[0]).normal_(D(info[1]), D(info[2])); return env.Undefined(); CLAN_END;
  CLAN_FN(uniform_, 3) T(info[0]).uniform_(D(info[1]), D(info[2])); return env.Undefined(); CLAN_END;
}

}  // namespace clan
