// Stage A patches: the CUDA twin of refinet_edge/preprocess/patches.py (modes
// "metric" and "itop_authors"; read that module's docstring for the rule).
//
// Shapes (row-major, device memory):
//   depth      (F, H, W)  uint16 raw (times depth_scale) or float32 metres
//   frame_of   (B,)       int32: the frame each person's joints are on
//   uv         (B, J, 2)  float32 pixels (u = column, v = row)
//   z_ref      (B, J)     float32 lifted depth in metres (metric mode)
//   frame_mean (F,)       float32 mean of the cleaned depth map (itop_authors)
//   patches    (B, J, S, S) float32, cell_px (B, J, 2) float32
//
// Thread layout (patch kernels): one thread per patch cell. grid = (ceil(S*S /
// 256), J, B), block = 256; thread t of block x handles cell i = x * 256 + t,
// row i / S, column i % S. Neighbouring threads read neighbouring columns of
// one depth row, so reads coalesce where the patch is denser than the image.
// The thread of cell 0 also writes cell_px.
//
// Thread layout (frame_mean): one block of 256 threads per frame, grid = (F);
// each thread sums a strided share of the pixels in double, then a shared
// memory tree adds the 256 partial sums (a fixed order: deterministic).
#include "refinet_common.cuh"

template <typename T>
__device__ void patches_metric(const T* depth, float scale, const int* frame_of, int height, int width,
                               const float* uv, const float* z_ref, int joints, int size, float side_m,
                               float range_m, float fx, float fy, float* patches, float* cell_px) {
    const int b = blockIdx.z, j = blockIdx.y;
    const int cell = blockIdx.x * REFINET_BLOCK + threadIdx.x;
    const i64 bj = (i64)b * joints + j;
    if (cell >= size * size) return;
    const float u = uv[bj * 2], v = uv[bj * 2 + 1], z = z_ref[bj];
    const bool valid = isfinite(u) && isfinite(v) && isfinite(z) && z > 0.0f;
    const float s = (float)size;
    const float cell_u = __fdiv_rn(__fmul_rn(side_m, fx), __fmul_rn(z, s));
    const float cell_v = __fdiv_rn(__fmul_rn(side_m, fy), __fmul_rn(z, s));
    if (cell == 0) {
        const float nan = __int_as_float(0x7fc00000);
        cell_px[bj * 2] = valid ? cell_u : nan;
        cell_px[bj * 2 + 1] = valid ? cell_v : nan;
    }
    const int r = cell / size, c = cell % size;
    float out = 1.0f;  // missing joint, outside the image or missing depth
    if (valid) {
        const float off_r = (float)(2 * r + 1 - size) * 0.5f;  // exact half-integers
        const float off_c = (float)(2 * c + 1 - size) * 0.5f;
        const float row = rintf(__fadd_rn(v, __fmul_rn(off_r, cell_v)));
        const float col = rintf(__fadd_rn(u, __fmul_rn(off_c, cell_u)));
        // Compared as floats before the conversion: NaN and huge values are outside.
        if (row >= 0.0f && row <= (float)(height - 1) && col >= 0.0f && col <= (float)(width - 1)) {
            const i64 pixel = ((i64)frame_of[b] * height + (i64)row) * width + (i64)col;
            const float d = depth_at(depth, pixel, scale);
            if (d > 0.0f) out = fminf(fmaxf(__fdiv_rn(__fsub_rn(d, z), range_m), -1.0f), 1.0f);
        }
    }
    patches[bj * size * size + cell] = out;
}

template <typename T>
__device__ void patches_itop(const T* depth, float scale, const int* frame_of, int height, int width,
                             const float* uv, const float* frame_mean, int joints, int size, float itop_mean,
                             float itop_std, float* patches, float* cell_px) {
    const int b = blockIdx.z, j = blockIdx.y;
    const int cell = blockIdx.x * REFINET_BLOCK + threadIdx.x;
    const i64 bj = (i64)b * joints + j;
    if (cell >= size * size) return;
    const float u = uv[bj * 2], v = uv[bj * 2 + 1];
    const bool valid = isfinite(u) && isfinite(v);
    if (cell == 0) {
        const float value = valid ? 1.0f : __int_as_float(0x7fc00000);
        cell_px[bj * 2] = value;
        cell_px[bj * 2 + 1] = value;
    }
    float d = 0.0f;
    if (valid) {
        // trunc clamped to [-S, max(H, W) + S] before the int conversion (no overflow).
        const float lo = (float)(-size), hi = (float)(max(height, width) + size);
        const int row = (int)fminf(fmaxf(truncf(v), lo), hi) - size / 2 + cell / size;
        const int col = (int)fminf(fmaxf(truncf(u), lo), hi) - size / 2 + cell % size;
        if (row >= 0 && row < height && col >= 0 && col < width) {
            d = depth_at(depth, ((i64)frame_of[b] * height + row) * width + col, scale);
        }
    }
    if (d == 0.0f) d = frame_mean[frame_of[b]];
    patches[bj * size * size + cell] = __fdiv_rn(__fsub_rn(d, itop_mean), itop_std);
}

template <typename T>
__device__ void frame_mean(const T* depth, float scale, int height, int width, float* mean) {
    __shared__ double partial[REFINET_BLOCK];
    const i64 pixels = (i64)height * width;
    const T* frame = depth + (i64)blockIdx.x * pixels;
    double sum = 0.0;
    for (i64 i = threadIdx.x; i < pixels; i += REFINET_BLOCK) sum += (double)depth_at(frame, i, scale);
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int half = REFINET_BLOCK / 2; half > 0; half >>= 1) {
        if ((int)threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) mean[blockIdx.x] = (float)(partial[0] / (double)pixels);
}

#define REFINET_PATCH_KERNELS(SUFFIX, T)                                                                        \
    extern "C" __global__ void __launch_bounds__(REFINET_BLOCK) patches_metric_##SUFFIX(                       \
        const T* depth, float scale, const int* frame_of, int height, int width, const float* uv,               \
        const float* z_ref, int joints, int size, float side_m, float range_m, float fx, float fy,              \
        float* patches, float* cell_px) {                                                                       \
        patches_metric<T>(depth, scale, frame_of, height, width, uv, z_ref, joints, size, side_m, range_m, fx,  \
                          fy, patches, cell_px);                                                                \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(REFINET_BLOCK) patches_itop_##SUFFIX(                         \
        const T* depth, float scale, const int* frame_of, int height, int width, const float* uv,               \
        const float* frame_mean, int joints, int size, float itop_mean, float itop_std, float* patches,          \
        float* cell_px) {                                                                                       \
        patches_itop<T>(depth, scale, frame_of, height, width, uv, frame_mean, joints, size, itop_mean,         \
                        itop_std, patches, cell_px);                                                            \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(REFINET_BLOCK) frame_mean_##SUFFIX(                           \
        const T* depth, float scale, int height, int width, float* mean) {                                      \
        frame_mean<T>(depth, scale, height, width, mean);                                                       \
    }

REFINET_PATCH_KERNELS(u16, unsigned short)
REFINET_PATCH_KERNELS(f32, float)
