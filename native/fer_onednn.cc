// fer's optional native accelerator: a Node-API addon running the hot training and inference kernels of the
// wasm backend with oneDNN (convolutions and their gradients, sgemm) and OpenMP loops (pooling gradients,
// batch-norm, per-channel sums), in place on the wasm heap. Tensors are channels-last (NHWC) float32;
// filters are tfjs' (kH, kW, inC, outC) = oneDNN's hwio. Every entry point takes the heap (a Uint8Array over
// the wasm memory) and byte offsets into it, so nothing is copied between JavaScript and C++.
//
// Primitives are created once per shape and kept (oneDNN's JIT code generation costs far more than a call), and
// so are filters reordered into their layout (per filter tensor: see WeightSlots).

#define NAPI_VERSION 8
#include <node_api.h>

#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <dnnl.hpp>

namespace {

/** Bumped whenever an entry point's arguments change (native.ts checks it: a stale build must be rebuilt). */
constexpr int FER_NATIVE_ABI = 5;

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using dims = memory::dims;

/** Threads the caller asked for (setThreads); small problems run on the calling thread only. */
int configuredThreads = 1;

// Below these sizes waking the other threads costs more than it saves (on a busy machine, far more).
constexpr double SMALL_FLOPS = 2e7;
constexpr int64_t SMALL_ELEMENTS = 1 << 20;

/** Run the enclosed oneDNN calls on one thread (when `one`), restoring the configured count after. */
struct ThreadScope {
  bool one;
  explicit ThreadScope(bool single) : one(single && configuredThreads > 1) {
    if (one) omp_set_num_threads(1);
  }
  ~ThreadScope() {
    if (one) omp_set_num_threads(configuredThreads);
  }
  int threads() const { return one ? 1 : configuredThreads; }
};

/** Hot loops get AVX-512 and AVX2 versions, chosen at load time for the CPU at hand. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FER_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FER_CLONES
#endif

dnnl::engine &cpuEngine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream &cpuStream() {
  static dnnl::stream s(cpuEngine());
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Argument helpers

struct Args {
  napi_env env;
  std::vector<napi_value> v;
  uint8_t *heap = nullptr;
  size_t heapBytes = 0;
};

bool readArgs(napi_env env, napi_callback_info info, size_t want, Args &a) {
  a.env = env;
  size_t argc = want;
  a.v.resize(want);
  if (napi_get_cb_info(env, info, &argc, a.v.data(), nullptr, nullptr) != napi_ok || argc < want) {
    napi_throw_type_error(env, nullptr, "fer native: wrong number of arguments");
    return false;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value buffer;
  size_t offset;
  bool isTyped = false;
  napi_is_typedarray(env, a.v[0], &isTyped);
  if (!isTyped || napi_get_typedarray_info(env, a.v[0], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, nullptr, "fer native: the first argument must be the heap (a Uint8Array)");
    return false;
  }
  a.heap = static_cast<uint8_t *>(data);
  a.heapBytes = length;
  return true;
}

int64_t i64(Args &a, size_t i) {
  int64_t out = 0;
  napi_get_value_int64(a.env, a.v[i], &out);
  return out;
}

double f64(Args &a, size_t i) {
  double out = 0;
  napi_get_value_double(a.env, a.v[i], &out);
  return out;
}

/** A float pointer at a byte offset of the heap; -1 means none. */
float *ptr(Args &a, size_t i) {
  int64_t off = i64(a, i);
  if (off < 0) return nullptr;
  return reinterpret_cast<float *>(a.heap + off);
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

template <typename F>
napi_value guarded(napi_env env, F &&fn) {
  // One native call at a time per process. The addon is loaded once per process but called from every JS thread
  // that loads fer (the main thread and the detection worker, each with its own tfjs): its oneDNN stream,
  // primitive caches and scratch buffers are shared, and oneDNN primitives and streams may not run concurrently
  // from two threads. Each call still uses all of oneDNN's threads. (Serve's concurrent requests gave a face
  // different scores in a batch than alone before this lock.)
  static std::recursive_mutex oneCall;
  std::lock_guard<std::recursive_mutex> one(oneCall);
  try {
    fn();
  } catch (const dnnl::error &e) {
    std::string msg = std::string("oneDNN: ") + e.what();
    napi_throw_error(env, nullptr, msg.c_str());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return undefinedValue(env);
}

// ---------------------------------------------------------------------------------------------------------
// Convolutions

struct ConvShape {
  int64_t n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  std::string key() const {
    std::string k;
    for (int64_t v : {n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr}) k += std::to_string(v) + ',';
    return k;
  }
  memory::desc src() const { return memory::desc({n, ic, ih, iw}, dt::f32, tag::nhwc); }
  memory::desc dst() const { return memory::desc({n, oc, oh, ow}, dt::f32, tag::nhwc); }
  memory::desc userWeights() const { return memory::desc({oc, ic, kh, kw}, dt::f32, tag::hwio); }
  memory::desc anyWeights() const { return memory::desc({oc, ic, kh, kw}, dt::f32, tag::any); }
  dims strides() const { return {sh, sw}; }
  dims dilates() const { return {dh - 1, dw - 1}; }
  dims padL() const { return {pt, pl}; }
  dims padR() const { return {pb, pr}; }
  double flops() const { return 2.0 * n * oh * ow * oc * kh * kw * ic; }
};

/** Reads 17 integers (the ConvShape fields) starting at argument `first`. */
ConvShape readConv(Args &a, size_t first) {
  int64_t f[17];
  for (size_t i = 0; i < 17; i++) f[i] = i64(a, first + i);
  return ConvShape{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13], f[14], f[15], f[16]};
}

/** Weights in oneDNN's preferred layout, reordered from/to tfjs' hwio when they differ. */
struct WeightsBuffer {
  memory::desc user;
  memory::desc internal;
  bool differs = false;
  std::unique_ptr<memory> buffer;
  std::unique_ptr<dnnl::reorder> toInternal;
  std::unique_ptr<dnnl::reorder> toUser;

  void init(const memory::desc &userMd, const memory::desc &internalMd, bool intoInternal) {
    user = userMd;
    internal = internalMd;
    differs = userMd != internalMd;
    if (!differs) return;
    auto &eng = cpuEngine();
    buffer = std::make_unique<memory>(internalMd, eng);
    if (intoInternal) toInternal = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng, userMd, eng, internalMd));
    else toUser = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng, internalMd, eng, userMd));
  }
};

