#!/usr/bin/python3
"""PyTorch reference for `npm run bench`: the lab's model and GRPO update, timed on the CPU
(or on a CUDA GPU for `npm run bench:gpu`).

The same decoder as src/engine/model.ts (pre-LN blocks, fused QKV without bias, GELU as
x * sigmoid(1.702 x), learned positions, output head tied to the token embedding) and the same
update as src/engine/grpo-update.ts with the r1-zero preset's settings (token-level "dapo"
aggregation, clip range 0.2 / 0.28, no KL term, gradient clipping at 1, AdamW), written the way
a PyTorch user would write it. Weights are random: speed does not depend on them.

Input: a JSON spec on stdin,
{"models": [...], "shapes": {...}, "repeats": {...}, "threads": n?, "device": "cpu" | "cuda"?}
with the shapes of src/bench/shapes.ts. Output: one JSON object on stdout.

With --serve (CPU only) it times single updates on request, so that `npm run bench` can
alternate them with its own on a noisy machine: the spec is the first line of stdin (one model),
it answers {"ready": true, ...the setup...}, then each line "update" gets one timed update back
as {"ms": x}. It ends when stdin closes.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(d, eps=1e-5)
        self.wqkv = torch.nn.Linear(d, 3 * d, bias=False)
        self.wo = torch.nn.Linear(d, d, bias=False)
        self.ln2 = torch.nn.LayerNorm(d, eps=1e-5)
        self.w1 = torch.nn.Linear(d, 4 * d)
        self.w2 = torch.nn.Linear(4 * d, d)

    def forward(self, x, bias, past=None):
        B, T, d = x.shape
        q, k, v = self.wqkv(self.ln1(x)).split(d, dim=2)
        split = lambda t: t.view(B, T, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(d // self.heads)) + bias
        attn = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
        x = x + self.wo(attn)
        h = self.w1(self.ln2(x))
        x = x + self.w2(h * torch.sigmoid(1.702 * h))
        return x, (k, v)


class GPT(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["dModel"]
        self.wte = torch.nn.Embedding(c["vocabSize"], d)
        self.wpe = torch.nn.Embedding(c["context"], d)
        self.blocks = torch.nn.ModuleList(Block(d, c["heads"]) for _ in range(c["layers"]))
        self.lnf = torch.nn.LayerNorm(d, eps=1e-5)

    def forward(self, tokens, positions, bias, cache=None):
        x = self.wte(tokens) + self.wpe(positions)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, bias, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.lnf(x) @ self.wte.weight.T, new_cache


def causal_bias(T, past=0):
    """[1, 1, T, past + T]: 0 where a query may look, -1e9 elsewhere (as the lab's MASKED)."""
    allowed = torch.ones(T, past + T).tril(diagonal=past).bool()
    return torch.zeros(T, past + T).masked_fill(~allowed, -1e9)[None, None]


ON_GPU = False


def synchronize():
    """GPU work is queued: a timer must wait for it to finish."""
    if ON_GPU:
        torch.cuda.synchronize()


def timed(fn, repeats):
    for _ in range(repeats["warmup"]):
        fn()
    synchronize()
    samples = []
    for _ in range(repeats["repeats"]):
        t0 = time.perf_counter()
        fn()
        synchronize()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"medianMs": statistics.median(samples), "minMs": min(samples), "samplesMs": samples}


def generate(model, c, shape, cached):
    rows, prompt_len, new_tokens = shape["rows"], shape["promptTokens"], shape["newTokens"]
    start = c["promptAnchor"] - prompt_len
    seq = torch.randint(0, c["vocabSize"], (rows, prompt_len))
    with torch.no_grad():
        positions = torch.arange(start, start + prompt_len).expand(rows, -1)
        logits, cache = model(seq, positions, causal_bias(prompt_len))
        for step in range(new_tokens):
            probs = logits[:, -1].softmax(-1)
            nxt = torch.multinomial(probs, 1)
            seq = torch.cat([seq, nxt], dim=1)
            if step == new_tokens - 1:
                break
            T = seq.shape[1]
            if cached:
                pos = torch.full((rows, 1), start + T - 1)
                logits, cache = model(nxt, pos, causal_bias(1, T - 1), cache)
            else:
                logits, _ = model(seq, torch.arange(start, start + T).expand(rows, -1), causal_bias(T))
    return seq


