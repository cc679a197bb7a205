#!/usr/bin/env python3
"""PyTorch baseline for `cottention bench train`: the same GPT-J cosine model, trained the same way, timed the same way.

Model (bench train's defaults): vocab 8192, 6 layers, n_embd 384, 6 heads (head dim 64), MLP 1536, rotary_dim 64,
GPT-J blocks (one LayerNorm feeding attention and MLP in parallel, gelu_new, lm_head with bias), cosine attention
(math doc section 2: L2-normalised q and k, values divided by max(c_t^sigmoid(m), 1), no softmax) in its chunkwise
form (section 4, chunk 64) with autograd doing the backward; AdamW; 4096 tokens per step (batch = 4096 / context);
random tokens; the median of the timed steps after 2 warm-up steps. Prints one JSON line per context.

Baseline only (the project itself has no Python): Debian's python3-torch (`apt-get install python3-torch`), run with
/usr/bin/python3. Debian's torch calls libblas.so.3: install an optimised one (`apt-get install libopenblas0-pthread`;
`update-alternatives --display libblas.so.3-x86_64-linux-gnu` shows which is used) — on the reference libblas3 it ran
at 49 tokens/s (83.6 s a step at context 256) on a 2-core Zen 5 EPYC. Example:
  /usr/bin/python3 scripts/bench-train-pytorch.py --context 256,1024,4096 --threads 2 --steps 3
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rotary(x, rot):
    """GPT-J interleaved-pairs rotary embedding on the first `rot` dims of x [B, T, H, D]."""
    T = x.shape[1]
    inv = 10000.0 ** (-torch.arange(0, rot, 2, dtype=torch.float32) / rot)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]  # [T, rot/2]
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    xr, rest = x[..., :rot], x[..., rot:]
    x0, x1 = xr[..., 0::2], xr[..., 1::2]
    y = torch.stack((x0 * cos - x1 * sin, x1 * cos + x0 * sin), dim=-1).flatten(-2)
    return torch.cat((y, rest), dim=-1)


def cosine_causal_chunkwise(q, k, v, m, chunk):
    """q, k, v [B, H, T, D] (T a multiple of chunk); m [H]. O_n = Q_n S_n + (Q_n K_n^T .* M) V_n, S_{n+1} = S_n + K_n^T V_n."""
    B, H, T, D = q.shape
    q = F.normalize(q, dim=-1, eps=1e-12)
    k = F.normalize(k, dim=-1, eps=1e-12)
    c = torch.arange(1, T + 1, dtype=q.dtype)  # counts (no padding)
    a = torch.sigmoid(m)[None, :, None, None]
    v = v / torch.clamp(c[None, None, :, None] ** a, min=1.0)
    n = T // chunk
    qc, kc, vc = (x.reshape(B, H, n, chunk, D) for x in (q, k, v))
    kv = kc.transpose(-1, -2) @ vc                       # [B, H, n, D, D]
    s = torch.cumsum(kv, dim=2) - kv                     # state before each chunk (exclusive prefix sum)
    mask = torch.tril(torch.ones(chunk, chunk, dtype=q.dtype))
    p = (qc @ kc.transpose(-1, -2)) * mask               # [B, H, n, C, C]
    o = qc @ s + p @ vc
    return o.reshape(B, H, T, D)


class Block(nn.Module):
    def __init__(self, e, h, inner, rot, chunk):
        super().__init__()
        self.h, self.rot, self.chunk = h, rot, chunk
        self.ln = nn.LayerNorm(e, eps=1e-5)
        self.q = nn.Linear(e, e, bias=False)
        self.k = nn.Linear(e, e, bias=False)
        self.v = nn.Linear(e, e, bias=False)
        self.out = nn.Linear(e, e, bias=False)
        self.norm_const = nn.Parameter(torch.full((h,), 0.5))
        self.fc_in = nn.Linear(e, inner)
        self.fc_out = nn.Linear(inner, e)

    def forward(self, x):
        B, T, E = x.shape
        y = self.ln(x)
        q, k, v = (p(y).view(B, T, self.h, E // self.h) for p in (self.q, self.k, self.v))
        q, k = rotary(q, self.rot), rotary(k, self.rot)
        o = cosine_causal_chunkwise(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), self.norm_const, self.chunk)
        attn = self.out(o.transpose(1, 2).reshape(B, T, E))
        mlp = self.fc_out(F.gelu(self.fc_in(y), approximate="tanh"))
        return x + attn + mlp


class GptJ(nn.Module):
    def __init__(self, vocab, e, layers, h, inner, rot, chunk):
        super().__init__()
        self.wte = nn.Embedding(vocab, e)
        self.blocks = nn.ModuleList(Block(e, h, inner, rot, chunk) for _ in range(layers))
        self.ln_f = nn.LayerNorm(e, eps=1e-5)
        self.lm_head = nn.Linear(e, vocab)

    def forward(self, ids, targets):
        x = self.wte(ids)
        for b in self.blocks:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--context", default="256,1024,4096")
    ap.add_argument("--tokens-per-step", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--n-embd", type=int, default=384)
    ap.add_argument("--n-layer", type=int, default=6)
    ap.add_argument("--n-head", type=int, default=6)
    ap.add_argument("--chunk", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    e, h = args.n_embd, args.n_head
    model = GptJ(args.vocab, e, args.n_layer, h, 4 * e, min(64, e // h), args.chunk)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    for ctx in (int(c) for c in args.context.split(",")):
        if ctx % args.chunk:
            raise SystemExit(f"--context {ctx} must be a multiple of --chunk {args.chunk}")
        batch = max(1, args.tokens_per_step // ctx)
        times = []
        for s in range(-2, args.steps):
            ids = torch.randint(0, args.vocab, (batch, ctx))
            tg = torch.randint(0, args.vocab, (batch, ctx))
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            model(ids, tg).backward()
            opt.step()
            if s >= 0:
                times.append((time.perf_counter() - t0) * 1e3)
        med = sorted(times)[len(times) // 2]
        print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "attention": "cosine", "context": ctx,
                          "batch": batch, "steps": args.steps, "threads": args.threads, "medianStepMs": round(med, 1),
                          "tokensPerSec": round(batch * ctx / (med / 1e3), 1), "parameters": params}), flush=True)


if __name__ == "__main__":
    main()