/**
 * Weights reordered into a primitive's layout, kept per filter tensor: fer passes an id that is new for every
 * tfjs tensor (tfjs tensors never change their data, and a variable's update is a new tensor), so an id seen
 * again has the same weights. A few filters per primitive (models sharing a layer shape, an ensemble), the
 * least recently used replaced; id 0 is never cached. `hits` counts the calls after the first.
 */
struct WeightSlots {
  static constexpr int SLOTS = 4;
  /** Slots in use: 4 for the direct layout (a filter's size), 2 for Winograd's (4× bigger). */
  int capacity = SLOTS;
  struct Slot {
    int64_t id = 0;
    uint64_t used = 0;
    int64_t hits = 0;
    std::unique_ptr<memory> mem;
  };
  Slot slots[SLOTS];
  uint64_t tick = 0;

  /** The slot of `id` (hit: true), or the least recently used one, now holding `id` with nothing reordered yet. */
  Slot &find(int64_t id, bool &hit) {
    Slot *lru = &slots[0];
    for (int i = 0; i < capacity; i++) {
      Slot &s = slots[i];
      if (id != 0 && s.id == id) {
        hit = true;
        s.used = ++tick;
        s.hits++;
        return s;
      }
      if (s.used < lru->used) lru = &s;
    }
    hit = false;
    lru->id = id;
    lru->used = ++tick;
    lru->hits = 0;
    return *lru;
  }

  size_t filled() const {
    size_t n = 0;
    for (const Slot &s : slots) n += s.id != 0;
    return n;
  }
};

/**
 * Winograd F(4×4, 3×3) version of a forward convolution (oneDNN's jit_wino_4x3): about 2.25× fewer multiplies
 * than the direct convolution, on channel-blocked tensors, so the NHWC input and output are reordered around it
 * (into the shared scratch buffers below). Its weights transform costs as much as several calls, so it runs
 * only on filters already seen twice (inference on fixed weights; a training step's forward has new weights).
 */
struct WinogradFwd {
  dnnl::convolution_forward prim;
  memory::desc srcMd, dstMd;
  dnnl::reorder srcIn, dstOut;
  memory::desc weightsMd;
  dnnl::reorder weightsIn;
  WeightSlots w;
};

struct ConvFwd {
  dnnl::convolution_forward prim;
  WeightsBuffer w;
  bool hasBias;
  WeightSlots cached;
  bool winogradTried = false;
  std::unique_ptr<WinogradFwd> winograd;
  std::mutex busy;  // one call at a time uses the buffers above
};

struct ConvBwdData {
  dnnl::convolution_backward_data prim;
  WeightsBuffer w;
};

struct ConvBwdWeights {
  dnnl::convolution_backward_weights prim;
  WeightsBuffer w;
};

std::mutex cacheMutex;
std::unordered_map<std::string, std::unique_ptr<ConvFwd>> fwdCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdData>> bwdDataCache;
std::unordered_map<std::string, std::unique_ptr<ConvBwdWeights>> bwdWeightsCache;

/** The fused activation as a oneDNN post-op: 1 relu, 2 relu6, 3 leaky relu (alpha), 4 sigmoid, 5 elu. */
dnnl::primitive_attr activationAttr(int act, float alpha) {
  dnnl::primitive_attr attr;
  if (act == 0) return attr;
  dnnl::post_ops ops;
  switch (act) {
    case 1: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f); break;
    case 2: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f); break;
    case 3: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, alpha, 0.f); break;
    case 4: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f); break;
    case 5: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_elu, 1.f, 0.f); break;
    default: throw std::runtime_error("fer native: unknown activation");
  }
  attr.set_post_ops(ops);
  return attr;
}

dnnl::convolution_forward::primitive_desc forwardPd(const ConvShape &s, bool bias, int act, float alpha, dnnl::prop_kind kind) {
  memory::desc biasMd = bias ? memory::desc({s.oc}, dt::f32, tag::x) : memory::desc();
  dnnl::convolution_forward::desc d(kind, dnnl::algorithm::convolution_direct, s.src(), s.anyWeights(), biasMd, s.dst(),
                                    s.strides(), s.dilates(), s.padL(), s.padR());
  dnnl::primitive_attr attr = activationAttr(act, alpha);
  return dnnl::convolution_forward::primitive_desc(d, attr, cpuEngine());
}

/** A 64-byte aligned buffer that only grows: the blocked input and output of the Winograd convolutions. */
struct Scratch {
  float *data = nullptr;
  size_t bytes = 0;
  ~Scratch() { std::free(data); }
  float *get(size_t want) {
    if (want > bytes) {
      std::free(data);
      bytes = (want + 63) / 64 * 64;
      data = static_cast<float *>(std::aligned_alloc(64, bytes));
      if (!data) {
        bytes = 0;
        throw std::bad_alloc();
      }
    }
    return data;
  }
};

/** One pair for all Winograd convolutions (they run one at a time), as big as the biggest: not one per shape. */
std::mutex winogradScratchMutex;
Scratch winogradSrc, winogradDst;

/** Calls of a filter after which the Winograd version takes over (its weights transform is then amortised). */
constexpr int64_t WINOGRAD_AFTER_HITS = 2;

/** setWinograd(false) keeps every convolution direct (to compare the two). */
bool winogradEnabled = true;

