"""FlexAttention sliding-window attention timings for the SWR comparison (bench/gpu/run_h200.sh).

Causal sliding window of 512 keys, 16 heads x 128 = 2048 width, bf16, torch.compile'd
flex_attention; forward and forward+backward at 32768 tokens as (B, L) in
(8, 4096), (4, 8192), (2, 16384), (1, 32768). Only the attention core (no projections).
Prints one 'FLEX ...' line per shape (times in ms, median of CUDA-event timed repetitions).
"""
import sys
import time

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

WINDOW, HEADS, DIM = 512, 16, 128
SHAPES = [(8, 4096), (4, 8192), (2, 16384), (1, 32768)]


def sliding_window(b, h, q_idx, kv_idx):
    return (q_idx >= kv_idx) & (q_idx - kv_idx < WINDOW)


def bench(fn, reps=20, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        torch.cuda.synchronize()
        times.append(e0.elapsed_time(e1))
    times.sort()
    return times[len(times) // 2]


def main():
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
    attn = torch.compile(flex_attention, dynamic=False)
    for B, L in SHAPES:
        t0 = time.time()
        mask = create_block_mask(sliding_window, B=None, H=None, Q_LEN=L, KV_LEN=L, device="cuda")
        q, k, v = (torch.randn(B, HEADS, L, DIM, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                   for _ in range(3))
        dout = torch.randn(B, HEADS, L, DIM, device="cuda", dtype=torch.bfloat16)

        def fwd():
            with torch.no_grad():
                return attn(q, k, v, block_mask=mask)

        def fwd_bwd():
            out = attn(q, k, v, block_mask=mask)
            out.backward(dout)

        f = bench(fwd)
        fb = bench(fwd_bwd)
        # Sanity: compare one output row block against dense masked attention on a slice.
        with torch.no_grad():
            out = attn(q, k, v, block_mask=mask)
            n = min(L, 1024)
            qs, ks, vs = q[:1, :, :n].float(), k[:1, :, :n].float(), v[:1, :, :n].float()
            i = torch.arange(n, device="cuda")
            m = (i[:, None] >= i[None, :]) & (i[:, None] - i[None, :] < WINDOW)
            s = (qs @ ks.transpose(-1, -2)) / DIM ** 0.5
            ref = torch.softmax(s.masked_fill(~m, float("-inf")), -1) @ vs
            err = ((out[:1, :, :n].float() - ref).norm() / ref.norm()).item()
        print(f"FLEX B={B} L={L} fwd_ms={f:.4f} fb_ms={fb:.4f} relerr={err:.2e} (setup+compile {time.time() - t0:.1f} s)",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
