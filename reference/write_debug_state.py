"""reference/write_debug_state.py — write the PyTorch golden state that the C
model is checked against (format and tensor names: reference/DEBUG_STATE.md).

    python3 reference/write_debug_state.py --out reference/debug_state_tiny.bin
    python3 reference/write_debug_state.py --shared-layers 1 --out reference/debug_state_split.bin
    python3 reference/write_debug_state.py --lora-rank 4 --lora-alpha 8 --lora-targets 7 \
        --out reference/debug_state_lora.bin
    python3 reference/write_debug_state.py --lora-rank 4 --check   # self-checks, writes nothing

Deterministic: fixed seeds, float32, CPU, one thread, dropout off. Contents:
config, hparams, the inputs (a padded batch shaped like [CLS] q [SEP] ctx [SEP]),
the outputs and losses, the gradient of the total loss w.r.t. every parameter,
and `train.losses`: the total loss before each of 10 AdamW steps on that batch.

Beyond DEBUG_STATE.md it also writes intermediate activations for debugging a
layer at a time: `act.emb` [B,T,C] (embedding LayerNorm output) and
`act.layer{l}` [B,T,C] (output of encoder layer l; the last equals out.hidden).
"""
import argparse
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402

MAGIC = b"MTLDBG\0\0"
VERSION = 1
TRAILER = 0xC0FFEE01
DTYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1, np.dtype(np.float64): 2}

CFG = M.Config(L=2, C=64, NH=4, FFN=256, V=512, maxT=64, type_vocab=2, num_labels=9,
               ln_eps=1e-12, p_drop=0.0, init_std=0.02)
B, T = 4, 32
LENGTHS = [32, 27, 19, 9]      # real tokens per row (the rest is padding)
QUESTION_LEN = [5, 6, 3, 2]    # question pieces between [CLS] and the first [SEP]
CLS, SEP, PAD = 101, 102, 0    # BERT's ids (all < V = 512)
HP = dict(ln_eps=1e-12, lr=1e-3, beta1=0.9, beta2=0.999, adam_eps=1e-8, weight_decay=0.01,
          clip_norm=1.0, lambda_ner=1.0)
LAMBDA_QA = 1.0
TRAIN_STEPS = 10
SEED = 1234


def make_row(b, gen):
    """One [CLS] q [SEP] ctx [SEP] [PAD]... row: ids, types, mask, NER labels,
    and a QA span inside the context."""
    n, nq = LENGTHS[b], QUESTION_LEN[b]
    ids = torch.full((T,), PAD, dtype=torch.int32)
    types = torch.zeros(T, dtype=torch.int32)
    mask = torch.zeros(T, dtype=torch.int32)
    labels = torch.full((T,), M.IGNORE_INDEX, dtype=torch.int32)
    ids[:n] = torch.randint(SEP + 1, CFG.V, (n,), generator=gen, dtype=torch.int32)
    sep1 = 1 + nq
    ids[0], ids[sep1], ids[n - 1] = CLS, SEP, SEP
    types[sep1 + 1:n] = 1
    mask[:n] = 1
    # labels on every real word piece except [CLS]/[SEP] and ~1 in 5 pieces
    # that play "continuation piece" (label only the first piece of a word).
    for t in range(1, n - 1):
        if t == sep1:
            continue
        cont = torch.rand((), generator=gen).item() < 0.2
        if not cont:
            labels[t] = int(torch.randint(0, CFG.num_labels, (), generator=gen))
    ctx0, ctx1 = sep1 + 1, n - 2  # first and last context position
    s = int(torch.randint(ctx0, ctx1 + 1, (), generator=gen))
    e = int(torch.randint(s, min(s + 3, ctx1) + 1, (), generator=gen))
    return ids, types, mask, labels, s, e


def make_batch(gen):
    rows = [make_row(b, gen) for b in range(B)]
    stack = lambda i: torch.stack([r[i] for r in rows]).long()  # noqa: E731
    return {"ids": stack(0), "types": stack(1), "mask": stack(2), "ner_labels": stack(3),
            "qa_start": torch.tensor([r[4] for r in rows]),
            "qa_end": torch.tensor([r[5] for r in rows])}


def perturb_params(model, gen):
    """Small random values on biases and LayerNorm parameters so that their
    gradients are exercised (BERT init would leave them at 0 / 1)."""
    with torch.no_grad():
        for _, p in model.named_params_ds():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))


def perturb_copies(model, gen):
    """Partial sharing: the QA copies start equal to NER's (as in training);
    make every tensor of them differ, so that a copy mixed up with its twin
    shows in the outputs, not only in the gradients."""
    with torch.no_grad():
        for l in range(len(model.qa_layers)):
            for _, p in M.layer_params("", model.qa_layers[l]):
                p.add_(0.02 * torch.randn(p.shape, generator=gen))