/**
 * The Winograd version of a forward convolution when oneDNN has its F(4×4, 3×3) kernel for the shape (3×3,
 * stride 1, no dilation, channels in whole blocks of 16, AVX-512) and the 4×4 output tiles are at least half used
 * (a 6×6 output computes 8×8); nullptr otherwise. Problems that run on one thread stay direct (the reorders
 * around it cost more than it saves there).
 */
std::unique_ptr<WinogradFwd> winogradFor(const ConvShape &s, bool bias, int act, float alpha, bool single) {
  if (single || s.kh != 3 || s.kw != 3 || s.sh != 1 || s.sw != 1 || s.dh != 1 || s.dw != 1) return nullptr;
  const double tiles = static_cast<double>((s.oh + 3) / 4 * 4) * static_cast<double>((s.ow + 3) / 4 * 4);
  if (static_cast<double>(s.oh * s.ow) < 0.5 * tiles) return nullptr;
  try {
    memory::desc biasMd = bias ? memory::desc({s.oc}, dt::f32, tag::x) : memory::desc();
    memory::desc anySrc({s.n, s.ic, s.ih, s.iw}, dt::f32, tag::any), anyDst({s.n, s.oc, s.oh, s.ow}, dt::f32, tag::any);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd, anySrc, s.anyWeights(), biasMd,
                                      anyDst, s.strides(), s.dilates(), s.padL(), s.padR());
    dnnl::primitive_attr attr = activationAttr(act, alpha);
    dnnl::convolution_forward::primitive_desc pd(d, attr, cpuEngine());
    // The F(2×2, 3×3) variant (chosen for tiny batches) is slower than the direct convolution here.
    if (std::string(pd.impl_info_str()).find("wino_4x3") == std::string::npos) return nullptr;
    // Channels padded up to the block size (a grey first layer: 1 → 16) would multiply the work.
    const size_t f = sizeof(float);
    if (pd.src_desc().get_size() != f * s.n * s.ic * s.ih * s.iw || pd.dst_desc().get_size() != f * s.n * s.oc * s.oh * s.ow) return nullptr;
    auto &eng = cpuEngine();
    std::unique_ptr<WinogradFwd> wg(new WinogradFwd{
        dnnl::convolution_forward(pd), pd.src_desc(), pd.dst_desc(),
        dnnl::reorder(dnnl::reorder::primitive_desc(eng, s.src(), eng, pd.src_desc())),
        dnnl::reorder(dnnl::reorder::primitive_desc(eng, pd.dst_desc(), eng, s.dst())),
        pd.weights_desc(),
        dnnl::reorder(dnnl::reorder::primitive_desc(eng, s.userWeights(), eng, pd.weights_desc())),
        {}});
    wg->w.capacity = 2;
    return wg;
  } catch (const dnnl::error &) {
    return nullptr;  // not implemented for this shape, activation or CPU
  }
}

// conv2dForward(heap, x, filter, filterId, bias|-1, y, act, alpha, ...17 shape ints)
// filterId: fer's id of the filter tensor (0: unknown, nothing cached); see WeightSlots.
napi_value Conv2dForward(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 25, a)) return nullptr;
  return guarded(env, [&] {
    float *x = ptr(a, 1), *w = ptr(a, 2), *bias = ptr(a, 4), *y = ptr(a, 5);
    const int64_t filterId = i64(a, 3);
    int act = static_cast<int>(i64(a, 6));
    float alpha = static_cast<float>(f64(a, 7));
    ConvShape s = readConv(a, 8);
    ThreadScope threads(s.flops() < SMALL_FLOPS);
    std::string key = s.key() + (bias ? "b" : "-") + std::to_string(act) + ':' + std::to_string(alpha) + '/' + std::to_string(threads.threads());
    ConvFwd *c;
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      auto &slot = fwdCache[key];
      if (!slot) {
        auto pd = forwardPd(s, bias != nullptr, act, alpha, dnnl::prop_kind::forward_inference);
        slot.reset(new ConvFwd{dnnl::convolution_forward(pd), {}, bias != nullptr, {}, false, nullptr, {}});
        slot->w.init(s.userWeights(), pd.weights_desc(), true);
      }
      c = slot.get();
    }
    std::lock_guard<std::mutex> busy(c->busy);
    auto &eng = cpuEngine();
    auto &st = cpuStream();
    memory src(s.src(), eng, x), dst(s.dst(), eng, y), userW(s.userWeights(), eng, w);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(memory::desc({s.oc}, dt::f32, tag::x), eng, bias));

    bool hit = false;
    WeightSlots::Slot *direct = filterId != 0 ? &c->cached.find(filterId, hit) : nullptr;
    if (winogradEnabled && direct && direct->hits >= WINOGRAD_AFTER_HITS) {
      if (!c->winogradTried) {
        c->winograd = winogradFor(s, bias != nullptr, act, alpha, s.flops() < SMALL_FLOPS);
        c->winogradTried = true;
      }
      if (WinogradFwd *wg = c->winograd.get()) {
        bool wHit = false;
        WeightSlots::Slot &ws = wg->w.find(filterId, wHit);
        if (!ws.mem) ws.mem = std::make_unique<memory>(wg->weightsMd, eng);
        if (!wHit) wg->weightsIn.execute(st, userW, *ws.mem);
        std::lock_guard<std::mutex> scratch(winogradScratchMutex);
        memory blockedSrc(wg->srcMd, eng, winogradSrc.get(wg->srcMd.get_size()));
        memory blockedDst(wg->dstMd, eng, winogradDst.get(wg->dstMd.get_size()));
        wg->srcIn.execute(st, src, blockedSrc);
        args[DNNL_ARG_SRC] = blockedSrc;
        args[DNNL_ARG_DST] = blockedDst;
        args.emplace(DNNL_ARG_WEIGHTS, *ws.mem);
        wg->prim.execute(st, args);
        wg->dstOut.execute(st, blockedDst, dst);
        st.wait();
        return;
      }
    }
    memory weights = userW;
    if (c->w.differs) {
      if (!direct) {
        c->w.toInternal->execute(st, userW, *c->w.buffer);
        weights = *c->w.buffer;
      } else {
        if (!direct->mem) direct->mem = std::make_unique<memory>(c->w.internal, eng);
        if (!hit) c->w.toInternal->execute(st, userW, *direct->mem);
        weights = *direct->mem;
      }
    }
    args.emplace(DNNL_ARG_WEIGHTS, weights);
    c->prim.execute(st, args);
    st.wait();
  });
}

