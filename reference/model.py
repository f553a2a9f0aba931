"""reference/model.py — a plain PyTorch BERT encoder (post-LN, as Hugging Face's
BertModel) shared by an NER head and a QA head. Written from scratch: this file
never imports transformers except in the optional --check-hf self-test.

Math (B batch, T tokens, C channels, NH heads, hs = C / NH):
    x = dropout(LN(wte[ids] + wpe[t] + wtt[types]))                  eps 1e-12
    per layer:
        q | k | v = x Wqkv^T + bqkv       Wqkv [3C, C], rows q then k then v
        S = q k^T / sqrt(hs), padded keys set to finfo.min (probability 0)
        a = dropout(softmax(S)) v
        h = LN1(x + dropout(a Wo^T + bo))
        x = LN2(h + dropout(GELU(h Wup^T + bup) Wdown^T + bdown))
    GELU is the erf form 0.5 x (1 + erf(x / sqrt 2)).
    NER: logits = dropout(x) Wner^T + bner, loss = mean CE over positions whose
         label != -100.
    QA:  [start | end] = x Wqa^T + bqa, loss = (CE(start) + CE(end)) / 2 over
         the batch (as BertForQuestionAnswering).
    Joint loss = lambda_ner * L_ner + lambda_qa * L_qa.
    Partial sharing (shared_layers K < L): layers 0..K-1 are shared, and the
    QA forward runs its own copies ("qa.layer{l}", l >= K) of the top layers.
    LoRA (lora_rank R > 0): the encoder is frozen and each task's forward adds
    its own low-rank adapters ("lora.{task}.layer{l}.{target}") to the targeted
    linears: y = x W^T + b + s (x A^T) B^T, A [R,in], B [out,R], s = alpha / R.

Parameter names and order are those of reference/DEBUG_STATE.md (the C model
uses the same names in the same order for its contiguous buffer).

Run `python3 reference/model.py --check-hf` to load the same weights into
transformers' BertModel and print the max difference of the encoder outputs.
"""
import argparse
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -100


@dataclass
class Config:
    L: int = 2
    C: int = 64
    NH: int = 4
    FFN: int = 256
    V: int = 512
    maxT: int = 64
    type_vocab: int = 2
    num_labels: int = 9
    ln_eps: float = 1e-12
    p_drop: float = 0.0
    init_std: float = 0.02
    shared_layers: int = -1  # K: layers 0..K-1 shared, K..L-1 one copy per task; -1 = all (K = L)
    lora_rank: int = 0       # R: per-task LoRA adapters on a frozen encoder; 0 = off
    lora_alpha: float = 8.0  # scale s = lora_alpha / lora_rank
    lora_targets: int = 7    # bitmask: 1 attn.qkv, 2 attn.out, 4 ffn (up and down)

    def K(self):
        return self.L if self.shared_layers < 0 else self.shared_layers


# Sizes of the C presets (impl/model/config.c); all use BERT's vocab and 512 positions.
PRESETS = {
    "tiny": dict(L=2, C=64, NH=4, FFN=256),
    "mini": dict(L=4, C=256, NH=4, FFN=1024),
    "minilm": dict(L=6, C=384, NH=12, FFN=1536),
    "base": dict(L=12, C=768, NH=12, FFN=3072),
}


def preset_config(name, p_drop=0.1):
    return Config(V=30522, maxT=512, p_drop=p_drop, **PRESETS[name])


def is_layernorm(ds_name):
    """emb.ln.*, layer{l}.ln1.*, layer{l}.ln2.*"""
    return ".ln" in ds_name


# LoRA targets: (DEBUG_STATE name, Layer attribute, bit of lora_targets), in
# the table's order.
LORA_TARGETS = (("attn.qkv", "qkv", 1), ("attn.out", "out", 2),
                ("ffn.up", "up", 4), ("ffn.down", "down", 4))


class LoraAdapter(nn.Module):
    """The low-rank update of one linear [out, in]: s (x A^T) B^T, A [R,in],
    B [out,R]. Training init: A ~ N(0, std 1/R), B = 0 (the update starts at 0)."""

    def __init__(self, base, rank, scale):
        super().__init__()
        self.scale = scale
        self.a = nn.Parameter(torch.empty(rank, base.in_features))
        self.b = nn.Parameter(torch.empty(base.out_features, rank))

    def forward(self, x):
        return self.scale * ((x @ self.a.t()) @ self.b.t())


