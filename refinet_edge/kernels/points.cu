// Stage C point sampling: the CUDA twin of refinet_edge/preprocess/points.py
// (read that module's docstring for the rule: valid pixels, strict cube or,
// with reach != 1, the ray region of rule 4b, growth, scan-order selection,
// normalisation, padding and counts).
//
// Shapes (row-major, device memory):
//   depth     (F, H, W)     uint16 raw (times depth_scale) or float32 metres
//   frame_of  (B,)          int32: the frame each person is on
//   joints    (B, J, 3)     float32 camera-frame metres
//   halves    (K,)          float32 half-sides h_k (PointConfig.half_sides_m)
//   sides     (K,)          float32 sides s_k (what side_m reports)
//   reach     scalar        float32 PointConfig.ray_reach R: 1 = the cube, else rule 4b's ray region
//   points    (B, J, N, 3)  float32; rows past the count are 0
//   counts    (B, J)        float32; side_m (B, J) float32, NaN = invalid joint
//
// Thread layout: one block of 256 threads per joint, grid = (J, B). Only the
// pixels of the joint's window (the projected bounding box of the largest
// cube or ray region, computed by every thread alike) are visited, twice, in scan order in
// chunks of 256 consecutive pixels (one pixel per thread, so a warp reads one
// stretch of a row). Pass 1 files each candidate under the smallest cube (or
// ray region) that holds it (a shared histogram), which fixes the side k and the count M. Pass 2
// ranks the candidates of cube k in scan order with a block-wide prefix sum
// and writes each selected one to its row: rank r when M <= N or "first",
// otherwise row i where r = (i * M) / N. Authors mode then standardises the
// rows with float64 block reductions (two passes; summation order differs
// from NumPy's, so results may differ in the last float32 bit).
#include "refinet_common.cuh"

#define REFINET_MAX_SIDES 65
#define REFINET_Z_NEAR_M 0.05f

struct Window { int row0, row1, col0, col1; };

// Pixels (first, last) covering four projected corners, one pixel of margin, clipped; empty as (1, 0)
// (points.py's _corner_span).
__device__ __forceinline__ void corner_span(float p0, float p1, float p2, float p3, int limit, int* first_out,
                                            int* last_out) {
    const float first = nan_max(floorf(nan_min(nan_min(p0, p1), nan_min(p2, p3))) - 1.0f, 0.0f);
    const float last = nan_min(ceilf(nan_max(nan_max(p0, p1), nan_max(p2, p3))) + 1.0f, (float)(limit - 1));
    const bool empty = !(first <= last);  // NaN -> empty
    *first_out = empty ? 1 : (int)first;
    *last_out = empty ? 0 : (int)last;
}

// The cube's window along one axis: u = (x * f) / z + c for x in {lo, hi}, z in {z_near, z_far}.
__device__ __forceinline__ void axis_window(float lo, float hi, float z_near, float z_far, float focal,
                                            float centre, int limit, int* first_out, int* last_out) {
    const float p0 = __fadd_rn(__fdiv_rn(__fmul_rn(lo, focal), z_near), centre);
    const float p1 = __fadd_rn(__fdiv_rn(__fmul_rn(lo, focal), z_far), centre);
    const float p2 = __fadd_rn(__fdiv_rn(__fmul_rn(hi, focal), z_near), centre);
    const float p3 = __fadd_rn(__fdiv_rn(__fmul_rn(hi, focal), z_far), centre);
    corner_span(p0, p1, p2, p3, limit, first_out, last_out);
}

// Rule 4b's window along one axis (points.py's _ray_window): the cross-section's edges at z_near and z_far,
// u = ((j * (z / jz) + side) * f) / z + c for z in {z_near, z_far}, side in {-h, +h}.
__device__ __forceinline__ void ray_axis_window(float j, float jz, float h, float z_near, float z_far, float focal,
                                                float centre, int limit, int* first_out, int* last_out) {
    const float near_c = __fmul_rn(j, __fdiv_rn(z_near, jz)), far_c = __fmul_rn(j, __fdiv_rn(z_far, jz));
    const float p0 = __fadd_rn(__fdiv_rn(__fmul_rn(__fadd_rn(near_c, -h), focal), z_near), centre);
    const float p1 = __fadd_rn(__fdiv_rn(__fmul_rn(__fadd_rn(near_c, h), focal), z_near), centre);
    const float p2 = __fadd_rn(__fdiv_rn(__fmul_rn(__fadd_rn(far_c, -h), focal), z_far), centre);
    const float p3 = __fadd_rn(__fdiv_rn(__fmul_rn(__fadd_rn(far_c, h), focal), z_far), centre);
    corner_span(p0, p1, p2, p3, limit, first_out, last_out);
}