// conv2dBackwardData(heap, dy, filter, dx, ...17 shape ints)
napi_value Conv2dBackwardData(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 21, a)) return nullptr;
  return guarded(env, [&] {
    float *dy = ptr(a, 1), *w = ptr(a, 2), *dx = ptr(a, 3);
    ConvShape s = readConv(a, 4);
    ThreadScope threads(s.flops() < SMALL_FLOPS);
    std::string key = s.key() + '/' + std::to_string(threads.threads());
    ConvBwdData *c;
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      auto &slot = bwdDataCache[key];
      if (!slot) {
        auto hint = forwardPd(s, false, 0, 0.f, dnnl::prop_kind::forward_training);
        dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, s.src(), s.anyWeights(), s.dst(),
                                                s.strides(), s.dilates(), s.padL(), s.padR());
        dnnl::convolution_backward_data::primitive_desc pd(d, cpuEngine(), hint);
        slot.reset(new ConvBwdData{dnnl::convolution_backward_data(pd), {}});
        slot->w.init(s.userWeights(), pd.weights_desc(), true);
      }
      c = slot.get();
    }
    auto &eng = cpuEngine();
    auto &st = cpuStream();
    memory diffDst(s.dst(), eng, dy), diffSrc(s.src(), eng, dx), userW(s.userWeights(), eng, w);
    memory weights = userW;
    if (c->w.differs) {
      c->w.toInternal->execute(st, userW, *c->w.buffer);
      weights = *c->w.buffer;
    }
    c->prim.execute(st, {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DIFF_SRC, diffSrc}});
    st.wait();
  });
}

// conv2dBackwardWeights(heap, x, dy, dw, ...17 shape ints)
napi_value Conv2dBackwardWeights(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 21, a)) return nullptr;
  return guarded(env, [&] {
    float *x = ptr(a, 1), *dy = ptr(a, 2), *dw = ptr(a, 3);
    ConvShape s = readConv(a, 4);
    ThreadScope threads(s.flops() < SMALL_FLOPS);
    std::string key = s.key() + '/' + std::to_string(threads.threads());
    ConvBwdWeights *c;
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      auto &slot = bwdWeightsCache[key];
      if (!slot) {
        auto hint = forwardPd(s, false, 0, 0.f, dnnl::prop_kind::forward_training);
        dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, s.src(), s.anyWeights(), s.dst(),
                                                   s.strides(), s.dilates(), s.padL(), s.padR());
        dnnl::convolution_backward_weights::primitive_desc pd(d, cpuEngine(), hint);
        slot.reset(new ConvBwdWeights{dnnl::convolution_backward_weights(pd), {}});
        slot->w.init(s.userWeights(), pd.diff_weights_desc(), false);
      }
      c = slot.get();
    }
    auto &eng = cpuEngine();
    auto &st = cpuStream();
    memory src(s.src(), eng, x), diffDst(s.dst(), eng, dy), userW(s.userWeights(), eng, dw);
    memory diffW = c->w.differs ? *c->w.buffer : userW;
    c->prim.execute(st, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, diffW}});
    if (c->w.differs) c->w.toUser->execute(st, *c->w.buffer, userW);
    st.wait();
  });
}

// ---------------------------------------------------------------------------------------------------------
// Matrix products: oneDNN's sgemm (row-major), then bias and activation.

float activate(float v, int act, float alpha) {
  switch (act) {
    case 1: return v > 0.f ? v : 0.f;
    case 2: return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
    case 3: return v > 0.f ? v : alpha * v;
    case 4: return 1.f / (1.f + std::exp(-v));
    case 5: return v > 0.f ? v : std::expm1(v);
    default: return v;
  }
}

FER_CLONES void biasActivate(float *C, int64_t rows, int64_t n, const float *bias, int64_t biasLength, int act, float alpha) {
#pragma omp parallel for schedule(static) if (rows * n >= SMALL_ELEMENTS)
  for (int64_t r = 0; r < rows; r++) {
    float *row = C + r * n;
    for (int64_t j = 0; j < n; j++) {
      float v = row[j];
      if (bias) v += bias[biasLength == 1 ? 0 : j];
      row[j] = activate(v, act, alpha);
    }
  }
}

// matmul(heap, a, b, c, bias|-1, batch, batchA, batchB, m, n, k, transA, transB, act, alpha, biasLength)
// a is (batchA, m×k or k×m), b is (batchB, k×n or n×k); batchA/batchB are 1 (broadcast) or batch.
// The bias (length n or 1) is added to every row of c, then the activation is applied.
napi_value MatMul(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 16, a)) return nullptr;
  return guarded(env, [&] {
    float *A = ptr(a, 1), *B = ptr(a, 2), *C = ptr(a, 3), *bias = ptr(a, 4);
    int64_t batch = i64(a, 5), batchA = i64(a, 6), batchB = i64(a, 7);
    int64_t m = i64(a, 8), n = i64(a, 9), k = i64(a, 10);
    bool ta = i64(a, 11) != 0, tb = i64(a, 12) != 0;
    int act = static_cast<int>(i64(a, 13));
    float alpha = static_cast<float>(f64(a, 14));
    int64_t biasLength = i64(a, 15);
    ThreadScope threads(2.0 * batch * m * n * k < SMALL_FLOPS);
    for (int64_t i = 0; i < batch; i++) {
      const float *ai = A + (batchA == 1 ? 0 : i) * m * k;
      const float *bi = B + (batchB == 1 ? 0 : i) * k * n;
      float *ci = C + i * m * n;
      dnnl::status st = dnnl::sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.f, ai, ta ? m : k, bi, tb ? k : n, 0.f, ci, n);
      if (st != dnnl::status::success) throw std::runtime_error("fer native: sgemm failed");
    }
    if (bias || act != 0) biasActivate(C, batch * m, n, bias, biasLength, act, alpha);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Pooling (NHWC). Forward with oneDNN; gradients as loops with tfjs' semantics (max: the window's first
// maximum in row-major order gets the gradient; average: dy / (filter area) to every covered pixel).

struct PoolShape {
  int64_t n, ih, iw, c, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr;
};

PoolShape readPool(Args &a, size_t first) {
  int64_t f[14];
  for (size_t i = 0; i < 14; i++) f[i] = i64(a, first + i);
  return PoolShape{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13]};
}