class Layer(nn.Module):
    """One post-LN encoder layer. Attribute names give the DEBUG_STATE names."""

    def __init__(self, cfg):
        super().__init__()
        C = cfg.C
        self.nh, self.p, self.eps = cfg.NH, cfg.p_drop, cfg.ln_eps
        # Registration order = parameter order in DEBUG_STATE.md.
        self.qkv = nn.Linear(C, 3 * C)
        self.out = nn.Linear(C, C)
        self.ln1 = nn.LayerNorm(C, eps=cfg.ln_eps)
        self.up = nn.Linear(C, cfg.FFN)
        self.down = nn.Linear(cfg.FFN, C)
        self.ln2 = nn.LayerNorm(C, eps=cfg.ln_eps)

    def linear(self, attr, x, lora):
        """self.<attr>(x), plus the task's LoRA update when it has one there."""
        y = getattr(self, attr)(x)
        if lora is not None and attr in lora:
            y = y + lora[attr](x)
        return y

    def attention(self, x, mask, lora=None):
        B, T, C = x.shape
        hs = C // self.nh
        q, k, v = self.linear("qkv", x, lora).split(C, dim=-1)
        # [B,T,C] -> [B,NH,T,hs]
        q, k, v = (t.view(B, T, self.nh, hs).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        pad = (mask == 0)[:, None, None, :]  # [B,1,1,T] over keys
        s = s.masked_fill(pad, torch.finfo(s.dtype).min)
        p = F.dropout(torch.softmax(s, dim=-1), self.p, self.training)
        a = (p @ v).transpose(1, 2).reshape(B, T, C)
        return a

    def forward(self, x, mask, lora=None):
        """lora: None, or {Layer attribute: LoraAdapter} of one task."""
        a = self.linear("out", self.attention(x, mask, lora), lora)
        h = self.ln1(x + F.dropout(a, self.p, self.training))
        f = self.linear("down", F.gelu(self.linear("up", h, lora), approximate="none"), lora)
        return self.ln2(h + F.dropout(f, self.p, self.training))


def layer_params(prefix, ly):
    """(DEBUG_STATE name, parameter) of one layer, in the table's order."""
    out = []
    for ds, mod in (("attn.qkv", ly.qkv), ("attn.out", ly.out), ("ln1", ly.ln1),
                    ("ffn.up", ly.up), ("ffn.down", ly.down), ("ln2", ly.ln2)):
        out += [(f"{prefix}{ds}.w", mod.weight), (f"{prefix}{ds}.b", mod.bias)]
    return out


class MtlBert(nn.Module):
    def __init__(self, cfg, heads=("ner", "qa")):
        super().__init__()
        self.cfg = cfg
        C = cfg.C
        self.wte = nn.Embedding(cfg.V, C, padding_idx=0)  # [PAD] gets no gradient, as HF's BertEmbeddings
        self.wpe = nn.Embedding(cfg.maxT, C)
        self.wtt = nn.Embedding(cfg.type_vocab, C)
        self.emb_ln = nn.LayerNorm(C, eps=cfg.ln_eps)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.L))
        self.ner = nn.Linear(C, cfg.num_labels) if "ner" in heads else None
        self.qa = nn.Linear(C, 2) if "qa" in heads else None
        # Partial sharing: QA's own copies of layers K..L-1 (self.layers holds
        # NER's); both copies start equal.
        self.qa_layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.K(), cfg.L))
        # LoRA: per task, per layer, {Layer attribute: LoraAdapter} of the
        # enabled targets (not combined with partial sharing).
        self.lora = None
        if cfg.lora_rank > 0:
            assert cfg.K() == cfg.L, "LoRA is not combined with --shared-layers"
            s = cfg.lora_alpha / cfg.lora_rank
            self.lora = nn.ModuleDict(
                (task, nn.ModuleList(
                    nn.ModuleDict((attr, LoraAdapter(getattr(ly, attr), cfg.lora_rank, s))
                                  for _, attr, bit in LORA_TARGETS if cfg.lora_targets & bit)
                    for ly in self.layers))
                for task in ("ner", "qa"))
        self.init_bert()
        for l, ly in enumerate(self.qa_layers):
            ly.load_state_dict(self.layers[cfg.K() + l].state_dict())
        if self.lora is not None:
            self.init_lora()
            for name, p in self.named_params_ds():  # frozen encoder
                if name.startswith(("emb.", "layer")):
                    p.requires_grad_(False)

    def init_bert(self):
        """BERT init: weights and embeddings N(0, init_std), biases 0, LN 1/0."""
        for name, p in self.named_params_ds():
            if name.startswith("lora."):
                continue  # init_lora
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, self.cfg.init_std)
            elif is_layernorm(name) and name.endswith(".w"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def init_lora(self):
        """LoRA init: A ~ N(0, std 1/R), B = 0."""
        with torch.no_grad():
            for name, p in self.lora_params_ds():
                if name.endswith(".a"):
                    nn.init.normal_(p, 0.0, 1.0 / self.cfg.lora_rank)
                else:
                    nn.init.zeros_(p)

    def lora_params_ds(self):
        """(DEBUG_STATE name, parameter) of the LoRA adapters: per task (ner,
        qa), per layer, per enabled target, A then B."""
        out = []
        for task, layers in (self.lora.items() if self.lora is not None else ()):
            for l, adapters in enumerate(layers):
                for ds, attr, _ in LORA_TARGETS:
                    if attr in adapters:
                        pre = f"lora.{task}.layer{l}.{ds}."
                        out += [(pre + "a", adapters[attr].a), (pre + "b", adapters[attr].b)]
        return out

    def named_params_ds(self):
        """(DEBUG_STATE name, parameter) in the order of DEBUG_STATE.md."""
        out = [("emb.word", self.wte.weight), ("emb.pos", self.wpe.weight),
               ("emb.type", self.wtt.weight), ("emb.ln.w", self.emb_ln.weight),
               ("emb.ln.b", self.emb_ln.bias)]
        for l, ly in enumerate(self.layers):
            out += layer_params(f"layer{l}.", ly)
        for ds, mod in (("ner", self.ner), ("qa", self.qa)):
            if mod is not None:
                out += [(f"{ds}.w", mod.weight), (f"{ds}.b", mod.bias)]
        for l, ly in enumerate(self.qa_layers):  # after the heads: qa.layer{K}..qa.layer{L-1}
            out += layer_params(f"qa.layer{self.cfg.K() + l}.", ly)
        return out + self.lora_params_ds()  # LoRA: after the heads

    def trainable_params_ds(self):
        """named_params_ds less the frozen ones (LoRA: the encoder)."""
        return [(name, p) for name, p in self.named_params_ds() if p.requires_grad]

    def param_groups(self, weight_decay):
        """AdamW groups over the trainable parameters: decay for weights,
        embeddings and every LoRA A and B, none for biases and LayerNorm
        parameters (BERT's no_decay list)."""
        decay, no_decay = [], []
        for name, p in self.trainable_params_ds():
            no = not name.startswith("lora.") and (name.endswith(".b") or is_layernorm(name))
            (no_decay if no else decay).append(p)
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": no_decay, "weight_decay": 0.0}]

    def task_layers(self, task):
        """The L layers a task's forward runs: the shared ones, then its own."""
        K = self.cfg.K()
        if task == "qa" and K < self.cfg.L:
            return list(self.layers[:K]) + list(self.qa_layers)
        return list(self.layers)

    def task_lora(self, task):
        """Per layer, the task's {Layer attribute: LoraAdapter} (None: no LoRA)."""
        if self.lora is None:
            return [None] * self.cfg.L
        return list(self.lora[task])

    def per_task_encoder(self):
        """Whether the QA forward's encoder differs from NER's."""
        return self.cfg.K() < self.cfg.L or self.lora is not None

    def encode(self, ids, types, mask, task="ner"):
        T = ids.shape[1]
        pos = torch.arange(T, device=ids.device)
        x = self.wte(ids) + self.wpe(pos)[None] + self.wtt(types)
        x = F.dropout(self.emb_ln(x), self.cfg.p_drop, self.training)
        for ly, lora in zip(self.task_layers(task), self.task_lora(task)):
            x = ly(x, mask, lora)
        return x

    def ner_logits(self, hidden):
        return self.ner(F.dropout(hidden, self.cfg.p_drop, self.training))

    def qa_logits(self, hidden):
        return self.qa(hidden)  # [B,T,2]: start, end

    def forward(self, ids, types, mask):
        """Returns hidden [B,T,C] (NER's, with per-task layers or adapters), ner logits
        [B,T,labels] (or None), qa logits [B,T,2] (or None)."""
        h = self.encode(ids, types, mask)
        h_qa = self.encode(ids, types, mask, "qa") if self.per_task_encoder() else h
        ner = self.ner_logits(h) if self.ner is not None else None
        qa = self.qa_logits(h_qa) if self.qa is not None else None
        return h, ner, qa


def ner_loss(logits, labels):
    """Mean CE over positions whose label != -100."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=IGNORE_INDEX)


def qa_loss(logits, start, end):
    """(CE(start logits over T) + CE(end logits over T)) / 2, mean over the batch."""
    ls = F.cross_entropy(logits[..., 0], start, ignore_index=IGNORE_INDEX)
    le = F.cross_entropy(logits[..., 1], end, ignore_index=IGNORE_INDEX)
    return (ls + le) / 2


def joint_loss(model, batch, lambda_ner=1.0, lambda_qa=1.0):
    """batch: dict with ids, types, mask, ner_labels, qa_start, qa_end.
    Returns (total, l_ner, l_qa, hidden, ner_logits, qa_logits)."""
    h, ner, qa = model(batch["ids"], batch["types"], batch["mask"])
    l_ner = ner_loss(ner, batch["ner_labels"])
    l_qa = qa_loss(qa, batch["qa_start"], batch["qa_end"])
    return lambda_ner * l_ner + lambda_qa * l_qa, l_ner, l_qa, h, ner, qa


# ---------------------------------------------------------------------------
# Self-test against transformers' BertModel (same weights, same inputs).

def to_hf_state(model):
    """Map our parameters onto BertModel's state-dict names (fused qkv split
    into query/key/value)."""
    C = model.cfg.C
    sd = {"embeddings.word_embeddings.weight": model.wte.weight,
          "embeddings.position_embeddings.weight": model.wpe.weight,
          "embeddings.token_type_embeddings.weight": model.wtt.weight,
          "embeddings.LayerNorm.weight": model.emb_ln.weight,
          "embeddings.LayerNorm.bias": model.emb_ln.bias}
    for l, ly in enumerate(model.layers):
        pre = f"encoder.layer.{l}."
        for i, qkv in enumerate(("query", "key", "value")):
            sd[pre + f"attention.self.{qkv}.weight"] = ly.qkv.weight[i * C:(i + 1) * C]
            sd[pre + f"attention.self.{qkv}.bias"] = ly.qkv.bias[i * C:(i + 1) * C]
        for hf, mod in (("attention.output.dense", ly.out), ("attention.output.LayerNorm", ly.ln1),
                        ("intermediate.dense", ly.up), ("output.dense", ly.down),
                        ("output.LayerNorm", ly.ln2)):
            sd[pre + hf + ".weight"] = mod.weight
            sd[pre + hf + ".bias"] = mod.bias
    return {k: v.detach().clone() for k, v in sd.items()}


def hf_bert(cfg, attn_impl="eager"):
    """transformers' BertModel built from a config (no download), no pooler."""
    from transformers import BertConfig, BertModel
    hc = BertConfig(vocab_size=cfg.V, hidden_size=cfg.C, num_hidden_layers=cfg.L,
                    num_attention_heads=cfg.NH, intermediate_size=cfg.FFN,
                    max_position_embeddings=cfg.maxT, type_vocab_size=cfg.type_vocab,
                    hidden_act="gelu", layer_norm_eps=cfg.ln_eps,
                    hidden_dropout_prob=cfg.p_drop, attention_probs_dropout_prob=cfg.p_drop,
                    initializer_range=cfg.init_std)
    if attn_impl is not None:  # None: transformers' default (sdpa when available)
        hc._attn_implementation = attn_impl
    return BertModel(hc, add_pooling_layer=False)


