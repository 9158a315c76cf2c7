#!/usr/bin/python3
# Copy a GGUF file, adding a synthetic 32000-token SentencePiece ("llama") vocabulary, so that
# llama.cpp's llama_model_load (llama-bench) accepts a vocabulary-less file written by
# `detinfer init`. Tensor data and all other keys are copied unchanged.
# Usage: LLAMA_CPP=<llama.cpp tree> /usr/bin/python3 add_vocab.py IN.gguf OUT.gguf
# (llama.cpp's own gguf-py writes the file.)
import os
import sys
sys.path.insert(0, os.path.join(os.environ["LLAMA_CPP"], "gguf-py"))
import gguf

src, dst = sys.argv[1], sys.argv[2]
r = gguf.GGUFReader(src)
arch = r.get_field("general.architecture").contents()
n_vocab = None
for t in r.tensors:
    if t.name == "token_embd.weight":
        n_vocab = int(t.shape[1]) if len(t.shape) > 1 else None
assert n_vocab, "no token_embd.weight"
w = gguf.GGUFWriter(dst, arch, endianess=r.endianess)
for f in r.fields.values():
    if f.name == "general.architecture" or f.name.startswith("GGUF.") or f.name.startswith("tokenizer."):
        continue
    vt = f.types[0]
    st = f.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(f.name, f.contents(), vt, sub_type=st)
toks, scores, types = [], [], []
for i in range(n_vocab):
    if i == 0:   toks.append("<unk>"); types.append(gguf.TokenType.UNKNOWN)
    elif i == 1: toks.append("<s>");   types.append(gguf.TokenType.CONTROL)
    elif i == 2: toks.append("</s>");  types.append(gguf.TokenType.CONTROL)
    elif i < 259: toks.append("<0x%02X>" % (i - 3)); types.append(gguf.TokenType.BYTE)
    else: toks.append("\u2581t%d" % i); types.append(gguf.TokenType.NORMAL)
    scores.append(-float(i))
w.add_tokenizer_model("llama")
w.add_token_list(toks)
w.add_token_scores(scores)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
for t in r.tensors:
    w.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
for t in r.tensors:
    w.write_tensor_data(t.data, tensor_endianess=r.endianess)
w.close()
print("wrote", dst, "n_vocab", n_vocab)
