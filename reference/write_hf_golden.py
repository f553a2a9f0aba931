"""reference/write_hf_golden.py — tiny Hugging Face BERT checkpoints written by transformers
itself, and their outputs, for tests/test_hf_golden.c (which needs no torch).

    python3 reference/write_hf_golden.py [--out tests/fixtures/hf_golden]

Writes, under --out:
  ner/   BertForTokenClassification.save_pretrained (names "bert.*" + classifier.*,
         id2label in a shuffled order, so the C loader's row permutation is exercised)
  qa/    BertForQuestionAnswering with the same encoder (qa_outputs.*)
  bare/  BertModel.save_pretrained of that encoder (names without "bert.", no heads)
  each with vocab.txt (48 tokens) and tokenizer_config.json;
  golden.safetensors: in.ids, in.types, in.mask [B,T] (F32, exact), out.hidden [B,T,C],
  out.ner_logits [B,T,9] with the labels in CoNLL order (O, B-PER, I-PER, B-LOC, I-LOC,
  B-ORG, I-ORG, B-MISC, I-MISC), out.qa_logits [B,T,2] (start, end).
Biases and LayerNorm parameters are perturbed (0.05 N(0,1)) so that a wrong mapping of
any of them shows. Deterministic for a given torch build (seed 0, float32, CPU).
"""
import argparse
import json
import os

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import BertConfig, BertForQuestionAnswering, BertForTokenClassification, BertModel

CONLL = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
FILE_ORDER = ["B-MISC", "O", "I-LOC", "B-PER", "I-ORG", "B-LOC", "I-MISC", "B-ORG", "I-PER"]


def write_tokenizer(d, vocab):
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": 16}, f)


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/hf_golden")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(43)]
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=32, max_position_embeddings=16, type_vocab_size=2,
                     id2label={i: l for i, l in enumerate(FILE_ORDER)},
                     label2id={l: i for i, l in enumerate(FILE_ORDER)})
    ner = BertForTokenClassification(cfg).eval()
    perturb(ner, gen)
    qa = BertForQuestionAnswering(BertConfig(**{k: v for k, v in cfg.to_dict().items()
                                                if k not in ("id2label", "label2id")})).eval()
    qa.bert.load_state_dict(ner.bert.state_dict())
    with torch.no_grad():
        qa.qa_outputs.bias.add_(0.05 * torch.randn(2, generator=gen))
    bare = BertModel(qa.config, add_pooling_layer=False).eval()
    bare.load_state_dict(ner.bert.state_dict())
    for name, m in (("ner", ner), ("qa", qa), ("bare", bare)):
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        m.save_pretrained(d, safe_serialization=True)
        write_tokenizer(d, vocab)

    B, T = 2, 10
    ids = torch.randint(5, len(vocab), (B, T), generator=gen)
    ids[:, 0] = 2
    ids[0, 4] = ids[0, 9] = 3
    ids[1, 3] = ids[1, 6] = 3
    types = torch.zeros(B, T, dtype=torch.long)
    types[0, 5:] = 1
    types[1, 4:7] = 1
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 7:] = 0
    ids[1, 7:] = 0
    types[1, 7:] = 0
    with torch.no_grad():
        kw = dict(input_ids=ids, token_type_ids=types, attention_mask=mask)
        hidden = bare(**kw).last_hidden_state
        ner_logits = ner(**kw).logits
        q = qa(**kw)
    perm = [FILE_ORDER.index(l) for l in CONLL]
    f32 = lambda t: t.detach().numpy().astype(np.float32)
    save_file({"in.ids": f32(ids.float()), "in.types": f32(types.float()), "in.mask": f32(mask.float()),
               "out.hidden": f32(hidden), "out.ner_logits": f32(ner_logits[..., perm]),
               "out.qa_logits": f32(torch.stack([q.start_logits, q.end_logits], -1))},
              os.path.join(args.out, "golden.safetensors"))
    print(f"wrote {args.out}: ner/ qa/ bare/ golden.safetensors (B {B}, T {T}, C {cfg.hidden_size})")


if __name__ == "__main__":
    main()
