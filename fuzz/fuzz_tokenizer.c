/* fuzz_tokenizer.c — libFuzzer target for wordpiece_tokenize and vocab_load.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -Iimpl fuzz/fuzz_tokenizer.c impl/data/tokenizer.c impl/base/util.c impl/base/paths.c \
 *     -lutf8proc -lz -lm -o build/fuzz_tokenizer
 *   build/fuzz_tokenizer -max_total_time=60
 *
 * The first input byte picks the mode: even -> the rest is text tokenized with
 * the bert-base-uncased vocab (found like `mtl tokenize` does; a small
 * built-in vocab otherwise); odd -> the rest is a vocab file: if it loads, a
 * fixed sentence and the input itself are tokenized with it. Every token must
 * satisfy the span invariants checked in check_tokens (abort otherwise). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "tokenizer.h"

static Vocab *fuzz_vocab; /* loaded once by LLVMFuzzerInitialize */

static const char SMALL_VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nun\n##aff\n##able\n"
                                  "a\n##b\n,\n.\n'\n##s\né\n中\nᄒ\n##ᅡ\n";

static Vocab *load_from_bytes(const uint8_t *data, size_t size) {
    char path[] = "/tmp/fuzz_vocab_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    close(fd);
    Err err;
    Vocab *v = vocab_load(path, &err);
    unlink(path);
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char vpath[4096];
    Err err;
    if (vocab_path(vpath, sizeof vpath, &err) == 0) fuzz_vocab = vocab_load(vpath, &err);
    if (!fuzz_vocab)
        fuzz_vocab = load_from_bytes((const uint8_t *)SMALL_VOCAB, sizeof SMALL_VOCAB - 1);
    if (!fuzz_vocab) abort();
    return 0;
}

/* Spans lie inside the text, are non-empty, start on UTF-8 boundaries, never
 * go backwards, and word indices count up from 0 by at most 1. */
static void check_tokens(const Vocab *v, const WpTokens *t, const uint8_t *s, size_t len) {
    int prev_start = 0, prev_word = -1;
    for (int k = 0; k < t->n; k++) {
        const WpToken *x = &t->tok[k];
        if (x->id < 0 || x->id >= vocab_size(v)) abort();
        if (x->start < prev_start || x->start >= x->end || (size_t)x->end > len) abort();
        if (x->cstart >= x->cend || x->cstart > x->start || x->cend > x->end) abort();
        if ((s[x->start] & 0xC0) == 0x80 || ((size_t)x->end < len && (s[x->end] & 0xC0) == 0x80)) abort();
        if (x->word < prev_word || x->word > prev_word + 1) abort();
        prev_start = x->start;
        prev_word = x->word;
    }
}

static void tokenize_and_check(const Vocab *v, const uint8_t *s, size_t len) {
    WpTokens t = {0};
    Err err;
    if (wordpiece_tokenize(v, (const char *)s, len, &t, &err) == 0)
        check_tokens(v, &t, s, len);
    else if (t.n != 0)
        abort(); /* a rejected text must not leave tokens behind */
    wptokens_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if ((data[0] & 1) == 0) {
        tokenize_and_check(fuzz_vocab, data + 1, size - 1);
        return 0;
    }
    Vocab *v = load_from_bytes(data + 1, size - 1);
    if (!v) return 0;
    static const char sentence[] = "The unaffable [SEP] café, 中文 한국어 straße!";
    tokenize_and_check(v, (const uint8_t *)sentence, sizeof sentence - 1);
    tokenize_and_check(v, data + 1, size - 1);
    vocab_free(v);
    return 0;
}