std::unordered_map<std::string, std::unique_ptr<dnnl::pooling_forward>> poolCache;

// pool(heap, x, y, isMax, ...14 shape ints)
napi_value Pool(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 18, a)) return nullptr;
  return guarded(env, [&] {
    float *x = ptr(a, 1), *y = ptr(a, 2);
    bool isMax = i64(a, 3) != 0;
    PoolShape s = readPool(a, 4);
    ThreadScope threads(s.n * s.ih * s.iw * s.c < SMALL_ELEMENTS);
    memory::desc src({s.n, s.c, s.ih, s.iw}, dt::f32, tag::nhwc), dst({s.n, s.c, s.oh, s.ow}, dt::f32, tag::nhwc);
    std::string key = std::to_string(isMax) + '/' + std::to_string(threads.threads());
    for (int64_t v : {s.n, s.ih, s.iw, s.c, s.oh, s.ow, s.kh, s.kw, s.sh, s.sw, s.pt, s.pl, s.pb, s.pr}) key += ',' + std::to_string(v);
    dnnl::pooling_forward *p;
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      auto &slot = poolCache[key];
      if (!slot) {
        dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference,
                                      isMax ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding, src, dst,
                                      {s.sh, s.sw}, {s.kh, s.kw}, {s.pt, s.pl}, {s.pb, s.pr});
        slot = std::make_unique<dnnl::pooling_forward>(dnnl::pooling_forward::primitive_desc(d, cpuEngine()));
      }
      p = slot.get();
    }
    auto &st = cpuStream();
    p->execute(st, {{DNNL_ARG_SRC, memory(src, cpuEngine(), x)}, {DNNL_ARG_DST, memory(dst, cpuEngine(), y)}});
    st.wait();
  });
}

FER_CLONES void maxPoolGradLoop(const float *dy, const float *x, const float *y, float *dx, const PoolShape &s) {
  const int64_t C = s.c, rowStride = s.iw * C, image = s.ih * rowStride;
  const bool pairs = s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.pt == 0 && s.pl == 0 && s.ih == 2 * s.oh && s.iw == 2 * s.ow;
#pragma omp parallel for schedule(static) if (s.n * image >= SMALL_ELEMENTS)
  for (int64_t b = 0; b < s.n; b++) {
    float *dxb = dx + b * image;
    const float *xb = x + b * image;
    if (pairs) {
      // 2×2 windows tiling the input: each pixel is written once, the window's first maximum gets dy.
      for (int64_t yr = 0; yr < s.oh; yr++) {
        for (int64_t yc = 0; yc < s.ow; yc++) {
          const int64_t i0 = 2 * yr * rowStride + 2 * yc * C, d = ((b * s.oh + yr) * s.ow + yc) * C;
          const float *x0 = xb + i0, *x1 = x0 + C, *x2 = x0 + rowStride, *x3 = x2 + C;
          float *d0 = dxb + i0, *d1 = d0 + C, *d2 = d0 + rowStride, *d3 = d2 + C;
          for (int64_t c = 0; c < C; c++) {
            const float t = y[d + c], g = dy[d + c];
            // NaN never equals: a NaN window gives its gradient to its first pixel, as in the loop below.
            const int k = x0[c] == t ? 0 : x1[c] == t ? 1 : x2[c] == t ? 2 : x3[c] == t ? 3 : 0;
            d0[c] = k == 0 ? g : 0.f;
            d1[c] = k == 1 ? g : 0.f;
            d2[c] = k == 2 ? g : 0.f;
            d3[c] = k == 3 ? g : 0.f;
          }
        }
      }
      continue;
    }
    std::memset(dxb, 0, sizeof(float) * image);
    for (int64_t yr = 0; yr < s.oh; yr++) {
      const int64_t r0 = std::max<int64_t>(0, yr * s.sh - s.pt), r1 = std::min<int64_t>(s.ih, yr * s.sh - s.pt + s.kh);
      for (int64_t yc = 0; yc < s.ow; yc++) {
        const int64_t c0 = std::max<int64_t>(0, yc * s.sw - s.pl), c1 = std::min<int64_t>(s.iw, yc * s.sw - s.pl + s.kw);
        const int64_t d = ((b * s.oh + yr) * s.ow + yc) * C;
        const int64_t first = r0 * rowStride + c0 * C;
        for (int64_t c = 0; c < C; c++) {
          // y is one of the window's values exactly: its first occurrence in row-major order.
          const float target = y[d + c];
          int64_t found = first + c;
          bool done = false;
          for (int64_t r = r0; r < r1 && !done; r++) {
            for (int64_t p = r * rowStride + c0 * C + c, end = p + (c1 - c0) * C; p < end; p += C) {
              if (xb[p] == target) {
                found = p;
                done = true;
                break;
              }
            }
          }
          dxb[found] += dy[d + c];
        }
      }
    }
  }
}

