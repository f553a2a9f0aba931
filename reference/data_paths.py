"""data_paths.py — where the data and the vocab are, found as build/mtl finds
them (impl/base/paths.c) and as bench/data_check.sh's find_data does for the shell
scripts: a path relative to a datasets directory is looked up in $DATASETS_DIR,
then datasets/data/, then ../shared/datasets/ (relative to the working
directory, the repository's root for every script here), each also with .gz;
the vocab is $MTL_VOCAB, else datasets/data/vocab/ or ../shared/vocab/.
Standard library only.
"""
import os
import sys

VOCAB_NAME = "bert-base-uncased-vocab.txt"


def data_dirs():
    """The datasets directories, in search order."""
    return [d for d in (os.environ.get("DATASETS_DIR"), "datasets/data", "../shared/datasets") if d]


def find_data(rel, required=True):
    """The first existing datasets-dir/rel (or rel.gz); when none exists, exit
    naming the search path (required) or return None."""
    for root in data_dirs():
        for name in (rel, rel + ".gz"):
            if os.path.isfile(os.path.join(root, name)):
                return os.path.join(root, name)
    if required:
        sys.exit("%s not found (DATASETS_DIR, datasets/data, ../shared/datasets)" % rel)
    return None


def find_vocab():
    """$MTL_VOCAB when set, else the first of datasets/data/vocab/ and
    ../shared/vocab/ that holds the vocab (the latter when neither does)."""
    if os.environ.get("MTL_VOCAB"):
        return os.environ["MTL_VOCAB"]
    for d in ("datasets/data/vocab", "../shared/vocab"):
        if os.path.isfile(os.path.join(d, VOCAB_NAME)):
            return os.path.join(d, VOCAB_NAME)
    return os.path.join("../shared/vocab", VOCAB_NAME)
