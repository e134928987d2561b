// Native timing of the CPU kernels against memcpy, same run, buffers reused (no JVM in the way).
// g++ -O2 -fopenmp -I../../libnd4j-ops/src/main/cpp/include -I../../libnd4j-ops/src/main/cpp/cpu \
//     swr_cpu_bench.cpp ../../libnd4j-ops/src/main/cpp/cpu/swr_cpu.cpp -o swr_cpu_bench
// Usage: [PHALANX_SWR_ISA=0|3|4] [OMP_NUM_THREADS=n] ./swr_cpu_bench [B H L reps [k [block]]]
//   k: window in blocks (default 2; 'u' = SWR_UNBOUNDED), block: default 16
#include "swr/swr_cpu.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

/* 64-byte aligned storage, as ND4J's buffers are (lets the kernels use streaming stores). */
template <class T> struct Aligned {
    T* p; size_t n;
    explicit Aligned(size_t n_) : n(n_) {
        const char* off = getenv("BENCH_MISALIGN"); /* e.g. 16: as ND4J's malloc'd buffers */
        base = (char*) aligned_alloc(64, (n_ * sizeof(T) + 127) / 64 * 64);
        p = (T*) (base + (off ? atoi(off) : 0));
    }
    char* base;
    ~Aligned() { free(base); }
    T* data() { return p; }
    size_t size() const { return n; }
    T* begin() { return p; }
    T* end() { return p + n; }
};

template <class F> static double median_time(F f, int reps) {
    std::vector<double> t;
    for (int i = -2; i < reps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (i >= 0) t.push_back(s);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main(int argc, char** argv) {
    long B = argc > 1 ? atol(argv[1]) : 4, H = argc > 2 ? atol(argv[2]) : 128, L = argc > 3 ? atol(argv[3]) : 4096;
    int reps = argc > 4 ? atoi(argv[4]) : 9;
    int k = argc > 5 ? (argv[5][0] == 'u' ? SWR_UNBOUNDED : atoi(argv[5])) : 2, block = argc > 6 ? atoi(argv[6]) : 16;
    long C = 16 * H;
    Aligned<float> a(B * H * L), u(B * C * L), y(B * C * L), dy(B * C * L), da(B * H * L), du(B * C * L), c1(B * C * L), c2(B * C * L);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> U(0, 1);
    for (auto& x : a) x = U(rng);
    for (auto& x : u) x = U(rng) - 0.5f;
    for (auto& x : dy) x = U(rng) - 0.5f;
    for (auto& x : c1) x = U(rng);
    double tc = median_time([&] { std::memcpy(c2.data(), c1.data(), c1.size() * 4); }, reps);
    double tf = median_time([&] { swr_cpu_forward_f32(a.data(), u.data(), y.data(), B, H, L, block, k); }, reps);
    double tb = median_time([&] { swr_cpu_backward_f32(a.data(), u.data(), dy.data(), da.data(), du.data(), B, H, L, block, k); }, reps);
    double bc = 2.0 * c1.size() * 4, bf = 4.0 * (a.size() + u.size() + y.size()), bb = 4.0 * (a.size() + 2 * u.size() + da.size() + du.size());
    printf("k=%s block=%d ", k == SWR_UNBOUNDED ? "unbounded" : std::to_string(k).c_str(), block);
    printf("isa=%s threads=%s  memcpy %.2f GB/s | forward %.2f ms %.2f GB/s (%.0f%%) | backward %.2f ms %.2f GB/s (%.0f%%)\n",
           getenv("PHALANX_SWR_ISA") ? getenv("PHALANX_SWR_ISA") : "best", getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "all",
           bc / tc / 1e9, tf * 1e3, bf / tf / 1e9, 100 * (bf / tf) / (bc / tc), tb * 1e3, bb / tb / 1e9, 100 * (bb / tb) / (bc / tc));
    return 0;
}