// maxPoolGrad(heap, dy, x, y, dx, ...14 shape ints)
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 19, a)) return nullptr;
  return guarded(env, [&] { maxPoolGradLoop(ptr(a, 1), ptr(a, 2), ptr(a, 3), ptr(a, 4), readPool(a, 5)); });
}

FER_CLONES void avgPoolGradLoop(const float *dy, float *dx, const PoolShape &s) {
  const int64_t C = s.c, rowStride = s.iw * C, image = s.ih * rowStride;
  const float scale = 1.f / static_cast<float>(s.kh * s.kw);
#pragma omp parallel for schedule(static) if (s.n * image >= SMALL_ELEMENTS)
  for (int64_t b = 0; b < s.n; b++) {
    float *dxb = dx + b * image;
    std::memset(dxb, 0, sizeof(float) * image);
    for (int64_t yr = 0; yr < s.oh; yr++) {
      const int64_t r0 = std::max<int64_t>(0, yr * s.sh - s.pt), r1 = std::min<int64_t>(s.ih, yr * s.sh - s.pt + s.kh);
      for (int64_t yc = 0; yc < s.ow; yc++) {
        const int64_t c0 = std::max<int64_t>(0, yc * s.sw - s.pl), c1 = std::min<int64_t>(s.iw, yc * s.sw - s.pl + s.kw);
        const float *g = dy + ((b * s.oh + yr) * s.ow + yc) * C;
        for (int64_t r = r0; r < r1; r++) {
          for (int64_t q = c0; q < c1; q++) {
            float *o = dxb + r * rowStride + q * C;
            for (int64_t c = 0; c < C; c++) o[c] += g[c] * scale;
          }
        }
      }
    }
  }
}

// avgPoolGrad(heap, dy, dx, ...14 shape ints): tfjs' semantics, dy / (window area) to every covered pixel.
napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 17, a)) return nullptr;
  return guarded(env, [&] { avgPoolGradLoop(ptr(a, 1), ptr(a, 2), readPool(a, 3)); });
}

// ---------------------------------------------------------------------------------------------------------
// Per-channel kernels (channels last): batch-norm and column sums.

FER_CLONES void batchNormLoop(const float *x, const float *mean, const float *k, const float *b, float *y, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (rows * C >= SMALL_ELEMENTS)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - mean[c]) * k[c] + b[c];
  }
}

// batchNorm(heap, x, mean, variance, scale|-1, offset|-1, y, rows, channels, epsilon)
napi_value BatchNorm(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 10, a)) return nullptr;
  return guarded(env, [&] {
    const float *x = ptr(a, 1), *mean = ptr(a, 2), *var = ptr(a, 3), *scale = ptr(a, 4), *offset = ptr(a, 5);
    float *y = ptr(a, 6);
    int64_t rows = i64(a, 7), C = i64(a, 8);
    float eps = static_cast<float>(f64(a, 9));
    std::vector<float> k(C), b(C);
    for (int64_t c = 0; c < C; c++) {
      // As tfjs: scale · rsqrt(variance + ε), in float32.
      float r = 1.f / std::sqrt(var[c] + eps);
      k[c] = scale ? r * scale[c] : r;
      b[c] = offset ? offset[c] : 0.f;
    }
    batchNormLoop(x, mean, k.data(), b.data(), y, rows, C);
  });
}

/** Rows summed in float32 before the block's sums are added to the double totals. */
constexpr int64_t SUM_BLOCK = 64;

/**
 * Per column of a rows × C matrix: out0 = scale · Σ a, and when `x` is given out1 = Σ a·(x − mean)
 * (the batch-norm gradient's sums, with a = dy). Blocks of rows in float32, totals in double.
 */
FER_CLONES void columnSums(const float *a, const float *x, const float *mean, int64_t rows, int64_t C, float scale, float *out0, float *out1) {
  const bool parallel = rows * C >= SMALL_ELEMENTS;
  const int threads = parallel ? configuredThreads : 1;
  std::vector<double> partial(static_cast<size_t>(threads) * C * 2, 0.0);
#pragma omp parallel num_threads(threads) if (parallel)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double *p0 = partial.data() + static_cast<size_t>(t) * C * 2;
    double *p1 = p0 + C;
    std::vector<float> block(static_cast<size_t>(C) * 2);
    float *b0 = block.data(), *b1 = b0 + C;
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    for (int64_t r0 = begin; r0 < end; r0 += SUM_BLOCK) {
      const int64_t r1 = std::min(end, r0 + SUM_BLOCK);
      std::fill(block.begin(), block.end(), 0.f);
      for (int64_t r = r0; r < r1; r++) {
        const float *ar = a + r * C;
        for (int64_t c = 0; c < C; c++) b0[c] += ar[c];
        if (x) {
          const float *xr = x + r * C;
          for (int64_t c = 0; c < C; c++) b1[c] += ar[c] * (xr[c] - mean[c]);
        }
      }
      for (int64_t c = 0; c < C; c++) {
        p0[c] += b0[c];
        p1[c] += b1[c];
      }
    }
  }
  for (int64_t c = 0; c < C; c++) {
    double s0 = 0, s1 = 0;
    for (int t = 0; t < threads; t++) {
      s0 += partial[static_cast<size_t>(t) * C * 2 + c];
      s1 += partial[static_cast<size_t>(t) * C * 2 + C + c];
    }
    out0[c] = static_cast<float>(s0 * scale);
    if (out1) out1[c] = static_cast<float>(s1);
  }
}

// batchNormSums(heap, x, mean, dy, sumDy, sumDyXc, rows, channels)
napi_value BatchNormSums(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 8, a)) return nullptr;
  return guarded(env, [&] {
    columnSums(ptr(a, 3), ptr(a, 1), ptr(a, 2), i64(a, 6), i64(a, 7), 1.f, ptr(a, 4), ptr(a, 5));
  });
}