def grpo_update_fn(model, c, shape):
    rows, prompt_len, completion_len = shape["rows"], shape["promptTokens"], shape["completionTokens"]
    T = prompt_len + completion_len - 1
    start = c["promptAnchor"] - prompt_len
    seq = torch.randint(0, c["vocabSize"], (rows, T + 1))
    inputs, targets = seq[:, :-1], seq[:, 1:]
    positions = torch.arange(start, start + T).expand(rows, -1)
    mask = (torch.arange(T) >= prompt_len - 1).float().expand(rows, -1)
    advantages = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(rows)])[:, None]
    bias = causal_bias(T)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-7, weight_decay=0.0)

    def step():
        optimizer.zero_grad(set_to_none=True)
        logits, _ = model(inputs, positions, bias)
        logp_all = logits.log_softmax(-1)
        logp = logp_all.gather(-1, targets[..., None]).squeeze(-1)
        ratio = torch.exp(logp - logp.detach())
        clipped = ratio.clamp(1 - 0.2, 1 + 0.28)
        per_token = -torch.minimum(ratio * advantages, clipped * advantages)
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1)
        with torch.no_grad():
            entropy = -(logp_all.exp() * logp_all).sum(-1)
            _ = (entropy * mask).sum() / mask.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    return step


def blas_libraries():
    """The BLAS shared objects this process has mapped (what torch's matmuls end up calling)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
        return sorted(paths)
    except OSError:
        return []


def openblas():
    """The OpenBLAS library this process has mapped (ctypes), or None: it keeps a thread pool of its
    own, apart from torch's intra-op threads, and by default uses every core for one matmul."""
    import ctypes
    for path in blas_libraries():
        if "openblas" in path:
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_num_threads  # noqa: B018 (raises AttributeError when absent)
                return lib
            except (OSError, AttributeError):
                pass
    return None


def bench_model(c, shapes, repeats):
    torch.manual_seed(1)
    model = GPT(c)
    model.train()
    out = {"size": c["name"], "parameters": sum(p.numel() for p in model.parameters())}
    for key, cached in (("generateCached", True), ("generateRecompute", False)):
        g = shapes["generation"]
        t = timed(lambda: generate(model, c, g, cached), repeats)
        t["tokensPerSecond"] = g["rows"] * g["newTokens"] / (t["medianMs"] / 1000)
        out[key] = t
    u = shapes["update"]
    t = timed(grpo_update_fn(model, c, u), repeats)
    t["tokensPerSecond"] = u["rows"] * (u["promptTokens"] + u["completionTokens"] - 1) / (t["medianMs"] / 1000)
    out["update"] = t
    return out


def set_threads(spec):
    """torch's intra-op threads and OpenBLAS's own, where the spec asks; returns the OpenBLAS library or None."""
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    torch.ones(2, 2) @ torch.ones(2, 2)  # maps the BLAS library
    blas = openblas()
    if spec.get("blasThreads"):
        if blas is None:
            sys.exit("blasThreads: this torch does not use OpenBLAS, whose threads it sets")
        blas.openblas_set_num_threads(int(spec["blasThreads"]))
    return blas


def setup(blas):
    """What ran the numbers: torch's version, its threads, the BLAS."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blasThreads": blas.openblas_get_num_threads() if blas is not None else None,
        "blas": blas_libraries(),
    }


def answer(obj):
    print(json.dumps(obj), flush=True)


def serve():
    spec = json.loads(sys.stdin.readline())
    blas = set_threads(spec)
    (c,) = spec["models"]
    torch.manual_seed(1)
    model = GPT(c)
    model.train()
    step = grpo_update_fn(model, c, spec["shapes"]["update"])
    answer({"ready": True, **setup(blas)})
    for line in sys.stdin:
        command = line.strip()
        if command != "update":
            answer({"error": f'command: "{command}" is not one of update'})
            continue
        t0 = time.perf_counter()
        step()
        answer({"ms": (time.perf_counter() - t0) * 1000})


def main():
    if "--serve" in sys.argv[1:]:
        serve()
        return
    spec = json.load(sys.stdin)
    global ON_GPU
    device = spec.get("device", "cpu")
    if device not in ("cpu", "cuda"):
        sys.exit(f'device: "{device}" is not one of cpu, cuda')
    if device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("device: cuda was asked for, but torch sees no CUDA GPU")
        # Every tensor below is made on the GPU, the model's weights included (torch 2.0 on).
        torch.set_default_device("cuda")
        ON_GPU = True
    blas = set_threads(spec)
    sizes = [bench_model(c, spec["shapes"], spec["repeats"]) for c in spec["models"]]
    json.dump({
        **setup(blas),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "sizes": sizes,
    }, sys.stdout)


if __name__ == "__main__":
    main()
