"""fairseq's special-token ids, used by every token-based task and model.

Dictionary indices: `<s>` 0 (bos), `<pad>` 1, `</s>` 2 (eos), `<unk>` 3, then symbols.
"""
BOS, PAD, EOS, UNK = 0, 1, 2, 3
N_SPECIAL = 4