def perturb_lora(model, gen):
    """LoRA: A ~ N(0, std 1/R) as in training, but B small and nonzero instead
    of 0, so that the adapters change the outputs and A gets a gradient; NER's
    and QA's adapters are drawn separately, so they differ."""
    with torch.no_grad():
        for name, p in model.lora_params_ds():
            std = 1.0 / CFG.lora_rank if name.endswith(".a") else 0.02
            p.copy_(std * torch.randn(p.shape, generator=gen))


def forward_with_activations(model, batch, task="ner"):
    """Outputs plus the per-layer activations (same math as MtlBert.forward)."""
    ids, types, mask = batch["ids"], batch["types"], batch["mask"]
    pos = torch.arange(ids.shape[1])
    x = model.emb_ln(model.wte(ids) + model.wpe(pos)[None] + model.wtt(types))
    acts = {"act.emb": x}
    for l, (ly, lora) in enumerate(zip(model.task_layers(task), model.task_lora(task))):
        x = ly(x, mask, lora)
        acts[f"act.layer{l}"] = x
    return x, acts


def golden_outputs(model, batch):
    """Forward + backward of the total loss. Returns the tensors to write."""
    model.zero_grad(set_to_none=True)
    hidden, acts = forward_with_activations(model, batch)
    split = model.per_task_encoder()
    hidden_qa = forward_with_activations(model, batch, "qa")[0] if split else hidden
    ner, qa = model.ner_logits(hidden), model.qa_logits(hidden_qa)
    l_ner = M.ner_loss(ner, batch["ner_labels"])
    l_qa = M.qa_loss(qa, batch["qa_start"], batch["qa_end"])
    total = HP["lambda_ner"] * l_ner + LAMBDA_QA * l_qa
    total.backward()
    out = {"out.ner_logits": ner, "out.qa_logits": qa, "out.loss_ner": l_ner.reshape(1),
           "out.loss_qa": l_qa.reshape(1), "out.loss_total": total.reshape(1),
           "out.hidden": hidden}
    if split:
        out["out.hidden_qa"] = hidden_qa
    out.update(acts)
    grads = {f"grad.{n}": p.grad for n, p in model.trainable_params_ds()}
    return out, grads


def train_losses(model, batch):
    """Total loss before each of TRAIN_STEPS AdamW steps on the same batch:
    zero_grad, forward, backward, clip_grad_norm_(clip), step; constant lr."""
    opt = torch.optim.AdamW(model.param_groups(HP["weight_decay"]), lr=HP["lr"],
                            betas=(HP["beta1"], HP["beta2"]), eps=HP["adam_eps"])
    params = [p for _, p in model.trainable_params_ds()]
    losses = []
    for _ in range(TRAIN_STEPS):
        opt.zero_grad(set_to_none=True)
        total, *_ = M.joint_loss(model, batch, HP["lambda_ner"], LAMBDA_QA)
        losses.append(total.item())
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, HP["clip_norm"])
        opt.step()
    return torch.tensor(losses, dtype=torch.float32)


def merged_model(model, task):
    """A plain (no-LoRA) model whose targeted weights are W + s B A of the
    task's adapters: the same function as the LoRA model's forward for task."""
    plain = M.MtlBert(M.Config(**{**CFG.__dict__, "lora_rank": 0}))
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("lora.")})
    with torch.no_grad():
        for ly, lora in zip(plain.layers, model.task_lora(task)):
            for attr, ad in lora.items():
                getattr(ly, attr).weight.add_(ad.scale * (ad.b @ ad.a))
    return plain.eval()