// Smallest k with max(|dx|, |dy|, |dz|) < h_k (reach 1: the cube), or with rule 4b's
// max(|x - jx t|, |y - jy t|, |dz| / R) < h_k, t = d / jz (reach R != 1: the ray region), or num_sides;
// fills the differences from the joint (dx, dy, dz) either way.
__device__ __forceinline__ int cube_of(float d, int row, int col, float jx, float jy, float jz, const float* halves,
                                       int num_sides, float fx, float fy, float cx, float cy, float reach,
                                       float* delta) {
    if (!(d >= REFINET_Z_NEAR_M)) return num_sides;
    const float x = __fmul_rn(__fdiv_rn(__fsub_rn((float)col, cx), fx), d);
    const float y = __fmul_rn(__fdiv_rn(__fsub_rn((float)row, cy), fy), d);
    delta[0] = __fsub_rn(x, jx);
    delta[1] = __fsub_rn(y, jy);
    delta[2] = __fsub_rn(d, jz);
    float extent;
    if (reach != 1.0f) {  // uniform over the block; NaN (0 * inf when jz is tiny) is outside, as in NumPy
        const float t = __fdiv_rn(d, jz);
        const float ex = __fsub_rn(x, __fmul_rn(jx, t));
        const float ey = __fsub_rn(y, __fmul_rn(jy, t));
        extent = nan_max(nan_max(fabsf(ex), fabsf(ey)), __fdiv_rn(fabsf(delta[2]), reach));
    } else {
        extent = fmaxf(fmaxf(fabsf(delta[0]), fabsf(delta[1])), fabsf(delta[2]));
    }
    int k = 0;
    while (k < num_sides && !(extent < halves[k])) ++k;
    return k;
}

