/* safetensors.h — read and write Hugging Face's safetensors files.
 *
 * Format (https://huggingface.co/docs/safetensors, little-endian):
 *   u64 N          length of the header in bytes
 *   N bytes        a JSON object: "NAME": {"dtype": "F32", "shape": [d0, ...],
 *                  "data_offsets": [BEGIN, END]} per tensor, and optionally
 *                  "__metadata__": {string: string}; may be padded with spaces
 *   data           the byte buffer; BEGIN/END are relative to its start
 *
 * The reader trusts nothing: the header length must fit the file, the JSON
 * must be one object of well-formed entries, every shape product times the
 * dtype size must equal END - BEGIN without overflow, END must lie inside the
 * buffer, tensors may neither overlap nor share a name, and the buffer may
 * hold no bytes that no tensor covers (the format's own rule). Each failure
 * is an Err naming the file, the tensor and the byte offset or key.
 *
 * Contract of every int function: returns 0 on success, -1 with err filled. */
#ifndef MTL_SAFETENSORS_H
#define MTL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20) /* 100 MiB, the reference library's limit */

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_OTHER } StDtype;

typedef struct {
    char *name;
    StDtype dtype;
    char dtype_name[16]; /* as written in the file */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t begin, end;   /* byte range inside the data buffer */
} StTensor;

typedef struct {
    char path[1024];     /* for messages ("<memory>" when parsed from a buffer) */
    const uint8_t *data; /* the data buffer (after the header) */
    size_t data_len;
    uint8_t *owned;      /* the whole file when read by st_open, else NULL */
    StTensor *t;         /* in the file's header order */
    int n;
} SafeTensors;

/* Parse a whole file image (not copied: buf must outlive st). */
int st_parse(const uint8_t *buf, size_t len, const char *name, SafeTensors *st, Err *err);
/* Read path into memory and parse it. */
int st_open(const char *path, SafeTensors *st, Err *err);
void st_close(SafeTensors *st);

const StTensor *st_find(const SafeTensors *st, const char *name); /* NULL if absent */
/* Bytes per element of a dtype (0 for ST_OTHER). */
size_t st_dtype_size(StDtype d);

/* Convert a F32/F16/BF16 tensor to float32 (numel floats into dst). Other
 * dtypes are an error naming the tensor and its dtype. */
int st_read_f32(const SafeTensors *st, const StTensor *t, float *dst, Err *err);

/* One float32 tensor to write. */
typedef struct {
    const char *name;
    const float *data;
    int ndim;
    int64_t shape[2];
} StOut;

/* Write n float32 tensors (in the given order, header padded to a multiple
 * of 8 bytes) and "__metadata__": {"format": "pt"} atomically to path. */
int st_write_f32(const char *path, const StOut *t, int n, Err *err);

/* A growing list of float32 tensors that owns their buffers (for dumps). */
typedef struct {
    StOut *t;
    char (*name)[64];
    float **buf;
    int n, cap;
} StList;

/* Append a [rows] (cols == 0) or [rows, cols] tensor named name; returns its
 * buffer (uninitialised) to fill. */
float *st_list_add(StList *l, const char *name, int rows, int cols);
/* Append a copy of n ints as F32 (exact for |v| < 2^24). */
void st_list_add_ints(StList *l, const char *name, const int *v, int n);
int st_list_write(StList *l, const char *path, Err *err);
void st_list_free(StList *l);

#endif