def check_lora(model, batch):
    """--check: (1) per task, the LoRA model's logits against a plain model
    with merged weights W' = W + s B A; (2) gradcheck (float64) of a small
    linear with a LoRA adapter, w.r.t. x, A and B. Returns whether both pass."""
    ok = True
    args = (batch["ids"], batch["types"], batch["mask"])
    with torch.no_grad():
        _, ner, qa = model.eval()(*args)
        for task, ours in (("ner", ner), ("qa", qa)):
            _, m_ner, m_qa = merged_model(model, task)(*args)
            d = (ours - (m_ner if task == "ner" else m_qa)).abs().max().item()
            ok &= d < 1e-5
            print(f"check: {task} logits, max |LoRA - merged W + s B A| = {d:.3e} (tol 1e-5)")
    gen = torch.Generator().manual_seed(SEED)
    base = torch.nn.Linear(5, 3).double()
    ad = M.LoraAdapter(base, 2, 8.0 / 2).double()
    x = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    a = torch.randn(2, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    lora_linear = lambda x, a, b: torch.func.functional_call(  # noqa: E731
        ad, {"a": a, "b": b}, (x,)) + base(x)
    passed = torch.autograd.gradcheck(lora_linear, (x, a, b), raise_exception=False)
    ok &= passed
    print(f"check: gradcheck of a LoRA linear [3,5] R=2 (float64, x, A, B): "
          f"{'pass' if passed else 'FAIL'}")
    return ok


def pack_tensor(name, arr):
    arr = np.ascontiguousarray(arr)
    if arr.dtype not in DTYPES:
        raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
    if arr.ndim > 4:
        raise ValueError(f"{name}: ndim {arr.ndim} > 4")
    nb = name.encode("ascii")
    head = struct.pack("<I", len(nb)) + nb + struct.pack("<II", DTYPES[arr.dtype], arr.ndim)
    head += struct.pack(f"<{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def write_state(path, tensors):
    """tensors: list of (name, numpy array) in file order."""
    blob = bytearray(MAGIC + struct.pack("<II", VERSION, len(tensors)))
    for name, arr in tensors:
        blob += pack_tensor(name, arr)
    blob += struct.pack("<I", TRAILER)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
    return len(blob)


def to_np(t, dtype=np.float32):
    return t.detach().cpu().numpy().astype(dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="reference/debug_state_tiny.bin")
    ap.add_argument("--shared-layers", type=int, default=-1,
                    help="K < L: per-task copies of layers K..L-1 (reference/debug_state_split.bin: 1)")
    ap.add_argument("--lora-rank", type=int, default=0,
                    help="R > 0: frozen encoder, per-task LoRA adapters (reference/debug_state_lora.bin: 4)")
    ap.add_argument("--lora-alpha", type=float, default=8.0, help="LoRA scale = alpha / rank")
    ap.add_argument("--lora-targets", type=int, default=7,
                    help="bitmask: 1 attn.qkv, 2 attn.out, 4 ffn.up and ffn.down")
    ap.add_argument("--check", action="store_true",
                    help="LoRA self-checks (merged weights, gradcheck) instead of writing")
    args = ap.parse_args()
    if args.check and args.lora_rank < 1:
        ap.error("--check needs --lora-rank R >= 1")
    global CFG
    CFG = M.Config(**{**CFG.__dict__, "shared_layers": args.shared_layers,
                      "lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha,
                      "lora_targets": args.lora_targets})

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    model = M.MtlBert(CFG).train()  # p_drop = 0: dropout is the identity
    perturb_params(model, gen)
    batch = make_batch(gen)
    perturb_copies(model, gen)  # after the batch: K = L draws exactly as before
    perturb_lora(model, gen)    # last: without LoRA, draws exactly as before
    if args.check:
        if not check_lora(model, batch):
            raise SystemExit("check FAILED")
        print("check OK")
        return
    params0 = [(n, to_np(p)) for n, p in model.named_params_ds()]

    out, grads = golden_outputs(model, batch)
    losses = train_losses(model, batch)

    c = CFG
    tensors = [("config", np.array([c.L, c.C, c.NH, c.FFN, c.V, c.maxT, c.type_vocab,
                                    c.num_labels, B, T], dtype=np.int32)),
               ("hparams", np.array(list(HP.values()), dtype=np.float32))]
    if c.K() < c.L:
        tensors.append(("config.shared_layers", np.array([c.K()], dtype=np.int32)))
    if c.lora_rank > 0:
        tensors += [("config.lora", np.array([c.lora_rank, c.lora_targets], dtype=np.int32)),
                    ("config.lora_alpha", np.array([c.lora_alpha], dtype=np.float32))]
    tensors += params0
    for k, dsname in (("ids", "in.ids"), ("types", "in.types"), ("mask", "in.mask"),
                      ("ner_labels", "in.ner_labels"), ("qa_start", "in.qa_start"),
                      ("qa_end", "in.qa_end")):
        tensors.append((dsname, to_np(batch[k], np.int32)))
    tensors += [(k, to_np(v)) for k, v in out.items()]
    tensors += [(k, to_np(v)) for k, v in grads.items()]
    tensors.append(("train.losses", losses.numpy()))
    nbytes = write_state(args.out, tensors)
    print(f"wrote {args.out}: {len(tensors)} tensors, {nbytes} bytes")
    print(f"loss_ner {out['out.loss_ner'].item():.6f}  loss_qa {out['out.loss_qa'].item():.6f}  "
          f"loss_total {out['out.loss_total'].item():.6f}")
    print("train.losses " + " ".join(f"{x:.6f}" for x in losses.tolist()))


if __name__ == "__main__":
    main()