// Authors mode: per axis, float64 mean and population std of rows [0, count), then standardise in float32.
__device__ void standardise(float* rows, int count, double* partial) {
    for (int axis = 0; axis < 3; ++axis) {
        double stat[2];  // mean, then sum of squared deviations
        for (int pass = 0; pass < 2; ++pass) {
            double sum = 0.0;
            for (int i = threadIdx.x; i < count; i += REFINET_BLOCK) {
                const double x = (double)rows[i * 3 + axis];
                sum += pass == 0 ? x : (x - stat[0]) * (x - stat[0]);
            }
            partial[threadIdx.x] = sum;
            __syncthreads();
            for (int half = REFINET_BLOCK / 2; half > 0; half >>= 1) {
                if ((int)threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
                __syncthreads();
            }
            stat[pass] = partial[0] / (double)count;
            __syncthreads();
        }
        const double std64 = sqrt(stat[1]);
        const float mean = (float)stat[0], std = (float)(std64 != 0.0 ? std64 : 1.0);
        for (int i = threadIdx.x; i < count; i += REFINET_BLOCK) {
            rows[i * 3 + axis] = __fdiv_rn(__fsub_rn(rows[i * 3 + axis], mean), std);
        }
    }
}

template <typename T>
__device__ void sample(const T* depth, float scale, const int* frame_of, int height, int width, const float* joints_m,
                       int joints, const float* halves, const float* sides, int num_sides, int min_points,
                       int num_points, int first_n, int authors, float fx, float fy, float cx, float cy,
                       float reach, float* points, float* counts, float* side_m) {
    __shared__ int hist[REFINET_MAX_SIDES];
    __shared__ int scan_scratch[REFINET_BLOCK / 32];
    __shared__ double partial[REFINET_BLOCK];
    const i64 bj = (i64)blockIdx.y * joints + blockIdx.x;
    float* rows = points + bj * num_points * 3;
    const float jx = joints_m[bj * 3], jy = joints_m[bj * 3 + 1], jz = joints_m[bj * 3 + 2];
    if (!(isfinite(jx) && isfinite(jy) && isfinite(jz) && jz > 0.0f)) {  // uniform over the block
        for (int i = threadIdx.x; i < num_points * 3; i += REFINET_BLOCK) rows[i] = 0.0f;
        if (threadIdx.x == 0) {
            counts[bj] = 0.0f;
            side_m[bj] = __int_as_float(0x7fc00000);
        }
        return;
    }
    const float h = halves[num_sides - 1];
    Window w;
    if (reach != 1.0f) {  // rule 4b: the ray region, depths jz -+ R h
        const float long_h = __fmul_rn(reach, h);
        const float z_near = nan_max(__fsub_rn(jz, long_h), REFINET_Z_NEAR_M), z_far = __fadd_rn(jz, long_h);
        ray_axis_window(jy, jz, h, z_near, z_far, fy, cy, height, &w.row0, &w.row1);
        ray_axis_window(jx, jz, h, z_near, z_far, fx, cx, width, &w.col0, &w.col1);
    } else {
        const float z_near = nan_max(__fsub_rn(jz, h), REFINET_Z_NEAR_M), z_far = __fadd_rn(jz, h);
        axis_window(__fsub_rn(jx, h), __fadd_rn(jx, h), z_near, z_far, fx, cx, width, &w.col0, &w.col1);
        axis_window(__fsub_rn(jy, h), __fadd_rn(jy, h), z_near, z_far, fy, cy, height, &w.row0, &w.row1);
    }
    const bool empty = w.row0 > w.row1 || w.col0 > w.col1;
    const int box_w = w.col1 - w.col0 + 1;
    const i64 box = empty ? 0 : (i64)(w.row1 - w.row0 + 1) * box_w;
    const T* frame = depth + (i64)frame_of[blockIdx.y] * height * width;
    for (int k = threadIdx.x; k < num_sides; k += REFINET_BLOCK) hist[k] = 0;
    __syncthreads();
    float delta[3];
    for (i64 i = threadIdx.x; i < box; i += REFINET_BLOCK) {  // pass 1: histogram of smallest cubes
        const int row = w.row0 + (int)(i / box_w), col = w.col0 + (int)(i % box_w);
        const int k = cube_of(depth_at(frame, (i64)row * width + col, scale), row, col, jx, jy, jz, halves,
                              num_sides, fx, fy, cx, cy, reach, delta);
        if (k < num_sides) atomicAdd(&hist[k], 1);
    }
    __syncthreads();
    int k = num_sides - 1, m = 0, cumulative = 0;  // every thread reads the same histogram
    for (int s = 0; s < num_sides; ++s) {
        cumulative += hist[s];
        if (cumulative > min_points || s == num_sides - 1) {
            k = s;
            m = cumulative;
            break;
        }
    }
    const int count = min(m, num_points);
    int seen = 0;
    for (i64 base = 0; base < box && seen < m; base += REFINET_BLOCK) {  // pass 2: ranked selection
        const i64 i = base + threadIdx.x;
        bool hit = false;
        if (i < box) {
            const int row = w.row0 + (int)(i / box_w), col = w.col0 + (int)(i % box_w);
            const float d = depth_at(frame, (i64)row * width + col, scale);
            hit = cube_of(d, row, col, jx, jy, jz, halves, num_sides, fx, fy, cx, cy, reach, delta) <= k;
            if (hit && authors) {
                delta[0] = __fmul_rn(__fmul_rn(__fdiv_rn(__fsub_rn((float)col, cx), fx), d), 1000.0f);
                delta[1] = __fmul_rn(__fmul_rn(__fdiv_rn(__fsub_rn((float)row, cy), fy), d), 1000.0f);
                delta[2] = __fmul_rn(d, 1000.0f);
            }
        }
        int total;
        const int rank = seen + block_exclusive_scan(hit ? 1 : 0, scan_scratch, &total);
        if (hit) {
            i64 slot = rank;
            if (m > num_points && !first_n) {  // stride: row i holds rank (i * M) / N
                slot = ((i64)rank * num_points + m - 1) / m;
                if (slot >= num_points || (slot * m) / num_points != rank) slot = -1;
            }
            if (slot >= 0 && slot < num_points) {
                for (int a = 0; a < 3; ++a) rows[slot * 3 + a] = authors ? delta[a] : __fdiv_rn(delta[a], halves[k]);
            }
        }
        seen += total;
    }
    for (int i = count * 3 + threadIdx.x; i < num_points * 3; i += REFINET_BLOCK) rows[i] = 0.0f;
    __syncthreads();
    if (authors && count > 0) standardise(rows, count, partial);
    if (threadIdx.x == 0) {
        counts[bj] = (float)count;
        side_m[bj] = sides[k];
    }
}

#define REFINET_POINT_KERNEL(SUFFIX, T)                                                                         \
    extern "C" __global__ void __launch_bounds__(REFINET_BLOCK) sample_points_##SUFFIX(                        \
        const T* depth, float scale, const int* frame_of, int height, int width, const float* joints_m,         \
        int joints, const float* halves, const float* sides, int num_sides, int min_points, int num_points,     \
        int first_n, int authors, float fx, float fy, float cx, float cy, float reach, float* points,           \
        float* counts, float* side_m) {                                                                         \
        sample<T>(depth, scale, frame_of, height, width, joints_m, joints, halves, sides, num_sides, min_points, \
                  num_points, first_n, authors, fx, fy, cx, cy, reach, points, counts, side_m);                  \
    }

REFINET_POINT_KERNEL(u16, unsigned short)
REFINET_POINT_KERNEL(f32, float)
