// Lifting: the CUDA twin of refinet_edge/lifting.py (lift_joints_detailed; read
// that module's docstring for the rule). Depth is float32 metres or uint16 raw
// times depth_scale (one float32 multiply); the medians and the deprojection
// are float64, as in NumPy, so the result is bit-identical.
//
// Shapes (row-major, device memory):
//   depth     (F, H, W)   uint16 raw or float32 metres
//   frame_of  (B,)        int32: the frame each person is on
//   uv        (B, J, 2)   float64 pixels (u = column, v = row); NaN = missing
//   sizes     (K,)        int32 window sizes, e.g. 9, 17, 33
//   joints    (B, J, 3)   float64 camera-frame metres; NaN where no depth
//   source    (B, J)      int8 DepthSource: 0 none, 1 window, 2 grown window, 3 person median
//
// Thread layout: one block of 256 threads per person, grid = (B); the block
// walks the person's joints one after the other (the person-median fallback
// needs all of them). For each window size, the threads stride over the
// window's pixels in scan order and append the valid depths to shared memory
// (an atomic counter: order does not matter for a median); then each thread
// ranks its values against all others (stable rank = #smaller + #equal before
// it), and the two threads holding ranks (n-1)/2 and n/2 publish the median.
// Dynamic shared memory: max(sizes)^2 floats.
#include "refinet_common.cuh"

#define REFINET_MAX_JOINTS 64

template <typename T>
__device__ void lift(const T* depth, float scale, const int* frame_of, int height, int width, const double* uv,
                     int joints, const int* sizes, int num_sizes, double fx, double fy, double cx, double cy,
                     double* out, signed char* source) {
    REFINET_DYNAMIC_SHARED(float, values);
    __shared__ int count;
    __shared__ float middle[2];
    __shared__ double z_of[REFINET_MAX_JOINTS];
    __shared__ signed char src_of[REFINET_MAX_JOINTS];
    const int b = blockIdx.x;
    const T* frame = depth + (i64)frame_of[b] * height * width;
    const double nan = __longlong_as_double(0x7ff8000000000000LL);
    for (int j = 0; j < joints; ++j) {
        const double u = uv[((i64)b * joints + j) * 2], v = uv[((i64)b * joints + j) * 2 + 1];
        double z = nan;
        signed char src = 0;
        if (isfinite(u) && isfinite(v)) {
            // Nearest pixel (rint: ties to even), clamped into the image before the int conversion.
            const int col = (int)fmin(fmax(rint(u), 0.0), (double)(width - 1));
            const int row = (int)fmin(fmax(rint(v), 0.0), (double)(height - 1));
            for (int k = 0; k < num_sizes && src == 0; ++k) {
                const int half = sizes[k] / 2;
                const int row0 = max(row - half, 0), row1 = min(row + half, height - 1);
                const int col0 = max(col - half, 0), col1 = min(col + half, width - 1);
                const int box_w = col1 - col0 + 1, box = (row1 - row0 + 1) * box_w;
                if (threadIdx.x == 0) count = 0;
                __syncthreads();
                for (int i = threadIdx.x; i < box; i += REFINET_BLOCK) {
                    const float d = depth_at(frame, (i64)(row0 + i / box_w) * width + col0 + i % box_w, scale);
                    if (d > 0.0f) values[atomicAdd(&count, 1)] = d;
                }
                __syncthreads();
                const int n = count;
                if (n > 0) {
                    for (int i = threadIdx.x; i < n; i += REFINET_BLOCK) {
                        const float x = values[i];
                        int rank = 0;
                        for (int m = 0; m < n; ++m) rank += (values[m] < x) || (values[m] == x && m < i);
                        if (rank == (n - 1) / 2) middle[0] = x;
                        if (rank == n / 2) middle[1] = x;
                    }
                    __syncthreads();
                    z = ((double)middle[0] + (double)middle[1]) / 2.0;
                    src = k == 0 ? 1 : 2;
                }
                __syncthreads();  // values, count and middle are reused
            }
        }
        if (threadIdx.x == 0) {
            z_of[j] = z;
            src_of[j] = src;
        }
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    // Person median over the window-lifted joints (insertion sort of at most 64 values).
    double sorted[REFINET_MAX_JOINTS];
    int n = 0;
    for (int j = 0; j < joints; ++j) {
        if (src_of[j] == 0) continue;
        int at = n++;
        while (at > 0 && sorted[at - 1] > z_of[j]) {
            sorted[at] = sorted[at - 1];
            --at;
        }
        sorted[at] = z_of[j];
    }
    const double person = n > 0 ? (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0 : nan;
    for (int j = 0; j < joints; ++j) {
        const i64 bj = (i64)b * joints + j;
        const double u = uv[bj * 2], v = uv[bj * 2 + 1];
        double z = z_of[j];
        signed char src = src_of[j];
        if (src == 0 && isfinite(u) && isfinite(v) && n > 0) {
            z = person;
            src = 3;
        }
        // Camera.deproject: x = (u - cx) / fx * z, one float64 operation at a time.
        out[bj * 3] = __dmul_rn(__ddiv_rn(__dsub_rn(u, cx), fx), z);
        out[bj * 3 + 1] = __dmul_rn(__ddiv_rn(__dsub_rn(v, cy), fy), z);
        out[bj * 3 + 2] = z;
        source[bj] = src;
    }
}

#define REFINET_LIFT_KERNEL(SUFFIX, T)                                                                          \
    extern "C" __global__ void __launch_bounds__(REFINET_BLOCK) lift_##SUFFIX(                                 \
        const T* depth, float scale, const int* frame_of, int height, int width, const double* uv, int joints,  \
        const int* sizes, int num_sizes, double fx, double fy, double cx, double cy, double* out,              \
        signed char* source) {                                                                                  \
        lift<T>(depth, scale, frame_of, height, width, uv, joints, sizes, num_sizes, fx, fy, cx, cy, out,      \
                source);                                                                                        \
    }

REFINET_LIFT_KERNEL(u16, unsigned short)
REFINET_LIFT_KERNEL(f32, float)
