#!/usr/bin/env bash
# Trains the two tiny SentencePiece models under tests/data/tokenizers/spm/ from train.txt there
# (Debian: apt-get install -y sentencepiece python3-sentencepiece; 0.1.97 made the committed
# files), then writes the expected ids and decodes with generate.py. The test suite only reads
# the committed results; it needs neither tool.
#   bpe.model      Llama-2 style: BPE, byte fallback, digits split, no normalization
#   unigram.model  T5 style: Unigram, nmt_nfkc normalization, pad 0 / eos 1 / unk 2, no BOS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../tests/data/tokenizers/spm"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Trained in the temporary directory with relative names: the model stores its trainer
# arguments, so regenerating gives byte-identical files.
cp train.txt "$tmp/"
# One thread: the trainers are then deterministic for a given input. BPE: vocabulary 600 and
# character coverage 0.98 (the lowest spm_train takes), so rare characters (most CJK here) are
# left to byte fallback; "<|user|>" is a user-defined piece. Unigram keeps nmt_nfkc, whose
# precompiled character map is most of its 240 KB.
(cd "$tmp" && spm_train --input=train.txt --model_prefix=bpe --model_type=bpe --vocab_size=600 \
  --byte_fallback=true --split_digits=true --normalization_rule_name=identity \
  --add_dummy_prefix=true --remove_extra_whitespaces=false --user_defined_symbols="<|user|>" \
  --character_coverage=0.98 --num_threads=1 --minloglevel=2)
(cd "$tmp" && spm_train --input=train.txt --model_prefix=unigram --model_type=unigram \
  --vocab_size=300 \
  --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --character_coverage=1.0 \
  --num_threads=1 --minloglevel=2)
cp "$tmp/bpe.model" "$tmp/unigram.model" .
# Debian's python3-sentencepiece is installed for /usr/bin/python3.
/usr/bin/python3 "$here/generate.py" .
