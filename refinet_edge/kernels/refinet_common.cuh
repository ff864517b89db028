// Helpers shared by the refinet-edge kernels (included by name; NVRTC gets it as a header).
//
// Rule 1 of every pre-processing contract: float32 first, one IEEE operation at a
// time, no fused multiply-add. The helpers spell each operation with its _rn
// intrinsic, and the kernels are also compiled with --fmad=false, so the
// compiler cannot contract a multiply and an add behind our back.
#pragma once

#define REFINET_BLOCK 256  // threads per block of every kernel (a multiple of 32)

typedef long long i64;

// Dynamic shared memory (a host build of the kernels, used by the CPU tests, defines its own).
#ifndef REFINET_DYNAMIC_SHARED
#define REFINET_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

// Depth in metres of pixel i: raw uint16 times the depth scale (one float32
// multiply, the CPU twin is `raw.astype(float32) * float32(scale)`), or float32
// metres as they are. Invalid (not finite or <= 0) reads as 0.
__device__ __forceinline__ float depth_at(const unsigned short* depth, i64 i, float scale) {
    const float d = __fmul_rn((float)depth[i], scale);
    return d > 0.0f ? d : 0.0f;  // uint16 * finite scale is finite
}

__device__ __forceinline__ float depth_at(const float* depth, i64 i, float scale) {
    (void)scale;
    const float d = depth[i];
    return (isfinite(d) && d > 0.0f) ? d : 0.0f;
}

// NumPy's minimum/maximum propagate NaN; fminf/fmaxf drop it.
__device__ __forceinline__ float nan_min(float a, float b) {
    return (isnan(a) || isnan(b)) ? __int_as_float(0x7fc00000) : fminf(a, b);
}

__device__ __forceinline__ float nan_max(float a, float b) {
    return (isnan(a) || isnan(b)) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
}

// Block-wide exclusive prefix sum of `flag` over REFINET_BLOCK threads, in
// thread order. `scratch` holds REFINET_BLOCK / 32 ints of shared memory.
// Every thread of the block must call it (all shuffles are block-uniform:
// each warp scans the warp totals itself); returns the prefix, sets *total.
__device__ __forceinline__ int block_exclusive_scan(int flag, int* scratch, int* total) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = REFINET_BLOCK / 32;
    int x = flag;
    for (int offset = 1; offset < 32; offset <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, x, offset);
        if (lane >= offset) x += y;
    }
    if (lane == 31) scratch[warp] = x;
    __syncthreads();
    int w = lane < warps ? scratch[lane] : 0;  // inclusive scan of the warp totals
    for (int offset = 1; offset < 32; offset <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, w, offset);
        if (lane >= offset) w += y;
    }
    const int before = __shfl_sync(0xffffffffu, w, warp > 0 ? warp - 1 : 0);
    *total = __shfl_sync(0xffffffffu, w, warps - 1);
    __syncthreads();  // scratch may be reused right after
    return x - flag + (warp > 0 ? before : 0);
}