def perturb_(model, scale, gen):
    """Add small random values to biases and LayerNorm parameters (so that
    their gradients are exercised and a wrong mapping would show)."""
    with torch.no_grad():
        for _, p in model.named_params_ds():
            if p.dim() == 1:
                p.add_(scale * torch.randn(p.shape, generator=gen))


def check_hf(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    cfg = Config()
    model = MtlBert(cfg).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    perturb_(model, 0.1, gen)
    model.to(dtype)
    hf = hf_bert(cfg).to(dtype).eval()
    missing, unexpected = hf.load_state_dict(to_hf_state(model), strict=False)
    missing = [k for k in missing if "position_ids" not in k and "token_type_ids" not in k]
    assert not missing and not unexpected, (missing, unexpected)
    B, T = 4, 32
    lens = [32, 27, 19, 9]
    ids = torch.randint(0, cfg.V, (B, T), generator=gen)
    types = torch.randint(0, 2, (B, T), generator=gen)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
    with torch.no_grad():
        ours = model.encode(ids, types, mask)
        theirs = hf(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
    real = mask.bool()
    diff_real = (ours - theirs)[real].abs().max().item()
    diff_all = (ours - theirs).abs().max().item()
    print(f"check-hf: encoder output max |ours - BertModel| = {diff_real:.3e} over real tokens, "
          f"{diff_all:.3e} over all positions (B={B} T={T} L={cfg.L} C={cfg.C}, {dtype})")
    return diff_real, diff_all


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-hf", action="store_true",
                    help="compare encoder outputs with transformers' BertModel")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    if args.check_hf:
        d, _ = check_hf()
        d64, _ = check_hf(dtype=torch.float64)
        if d > args.tol or d64 > 1e-12:
            raise SystemExit(f"check-hf FAILED: {d:.3e} (float32, tol {args.tol:.1e}), "
                             f"{d64:.3e} (float64, tol 1e-12)")
        print("check-hf OK")
    else:
        ap.print_help()


if __name__ == "__main__":
    main()
