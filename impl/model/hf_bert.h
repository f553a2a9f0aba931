/* hf_bert.h — Hugging Face BERT checkpoints in and out.
 *
 * In: a directory with config.json (BertModel / BertFor* of model_type
 * "bert"), model.safetensors and vocab.txt (tokenizer_config.json optional:
 * do_lower_case, strip_accents). The model config is built from config.json,
 * never from a preset. Name map (an optional "bert." prefix on the encoder):
 *
 *   embeddings.{word,position,token_type}_embeddings.weight -> emb.{word,pos,type}
 *   embeddings.LayerNorm.{weight,bias} (or gamma/beta)       -> emb.ln.{w,b}
 *   encoder.layer.L.attention.self.{query,key,value}.X       -> layerL.attn.qkv.X
 *        (rows [0,C) query, [C,2C) key, [2C,3C) value: the fused projection)
 *   encoder.layer.L.attention.output.dense.X                 -> layerL.attn.out.X
 *   encoder.layer.L.attention.output.LayerNorm.X             -> layerL.ln1.X
 *   encoder.layer.L.intermediate.dense.X                     -> layerL.ffn.up.X
 *   encoder.layer.L.output.dense.X                           -> layerL.ffn.down.X
 *   encoder.layer.L.output.LayerNorm.X                       -> layerL.ln2.X
 *   classifier.{weight,bias}                                 -> ner.{w,b}
 *        (when the labels of id2label are our 9 IOB2 labels, rows permuted)
 *   qa_outputs.{weight,bias}                                 -> qa.{w,b}  (shape [2,C])
 *
 * Every encoder tensor must be present with its exact shape; pooler.*,
 * cls.* (MLM / NSP heads), embeddings.position_ids and any other tensor are
 * ignored and listed; a head that does not fit keeps its random init. Every
 * value taken (encoder and heads) must be finite: a NaN / Inf is an error
 * naming the file, the tensor and the element.
 *
 * Out: hf_export writes BertForTokenClassification / BertForQuestionAnswering
 * directories that transformers' from_pretrained loads with no missing or
 * unexpected weights.
 *
 * Contract of every int function: returns 0 on success, -1 with err filled. */
#ifndef MTL_HF_BERT_H
#define MTL_HF_BERT_H

#include "config.h"
#include "model.h"
#include "tokenizer.h"
#include "util.h"

#define HF_WEIGHTS_SHORT "minilm-l6" /* `--init minilm-l6`: weights/minilm-l6 under the data dirs */

typedef struct {
    char dir[1024];
    int lower;          /* tokenizer_config.json do_lower_case (default 1) */
    int strip_accents;  /* 1, 0, or -1 = as lower (HF's None, the default) */
    int n_labels;       /* id2label entries (0 if absent) */
    char labels[32][24]; /* id2label, by id */
} HfInfo;

/* Is `init` a Hugging Face checkpoint? A directory holding config.json, or the
 * short name HF_WEIGHTS_SHORT (resolved through paths.h's data dirs). Writes
 * the directory into dir and returns 1; returns 0 when init is something else
 * (a checkpoint.bin); -1 with err when the short name is not installed. */
int hf_resolve(const char *init, char *dir, size_t n, Err *err);

/* config.json (+ tokenizer_config.json) of dir into cfg (preset "hf",
 * heads = HEAD_NER | HEAD_QA, num_labels NER_NUM_LABELS) and info. */
int hf_read_config(const char *dir, ModelConfig *cfg, HfInfo *info, Err *err);

/* Only dir/tokenizer_config.json (absent: uncased): info->lower and
 * info->strip_accents. */
int hf_read_tokenizer_config(const char *dir, HfInfo *info, Err *err);

/* What hf_load_weights did. */
typedef struct {
    int encoder_tensors;   /* model tensors filled from the file */
    int ner_head, qa_head; /* 1 if the head came from the file */
    char ignored[2048];    /* file tensors not used, comma-separated (shortened) */
    int n_ignored;
    char head_note[512];   /* why a head present in the file was not taken */
} HfLoadReport;

/* Fill m's encoder (and heads when they fit) from dir/model.safetensors.
 * m must have been created from hf_read_config's cfg (heads may be a
 * subset). On error m is unchanged. */
int hf_load_weights(const HfInfo *info, Model *m, HfLoadReport *rep, Err *err);

/* Write out_dir/{config.json, model.safetensors, vocab.txt,
 * tokenizer_config.json} for one task head of m: TASK_NER as
 * BertForTokenClassification (id2label = CONLL_LABELS), TASK_QA as
 * BertForQuestionAnswering. vocab_path is copied; lower / strip_accents go
 * to tokenizer_config.json. */
int hf_export_task(const Model *m, int task, const char *vocab_path, int lower, int strip_accents,
                   const char *out_dir, Err *err);

/* vocab.txt (a copy of vocab_path) and tokenizer_config.json into out_dir
 * (a run directory keeps them too, so that it can be exported later). */
int hf_write_tokenizer_files(const char *out_dir, const char *vocab_path, int lower,
                             int strip_accents, int maxT, Err *err);

#endif