// columnSum(heap, x, out, rows, cols, scale): out = scale · Σ over rows
napi_value ColumnSum(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 6, a)) return nullptr;
  return guarded(env, [&] {
    columnSums(ptr(a, 1), nullptr, nullptr, i64(a, 3), i64(a, 4), static_cast<float>(f64(a, 5)), ptr(a, 2), nullptr);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Element-wise (float32): the memory-bound steps between the convolutions (batch-norm statistics, ReLU and
// their gradients, the optimizer's update), in AVX-512/AVX2 over both threads. A binary operand is either
// the full size of the output or repeats with a period (a per-channel vector, a scalar) that divides it.

enum Binary { ADD = 0, SUB = 1, MUL = 2, DIV = 3 };
enum Unary { RELU = 0, SQUARE = 1, NEG = 2, SQRT = 3, STEP = 4 };

template <int OP>
inline float binaryOp(float x, float y) {
  if (OP == ADD) return x + y;
  if (OP == SUB) return x - y;
  if (OP == MUL) return x * y;
  return x / y;
}

template <int OP>
FER_CLONES void binaryLoop(const float *a, int64_t aLen, const float *b, int64_t bLen, float *out, int64_t n) {
  // Rows of the shorter period; each row combines one period of the short operand with the long one.
  const int64_t period = std::min(aLen, bLen);
  const int64_t rows = n / period;
  if (aLen == n && bLen == n) {
#pragma omp parallel for schedule(static) if (n >= SMALL_ELEMENTS)
    for (int64_t i = 0; i < n; i++) out[i] = binaryOp<OP>(a[i], b[i]);
  } else if (period == 1) {
    if (aLen == 1) {
      const float x = a[0];
#pragma omp parallel for schedule(static) if (n >= SMALL_ELEMENTS)
      for (int64_t i = 0; i < n; i++) out[i] = binaryOp<OP>(x, b[i]);
    } else {
      const float y = b[0];
#pragma omp parallel for schedule(static) if (n >= SMALL_ELEMENTS)
      for (int64_t i = 0; i < n; i++) out[i] = binaryOp<OP>(a[i], y);
    }
  } else {
#pragma omp parallel for schedule(static) if (n >= SMALL_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) {
      const float *ar = aLen == n ? a + r * period : a;
      const float *br = bLen == n ? b + r * period : b;
      float *o = out + r * period;
      for (int64_t c = 0; c < period; c++) o[c] = binaryOp<OP>(ar[c], br[c]);
    }
  }
}

// binary(heap, op, a, aLength, b, bLength, out, n)
napi_value BinaryOp(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 8, a)) return nullptr;
  return guarded(env, [&] {
    const int op = static_cast<int>(i64(a, 1));
    const float *x = ptr(a, 2), *y = ptr(a, 4);
    const int64_t xLen = i64(a, 3), yLen = i64(a, 5), n = i64(a, 7);
    float *out = ptr(a, 6);
    if ((xLen != n && yLen != n) || n % xLen != 0 || n % yLen != 0) throw std::runtime_error("fer native: operands do not tile the output");
    switch (op) {
      case ADD: binaryLoop<ADD>(x, xLen, y, yLen, out, n); break;
      case SUB: binaryLoop<SUB>(x, xLen, y, yLen, out, n); break;
      case MUL: binaryLoop<MUL>(x, xLen, y, yLen, out, n); break;
      case DIV: binaryLoop<DIV>(x, xLen, y, yLen, out, n); break;
      default: throw std::runtime_error("fer native: unknown binary op");
    }
  });
}

template <int OP>
FER_CLONES void unaryLoop(const float *x, float *out, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= SMALL_ELEMENTS)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    if (OP == RELU) out[i] = v < 0.f ? 0.f : v;  // NaN stays NaN, as in tfjs
    if (OP == SQUARE) out[i] = v * v;
    if (OP == NEG) out[i] = -v;
    if (OP == SQRT) out[i] = std::sqrt(v);
    if (OP == STEP) out[i] = v > 0.f ? 1.f : (v != v ? v : 0.f);
  }
}

// unary(heap, op, x, out, n)
napi_value UnaryOp(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 5, a)) return nullptr;
  return guarded(env, [&] {
    const float *x = ptr(a, 2);
    float *out = ptr(a, 3);
    const int64_t n = i64(a, 4);
    switch (static_cast<int>(i64(a, 1))) {
      case RELU: unaryLoop<RELU>(x, out, n); break;
      case SQUARE: unaryLoop<SQUARE>(x, out, n); break;
      case NEG: unaryLoop<NEG>(x, out, n); break;
      case SQRT: unaryLoop<SQRT>(x, out, n); break;
      case STEP: unaryLoop<STEP>(x, out, n); break;
      default: throw std::runtime_error("fer native: unknown unary op");
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Softmax over the last axis (the classifier's output): as tfjs, exp(x − row max) / Σ.

FER_CLONES void softmaxLoop(const float *x, float *y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols >= SMALL_ELEMENTS)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    float top = xr[0];
    for (int64_t c = 1; c < cols; c++) top = std::max(top, xr[c]);
    float sum = 0.f;
    for (int64_t c = 0; c < cols; c++) {
      yr[c] = std::exp(xr[c] - top);
      sum += yr[c];
    }
    for (int64_t c = 0; c < cols; c++) yr[c] /= sum;
  }
}

// softmax(heap, x, y, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 5, a)) return nullptr;
  return guarded(env, [&] { softmaxLoop(ptr(a, 1), ptr(a, 2), i64(a, 3), i64(a, 4)); });
}

// ---------------------------------------------------------------------------------------------------------
// Reverse along one axis (TTA's horizontal flip): the tensor as outer × len × inner blocks of 4-byte values.

void reverseLoop(const uint32_t *x, uint32_t *y, int64_t outer, int64_t len, int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * len * inner >= SMALL_ELEMENTS)
  for (int64_t o = 0; o < outer; o++) {
    const uint32_t *xo = x + o * len * inner;
    uint32_t *yo = y + o * len * inner;
    if (inner == 1) {
      for (int64_t i = 0; i < len; i++) yo[len - 1 - i] = xo[i];
    } else {
      for (int64_t i = 0; i < len; i++) std::memcpy(yo + (len - 1 - i) * inner, xo + i * inner, sizeof(uint32_t) * inner);
    }
  }
}

// reverse(heap, x, y, outer, len, inner): 4-byte elements
napi_value Reverse(napi_env env, napi_callback_info info) {
  Args a;
  if (!readArgs(env, info, 6, a)) return nullptr;
  return guarded(env, [&] {
    const int64_t x = i64(a, 1), y = i64(a, 2);
    reverseLoop(reinterpret_cast<const uint32_t *>(a.heap + x), reinterpret_cast<uint32_t *>(a.heap + y), i64(a, 3), i64(a, 4), i64(a, 5));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Set-up

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a;
  size_t argc = 1;
  napi_value v;
  napi_get_cb_info(env, info, &argc, &v, nullptr, nullptr);
  int64_t n = 1;
  napi_get_value_int64(env, v, &n);
  configuredThreads = static_cast<int>(n < 1 ? 1 : n);
  omp_set_num_threads(configuredThreads);
  return undefinedValue(env);
}

// setWinograd(on): whether forward convolutions may take their Winograd version (default on).
napi_value SetWinograd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value v;
  napi_get_cb_info(env, info, &argc, &v, nullptr, nullptr);
  bool on = true;
  if (argc < 1 || napi_get_value_bool(env, v, &on) != napi_ok) {
    napi_throw_type_error(env, nullptr, "fer native: setWinograd takes a boolean");
    return nullptr;
  }
  winogradEnabled = on;
  return undefinedValue(env);
}

// idBlock(): a number never returned before in this process. fer's filter ids are idBlock() * 2^32 + a counter
// per module instance: the addon (and its filter cache) is loaded once per process, while fer's JS may be loaded
// several times (worker threads, test runners that reset modules), each counting its tensors from 1.
napi_value IdBlock(napi_env env, napi_callback_info info) {
  static std::atomic<int64_t> blocks{0};
  napi_value out;
  napi_create_int64(env, ++blocks, &out);
  return out;
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, s, num;
  napi_create_object(env, &obj);
  const dnnl_version_t *ver = dnnl::version();
  std::string version = std::to_string(ver->major) + '.' + std::to_string(ver->minor) + '.' + std::to_string(ver->patch);
  napi_create_string_utf8(env, version.c_str(), NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, obj, "version", s);
  const char *isa = "unknown";
  try {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::sse41: isa = "SSE4.1"; break;
      case dnnl::cpu_isa::avx: isa = "AVX"; break;
      case dnnl::cpu_isa::avx2: isa = "AVX2"; break;
      case dnnl::cpu_isa::avx512_mic: isa = "AVX-512 MIC"; break;
      case dnnl::cpu_isa::avx512_mic_4ops: isa = "AVX-512 MIC"; break;
      case dnnl::cpu_isa::avx512_core: isa = "AVX-512"; break;
      case dnnl::cpu_isa::avx512_core_vnni: isa = "AVX-512"; break;
      case dnnl::cpu_isa::avx512_core_bf16: isa = "AVX-512"; break;
      case dnnl::cpu_isa::avx512_core_amx: isa = "AVX-512 AMX"; break;
      case dnnl::cpu_isa::avx2_vnni: isa = "AVX2"; break;
      default: break;
    }
  } catch (...) {
  }
  napi_create_string_utf8(env, isa, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, obj, "isa", s);
  napi_create_int32(env, omp_get_max_threads(), &num);
  napi_set_named_property(env, obj, "threads", num);
  size_t winograd = 0, filters = 0;
  {
    std::lock_guard<std::mutex> lock(cacheMutex);
    size_t cached = fwdCache.size() + bwdDataCache.size() + bwdWeightsCache.size() + poolCache.size();
    for (auto &kv : fwdCache) {
      filters += kv.second->cached.filled();
      if (kv.second->winograd) {
        winograd++;
        filters += kv.second->winograd->w.filled();
      }
    }
    napi_create_int64(env, static_cast<int64_t>(cached), &num);
    napi_set_named_property(env, obj, "primitives", num);
  }
  // Forward convolutions with a Winograd version, and filters held in oneDNN's layouts (both kinds).
  napi_create_int64(env, static_cast<int64_t>(winograd), &num);
  napi_set_named_property(env, obj, "winograd", num);
  napi_create_int64(env, static_cast<int64_t>(filters), &num);
  napi_set_named_property(env, obj, "cachedFilters", num);
  // The entry points' argument lists: src/backend/native.ts refuses an addon built from other sources.
  napi_create_int32(env, FER_NATIVE_ABI, &num);
  napi_set_named_property(env, obj, "abi", num);
  return obj;
}

napi_value Init(napi_env env, napi_value exports) {
  struct Fn {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"conv2dForward", Conv2dForward}, {"conv2dBackwardData", Conv2dBackwardData},
      {"conv2dBackwardWeights", Conv2dBackwardWeights}, {"matMul", MatMul}, {"pool", Pool},
      {"maxPoolGrad", MaxPoolGrad}, {"avgPoolGrad", AvgPoolGrad}, {"batchNorm", BatchNorm},
      {"batchNormSums", BatchNormSums}, {"columnSum", ColumnSum}, {"binary", BinaryOp}, {"unary", UnaryOp}, {"softmax", Softmax}, {"reverse", Reverse}, {"setThreads", SetThreads},
      {"setWinograd", SetWinograd}, {"info", Info}, {"idBlock", IdBlock},
  };
  for (const Fn &f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(fer_onednn, Init)
